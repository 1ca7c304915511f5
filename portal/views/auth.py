"""Sign-up, email confirmation, sign-in (with its second factor, by an OpenID Connect
provider, by the company's signed sign-on, or by an operator's one-time link) and -out,
password reset; each password path follows the admins' sign-in mode
(accounts.password_allowed)."""

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from portal.auth_loader import (
    await_second_factor,
    load_signed_in_user,
    pending_sign_in,
    sign_in,
    sign_out,
)
from portal.database import all_or_nothing, begin_writing, keep_writes
from portal.forms import (
    ActionForm,
    ResetForm,
    ResetRequestForm,
    SecondFactorForm,
    SignInForm,
    SignUpForm,
    show_errors,
)
from portal.i18n import gettext as _
from portal.i18n import in_language_of
from portal.i18n import lazy_gettext as _l
from portal.models import Role
from portal.operations import OperationError, ValidationError
from portal.operations.accounts import (
    LINK_USED,
    PASSWORDS_OFF,
    authenticate,
    confirm_email,
    password_allowed,
    passwords_open_to,
    register_user,
    request_password_reset,
    reset_password,
    send_verification,
    valid_token,
)
from portal.operations.intents import (
    PROMISES,
    Outcome,
    carry_out_intent,
    move_intent_to,
    take_intent,
)
from portal.operations.openid_connect import (
    ProviderRefused,
    authorization_url,
    link_provider,
    provider_named,
    providers,
    signed_in_person,
)
from portal.operations.sign_in_modes import password_sign_in, use_sign_in_link
from portal.operations.single_sign_on import SignOnRefused, sign_on, sign_on_enabled
from portal.operations.two_factor import check_second_factor
from portal.views.guesses import (
    one_step_sign_in_limit,
    own_account_limit,
    second_factor_limit,
    visitor_form_limit,
)
from portal.views.helpers import safe_next
from portal.views.presses import INTENT, waiting_intent

bp = Blueprint("auth", __name__)
bp.before_app_request(load_signed_in_user)

CHECK_EMAIL = _l("Check your email: we sent you a link to confirm your address.")
# A refused password sign-in, by the sign-in mode: the same answer for a wrong password, an
# unknown address and a person whose role signs in by single sign-on only, so that the
# mode reveals neither passwords nor accounts.
NO_MATCH = {
    "everyone": _l("That email and password do not match an account."),
    "staff": _l(
        "That email and password do not match a staff account. Customers sign in by single "
        "sign-on: a button on this page, or the link in your company's app."
    ),
    "customers": _l(
        "That email and password do not match a customer account. Staff sign in by single "
        "sign-on: a button on this page."
    ),
    "nobody": _l(
        "Passwords are off on this site: sign in by single sign-on, with a button on this "
        "page or the link in your company's app."
    ),
}


@bp.route("/signup", methods=["GET", "POST"])
@visitor_form_limit("signup")
def signup():
    if not passwords_open_to(Role.CUSTOMER):  # newcomers arrive by single sign-on
        page = render_template("auth/signup_closed.html")
        return page, 403 if request.method == "POST" else 200
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                user = register_user(form.email.data, form.name.data, form.password.data)
                # The confirmation link carries it out, in whichever browser it is opened.
                move_intent_to(user, session.pop(INTENT, None))
        except ValidationError as invalid:
            show_errors(form, invalid)
        else:
            # No session yet: signing in here would tell a taken address from a new one.
            flash(str(CHECK_EMAIL), "info")
            return redirect(url_for("public.index"), code=303)
    page = render_template("auth/signup.html", form=form, next=safe_next(""), promise=promise())
    return page, 422 if form.errors else 200


def promise() -> str | None:
    """What signing in will do for the visitor: the intent they pressed, spelled out."""
    intent = waiting_intent()
    return str(PROMISES[intent.kind]) if intent is not None else None


@bp.get("/verify/<token>")
def verify(token):
    """Only asks: mail scanners open links, and opening one must not confirm anything."""
    row = valid_token(token, "verify")
    page = render_template("auth/verify.html", token=token, form=ActionForm(), valid=bool(row))
    return page, 200 if row else 404


@bp.post("/verify/<token>")
def confirm(token):
    """Confirming the address signs the person in (asking for their second factor if they
    have one) and carries out what they pressed before signing up."""
    try:
        with all_or_nothing():
            user = confirm_email(token)
    except OperationError as refused:
        flash(refused.message, "error")
        return redirect(url_for("public.index"), code=303)
    with in_language_of(user):
        welcome = _("Thanks, %(name)s: your email address is confirmed.", name=user.name)
    return _finish_sign_in(user, False, url_for("public.index"), welcome)


@bp.post("/verify/resend")
@login_required
@own_account_limit("reset")  # the same count as reset links mailed to that address
def resend_verification():
    if current_user.email_verified_at is None:
        send_verification(current_user)
    flash(str(CHECK_EMAIL), "info")
    return redirect(url_for("account.profile"), code=303)


def _finish_sign_in(user, remember: bool, target: str, welcome: str):
    """Every way of signing in ends here (password, sign-up confirmation, reset, signed
    sign-on, OpenID Connect): start the session, or first ask for the second factor when
    the account has one; then carry out what the person pressed before signing in."""
    if user.has_two_factor:
        key = session.get(INTENT)
        await_second_factor(user, remember, target)  # a new session: the key moves along
        if key:
            session[INTENT] = key
        # A 303 commits: a reset's new password stands even if no code comes.
        return redirect(url_for("auth.two_factor"), code=303)
    return _signed_in(user, remember, target, welcome)


def _signed_in(user, remember: bool, target: str, welcome: str):
    """Start user's session, then do what they pressed before signing in (the browser's
    intent, or the one waiting for their account) and go where it shows, else to target.
    A vote the rules refuse is said why; the sign-in stands either way."""
    key = session.get(INTENT)
    sign_in(user, remember)  # a new session, without the visitor's key
    flash(welcome, "success")
    intent = take_intent(user, key)
    if intent is None:
        return redirect(target, code=303)
    number = intent.idea_number
    keep_writes()  # the sign-in and the taken intent stand, whatever the intent meets
    try:
        with all_or_nothing():
            outcome = carry_out_intent(user, intent)
    except OperationError as refused:
        flash(refused.explanation, "error")
        return redirect(url_for("public.idea", number=number), code=303)
    flash(outcome.message, outcome.category)
    return redirect(_landing(outcome), code=303)


def _landing(outcome: Outcome) -> str:
    """The page an intent's outcome shows: the idea, or the form with the kept text."""
    if outcome.kind == "idea":
        return url_for("public.submit", slug=outcome.board_slug, draft=outcome.draft_id)
    if outcome.kind == "comment":
        return url_for("public.idea", number=outcome.idea_number, draft=outcome.draft_id,
                       _anchor="comments")  # fmt: skip
    if outcome.idea_number is None:
        return url_for("public.index")
    return url_for("public.idea", number=outcome.idea_number)


@bp.route("/signin", methods=["GET", "POST"])
@visitor_form_limit("signin", wrong_answers_per_account=True)
def signin():
    form = SignInForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            target = safe_next(url_for("public.index"))
            with in_language_of(user):  # the page after this one is in their language
                welcome = _("Welcome back, %(name)s.", name=user.name)
            return _finish_sign_in(user, form.remember.data, target, welcome)
        form.password.errors = [str(NO_MATCH[password_sign_in()])]
    status = 422 if form.errors else 200
    page = render_template("auth/signin.html", form=form, next=safe_next(""),
                           mode=password_sign_in(), sign_on=sign_on_enabled(),
                           providers=list(providers().values()), promise=promise())  # fmt: skip
    return page, status


OIDC_NEXT = "oidc_next"  # the session key of where to go after the provider's callback


@bp.get("/signin/oidc/<name>")
@one_step_sign_in_limit  # an unknown name, a provider that does not answer
def oidc_start(name):
    """Off to the provider's own sign-in page (SPEC section 12); a signed-in person comes
    back with the provider linked to their account."""
    provider = provider_named(name) or abort(404)
    callback = url_for("auth.oidc_callback", name=name, _external=True)
    try:
        target = authorization_url(provider, callback)
    except ProviderRefused as refused:
        return _oidc_refused(refused)
    session[OIDC_NEXT] = safe_next(url_for("public.index"))
    return redirect(target, code=303)


@bp.get("/signin/oidc/<name>/callback")
@one_step_sign_in_limit
def oidc_callback(name):
    provider = provider_named(name) or abort(404)
    target = session.pop(OIDC_NEXT, None) or url_for("public.index")
    begin_writing()  # a GET that writes: the account, its link, the session
    try:
        if current_user.is_authenticated:
            link_provider(current_user, provider)
            keep_writes()
            flash(
                _("%(label)s is linked: you can sign in with it.", label=provider.label), "success"
            )
            return redirect(url_for("account.profile"), code=303)
        user = signed_in_person(provider)
    except ProviderRefused as refused:  # the GET's transaction is never committed
        return _oidc_refused(refused)
    with in_language_of(user):
        welcome = _("Welcome, %(name)s.", name=user.name)
    response = _finish_sign_in(user, False, target, welcome)
    keep_writes()
    return response


def _oidc_refused(refused: ProviderRefused):
    page = render_template("auth/sign_in_refused.html", reason=refused.message)
    return page, refused.status_code


@bp.get("/signin/link/<token>")
def sign_in_link(token):
    """An operator's emergency link (`flask sign-in-link`): only asks, since mail scanners
    and chat previews open links too."""
    row = valid_token(token, "signin")
    page = render_template("auth/sign_in_link.html", token=token, form=ActionForm(),
                           valid=bool(row))  # fmt: skip
    return page, 200 if row else 404


@bp.post("/signin/link/<token>")
@one_step_sign_in_limit
def use_link(token):
    """Signs the link's person in once, whatever the sign-in mode (two-factor still asks)."""
    try:
        with all_or_nothing():
            user = use_sign_in_link(token)
    except OperationError:
        page = render_template("auth/sign_in_link.html", token=token, form=ActionForm(),
                               valid=False)  # fmt: skip
        return page, 404
    with in_language_of(user):
        welcome = _("Welcome back, %(name)s.", name=user.name)
    return _finish_sign_in(user, False, url_for("public.index"), welcome)


@bp.get("/sso")
@one_step_sign_in_limit
def single_sign_on():
    """The company's app sends a person here with a token it signed (SPEC section 12)."""
    if not sign_on_enabled():
        abort(404)
    begin_writing()  # a GET that writes: the account, the spent token, the session
    try:
        user = sign_on(request.args.get("token", ""))
    except SignOnRefused as refused:  # the GET's transaction is never committed
        return render_template("auth/sign_in_refused.html", reason=refused.message), 400
    with in_language_of(user):
        welcome = _("Welcome, %(name)s.", name=user.name)
    response = _finish_sign_in(user, False, safe_next(url_for("public.index")), welcome)
    keep_writes()
    return response


@bp.route("/signin/code", methods=["GET", "POST"])
@second_factor_limit
def two_factor():
    """The second step of signing in to an account with two-factor sign-in."""
    pending = pending_sign_in()
    if pending is None:
        flash(_("Sign in again: that sign-in took too long."), "info")
        return redirect(url_for("auth.signin"), code=303)
    user, remember, target = pending
    form = SecondFactorForm()
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                check_second_factor(user, form.code.data)
        except ValidationError as invalid:
            show_errors(form, invalid)
        else:
            return _signed_in(user, remember, target, _("Welcome back, %(name)s.", name=user.name))
    return render_template("auth/two_factor.html", form=form), 422 if form.errors else 200


@bp.post("/signout")
def signout():
    sign_out()
    flash(_("You are signed out."), "info")
    return redirect(url_for("public.index"), code=303)


@bp.route("/reset", methods=["GET", "POST"])
@visitor_form_limit("reset")
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        request_password_reset(form.email.data or "")
        flash(_("If that address has an account, a reset link is on its way."), "info")
        return redirect(url_for("auth.signin"), code=303)
    return render_template("auth/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token):
    form = ResetForm()
    if form.validate_on_submit():
        try:
            with all_or_nothing():
                user = reset_password(token, form.password.data)
        except ValidationError as invalid:
            show_errors(form, invalid)
        except OperationError as refused:
            flash(refused.message, "error")
            return redirect(url_for("auth.reset_request"), code=303)
        else:
            with in_language_of(user):
                welcome = _("Your password is changed and you are signed in.")
            response = _finish_sign_in(user, False, url_for("public.index"), welcome)
            if user.has_two_factor:
                flash(_("Your password is changed."), "success")
            return response
    row = valid_token(token, "reset")
    if row is None or not password_allowed(row.user):
        flash(str(LINK_USED if row is None else PASSWORDS_OFF), "error")
        return redirect(url_for("auth.reset_request"), code=303)
    return render_template("auth/reset.html", form=form, token=token), 422 if form.errors else 200
