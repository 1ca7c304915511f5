"""The signed-in person's own page: ideas, votes and settings."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import Idea, Vote
from portal.operations import ValidationError
from portal.operations.accounts import EMAIL_PREFERENCES, set_email_preference

bp = Blueprint("account", __name__)


@bp.get("/me")
@login_required
def profile():
    ideas = db.session.scalars(
        db.select(Idea)
        .filter_by(author_id=current_user.id, is_deleted=False)
        .order_by(Idea.created_at.desc())
        .limit(50)
    ).all()
    votes = db.session.scalars(
        db.select(Vote)
        .options(joinedload(Vote.idea).joinedload(Idea.board))
        .filter_by(user_id=current_user.id)
        .order_by(Vote.created_at.desc())
        .limit(50)
    ).all()
    return render_template(
        "account/profile.html", ideas=ideas, votes=votes, preferences=EMAIL_PREFERENCES
    )


@bp.post("/me/email-preference")
@login_required
def email_preference():
    try:
        set_email_preference(current_user, request.form.get("email_preference"))
        db.session.commit()
        flash("Your email settings are saved.", "success")
    except ValidationError as invalid:
        flash(invalid.fields["email_preference"], "error")
    return redirect(url_for("account.profile"), code=303)
