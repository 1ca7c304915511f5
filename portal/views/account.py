"""The signed-in person's own page: ideas, votes and settings."""

import json

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from portal.exports import personal_data
from portal.extensions import csrf, db
from portal.models import Idea, Notification, Vote, utcnow
from portal.notifications import read_unsubscribe_token
from portal.operations import OperationError, ValidationError
from portal.operations.accounts import (
    EMAIL_FREQUENCIES,
    EMAIL_PREFERENCES,
    set_email_preference,
)
from portal.operations.subscriptions import set_subscription
from portal.operations.tokens import active_tokens, create_token, revoke_token

NOTICES_SHOWN = 50

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
        "account/profile.html",
        ideas=ideas,
        votes=votes,
        preferences=EMAIL_PREFERENCES,
        frequencies=EMAIL_FREQUENCIES,
        tokens=active_tokens(current_user),
    )


@bp.post("/me/tokens")
@login_required
def make_token():
    """Show a new API token once, on this answer only: it is never stored or shown again."""
    try:
        row, token = create_token(current_user, request.form.get("name", ""))
        db.session.commit()
    except OperationError as refused:
        db.session.rollback()
        flash(refused.explanation, "error")
        return redirect(url_for("account.profile") + "#api-tokens", code=303)
    response = make_response(render_template("account/new_token.html", row=row, token=token))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/me/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id):
    try:
        row = revoke_token(current_user, token_id)
    except OperationError:
        abort(404)
    db.session.commit()
    flash(f"The token “{row.name}” is revoked: it no longer works.", "success")
    return redirect(url_for("account.profile") + "#api-tokens", code=303)


@bp.post("/me/email-preference")
@login_required
def email_preference():
    try:
        set_email_preference(
            current_user,
            request.form.get("email_preference"),
            request.form.get("email_frequency"),
        )
        db.session.commit()
        flash("Your email settings are saved.", "success")
    except ValidationError as invalid:
        flash(" ".join(invalid.fields.values()), "error")
    return redirect(url_for("account.profile"), code=303)


@bp.get("/notifications")
@login_required
def notifications():
    notices = db.session.scalars(
        db.select(Notification)
        .options(joinedload(Notification.idea))
        .filter_by(user_id=current_user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(NOTICES_SHOWN)
    ).all()
    return render_template("account/notifications.html", notices=notices)


@bp.post("/notifications/read")
@login_required
def mark_notifications_read():
    db.session.execute(
        db.update(Notification)
        .where(Notification.user_id == current_user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    db.session.commit()
    return redirect(url_for("account.notifications"), code=303)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the proof; mail clients post here without a form (RFC 8058)
def unsubscribe(token):
    """One click from an email stops mail about one idea, signed in or not.

    GET only asks: mail scanners open links, and must not unsubscribe anyone.
    """
    found = read_unsubscribe_token(token)
    if found is None:
        abort(404)
    user, idea = found
    if request.method == "POST":
        if idea is None:  # a digest's link: no more email at all
            set_email_preference(user, "none")
        else:
            set_subscription(user, idea, None)
        db.session.commit()
    return render_template(
        "account/unsubscribe.html", idea=idea, token=token, done=request.method == "POST"
    )


@bp.get("/account/export.json")
@login_required
def export_data():
    """The person's own data as a JSON download: what they wrote, voted, followed, flagged
    and were told."""
    response = make_response(json.dumps(personal_data(current_user), ensure_ascii=False, indent=2))
    response.mimetype = "application/json"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="my-data-{utcnow():%Y-%m-%d}.json"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response
