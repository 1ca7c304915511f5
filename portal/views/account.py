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
from sqlalchemy.orm import contains_eager

from portal import totp
from portal.auth_loader import sign_out
from portal.database import all_or_nothing
from portal.exports import personal_data
from portal.extensions import csrf, db
from portal.forms import (
    DeleteAccountForm,
    PasswordChangeForm,
    ProofForm,
    RemovePasswordForm,
    TwoFactorSetupForm,
    show_errors,
)
from portal.i18n import gettext as _
from portal.i18n import ngettext
from portal.models import Board, Idea, Notification, Vote, utcnow
from portal.notifications import read_unsubscribe_token, visible_notices
from portal.operations import OperationError, ValidationError, accounts, sessions
from portal.operations import two_factor as second_factor  # two_factor names a page here
from portal.operations.accounts import EMAIL_FREQUENCIES, EMAIL_PREFERENCES, set_email_preference
from portal.operations.sessions import device_label
from portal.operations.sign_in_methods import (
    link_label,
    remove_password,
    remove_sign_in_link,
    sign_in_methods,
)
from portal.operations.subscriptions import set_subscription
from portal.operations.tokens import active_tokens, create_token, revoke_token
from portal.settings import site_settings
from portal.views.guesses import own_account_limit, second_factor_limit

NOTICES_SHOWN = 50

bp = Blueprint("account", __name__)


@bp.get("/me")
@login_required
def profile():
    # Only what the person may see now (Idea.can_view): their held idea stays, their own
    # hidden one leaves the list as it left the site for them (the moderation notice says
    # why; the data export keeps their words); a board made private takes its ideas along.
    ideas = db.session.scalars(
        db.select(Idea)
        .join(Board, Board.id == Idea.board_id)
        .filter_by(author_id=current_user.id, is_deleted=False)
        .where(Idea.visible_clause(current_user))
        .order_by(Idea.created_at.desc())
        .limit(50)
    ).all()
    votes = db.session.scalars(
        db.select(Vote)
        .join(Idea, Idea.id == Vote.idea_id)
        .join(Board, Board.id == Idea.board_id)
        .options(contains_eager(Vote.idea).contains_eager(Idea.board))
        .where(Vote.user_id == current_user.id, Idea.visible_clause(current_user))
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
        sessions=sessions.active_sessions(current_user),
        is_current=lambda row: sessions.is_current_session(current_user, row),
        device_label=device_label,
        methods=sign_in_methods(current_user),
        link_label=link_label,
    )


@bp.route("/me/password", methods=["GET", "POST"])
@login_required
@own_account_limit("signin", wrong_answers_only=True)
def password():
    if not accounts.password_allowed(current_user):  # the admins' sign-in mode
        abort(403)
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                accounts.change_password(
                    current_user, form.current_password.data, form.new_password.data
                )
        except ValidationError as invalid:
            show_errors(form, invalid)
        else:
            flash(_("Your password is changed, and your other sessions are signed out."), "success")
            return redirect(url_for("account.profile") + "#security", code=303)
    return render_template("account/password.html", form=form), 422 if form.errors else 200


WAYS_IN = "#ways-in"  # the /me section of the ways to sign in


@bp.route("/me/password/remove", methods=["GET", "POST"])
@login_required
@own_account_limit("signin", wrong_answers_only=True)  # a wrong current password is a guess
def remove_password_page():
    form = RemovePasswordForm()
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                remove_password(current_user, form.current_password.data)
        except ValidationError as invalid:
            show_errors(form, invalid)
        except OperationError as refused:
            flash(refused.message, "error")
            return redirect(url_for("account.profile") + WAYS_IN, code=303)
        else:
            flash(_("Your password is removed, and your other sessions are signed out."),
                  "success")  # fmt: skip
            return redirect(url_for("account.profile") + WAYS_IN, code=303)
    methods = sign_in_methods(current_user)
    page = render_template("account/remove_password.html", form=form, methods=methods)
    return page, 422 if form.errors else 200


@bp.post("/me/sign-in-links/<int:link_id>/remove")
@login_required
def remove_link(link_id):
    try:
        with all_or_nothing():
            link = remove_sign_in_link(current_user, link_id)
    except OperationError as refused:
        if refused.status_code == 404:
            abort(404)
        flash(refused.message, "error")
    else:
        label = link_label(link, site_settings()["site_name"])
        flash(_("%(label)s is no longer linked to your account.", label=label), "success")
    return redirect(url_for("account.profile") + WAYS_IN, code=303)


@bp.route("/me/delete", methods=["GET", "POST"])
@login_required
@own_account_limit("signin", wrong_answers_only=True)
def delete_account():
    form = DeleteAccountForm()
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                proof = form.password.data if current_user.has_password else form.email.data
                withdrawn = accounts.delete_account(current_user, proof)
        except ValidationError as invalid:
            show_errors(form, invalid)
        except OperationError as refused:
            flash(str(refused), "error")
        else:
            sign_out()
            goodbye = ngettext(
                "Your account is deleted, and %(num)d vote taken back. Goodbye.",
                "Your account is deleted, and %(num)d votes taken back. Goodbye.",
                withdrawn,
            )
            flash(goodbye, "info")
            return redirect(url_for("public.index"), code=303)
    status = 422 if form.errors or request.method == "POST" else 200
    return render_template("account/delete.html", form=form), status


@bp.post("/me/sessions/<int:session_id>/end")
@login_required
def end_session(session_id):
    try:
        row = sessions.end_session(current_user, session_id)
    except OperationError:
        abort(404)
    if sessions.is_current_session(current_user, row):
        sign_out()
        flash(_("You are signed out."), "info")
        return redirect(url_for("public.index"), code=303)
    flash(_("%(device)s is signed out.", device=device_label(row.device)), "success")
    return redirect(url_for("account.profile") + "#sessions", code=303)


@bp.post("/me/sessions/end-others")
@login_required
def end_other_sessions():
    sessions.end_other_sessions(current_user, keep_token=current_user.session_token)
    flash(_("You are signed out everywhere else."), "success")
    return redirect(url_for("account.profile") + "#sessions", code=303)


def _two_factor_page(status: int = 200, proof_form=None):
    """The page of someone who has two-factor sign-in: turn it off, or new recovery codes."""
    codes_left = second_factor.recovery_codes_left(current_user)
    return render_template("account/two_factor.html", proof_form=proof_form or ProofForm(),
                           codes_left=codes_left), status  # fmt: skip


def _show_recovery_codes(codes: list[str]):
    """Recovery codes on this answer only: they are stored hashed and never shown again."""
    response = make_response(render_template("account/recovery_codes.html", codes=codes))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/me/two-factor", methods=["GET", "POST"])
@login_required
def two_factor():
    """Set up two-factor sign-in: a new secret on each visit, on once a code proves it."""
    if current_user.has_two_factor:
        return _two_factor_page()
    form = TwoFactorSetupForm()
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                codes = second_factor.enable_two_factor(
                    current_user, form.secret.data, form.code.data
                )
        except ValidationError as invalid:
            show_errors(form, invalid)
        except OperationError as refused:
            flash(refused.message, "error")
            return redirect(url_for("account.two_factor"), code=303)
        else:
            flash(_("Two-factor sign-in is on."), "success")
            return _show_recovery_codes(codes)
    if request.method == "GET":
        form.secret.data = totp.new_secret()
    uri = totp.provisioning_uri(form.secret.data, current_user.email, site_settings()["site_name"])
    page = render_template("account/two_factor_setup.html", form=form, secret=form.secret.data,
                           qr=totp.qr_data_uri(uri),
                           required=second_factor.must_set_up_two_factor(current_user))  # fmt: skip
    return page, 422 if form.errors else 200


@bp.post("/me/two-factor/disable")
@login_required
@second_factor_limit
def disable_two_factor():
    form = ProofForm()
    try:
        with all_or_nothing():
            second_factor.disable_two_factor(current_user, form.proof.data)
    except OperationError as refused:
        return _proof_refused(form, refused)
    flash(_("Two-factor sign-in is off."), "success")
    return redirect(url_for("account.profile") + "#security", code=303)


@bp.post("/me/two-factor/recovery-codes")
@login_required
@second_factor_limit
def recovery_codes():
    form = ProofForm()
    try:
        with all_or_nothing():
            codes = second_factor.replace_recovery_codes(current_user, form.proof.data)
    except OperationError as refused:
        return _proof_refused(form, refused)
    flash(_("Here are your new recovery codes: the old ones no longer work."), "success")
    return _show_recovery_codes(codes)


def _proof_refused(form, refused: OperationError):
    if isinstance(refused, ValidationError):
        show_errors(form, refused)
        return _two_factor_page(422, form)
    flash(refused.message, "error")
    return redirect(url_for("account.profile") + "#security", code=303)


@bp.post("/me/tokens")
@login_required
def make_token():
    """Show a new API token once, on this answer only: it is never stored or shown again."""
    try:
        with all_or_nothing():
            row, token = create_token(current_user, request.form.get("name", ""))
    except OperationError as refused:
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
    flash(_("The token “%(name)s” is revoked: it no longer works.", name=row.name), "success")
    return redirect(url_for("account.profile") + "#api-tokens", code=303)


@bp.post("/me/email-preference")
@login_required
def email_preference():
    try:
        with all_or_nothing():
            set_email_preference(
                current_user,
                request.form.get("email_preference"),
                request.form.get("email_frequency"),
            )
        flash(_("Your email settings are saved."), "success")
    except ValidationError as invalid:
        flash(" ".join(invalid.fields.values()), "error")
    return redirect(url_for("account.profile"), code=303)


@bp.get("/notifications")
@login_required
def notifications():
    notices = db.session.scalars(
        visible_notices(current_user)
        .options(contains_eager(Notification.idea))
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
