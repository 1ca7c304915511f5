"""Accounts: sign-up and confirmation, sign-in by password, passwords and reset links, the
account's language and email settings, and deleting it."""

import secrets
from datetime import timedelta
from functools import cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.i18n import LANGUAGES, in_language_of, language
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.markup import clean_line, clean_text
from portal.models import (
    NO_PASSWORD,
    AccountToken,
    ApiToken,
    Idea,
    Notification,
    PendingIntent,
    RecoveryCode,
    Role,
    SignInLink,
    Subscription,
    User,
    UserSession,
    Vote,
    utcnow,
)
from portal.operations import OperationError, PermissionDenied, ValidationError
from portal.operations.audit import record_audit
from portal.operations.hashes import digest
from portal.operations.sessions import end_other_sessions
from portal.operations.votes import lock_voters, recount_votes
from portal.outbox import queue_email
from portal.settings import site_settings

EMAIL_PREFERENCES = {
    "all": _l("Everything on ideas I follow"),
    "status": _l("Only status changes and official answers"),
    "none": _l("No email"),
}
EMAIL_FREQUENCIES = {
    "instant": _l("As it happens"),
    "weekly": _l("One digest a week"),
}
PASSWORD_MIN = 10
NAME_MAX = 80
TOKEN_LIFETIMES = {
    "verify": timedelta(hours=48),
    "reset": timedelta(hours=1),
    "signin": timedelta(minutes=15),  # the operator's emergency link (sign-in-link)
}
LINK_USED = _l("This link has expired or was already used. Ask for a new one.")
PASSWORDS_OFF = _l("Your account signs in through single sign-on: passwords are off for it.")
# Who may sign in with a password, by the site setting `password_sign_in`: (customers,
# staff). The others sign in through single sign-on only.
PASSWORD_SIGN_IN = {
    "everyone": (True, True),
    "staff": (False, True),
    "customers": (True, False),
    "nobody": (False, False),
}


def passwords_open_to(role: Role) -> bool:
    """Whether people of this role may sign in with a password, by the admins' choice."""
    customers, staff = PASSWORD_SIGN_IN.get(site_settings()["password_sign_in"], (True, True))
    return staff if role >= Role.MODERATOR else customers


def password_allowed(user: User) -> bool:
    """Whether user may sign in, reset or change a password: the one rule of the sign-in
    modes, asked on every path that takes a password."""
    return passwords_open_to(user.role)


def normalise_email(email: str) -> str:
    """Return the address in canonical form; raises ValidationError."""
    try:
        return validate_email(clean_text(email), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationError({"email": _("Enter a valid email address.")}) from None


def hash_password(password: str) -> str:
    """The stored form of a password, by the site's PASSWORD_HASH_METHOD (scrypt; the test
    suite's is cheap: it tests who may sign in, not how hard a hash is to break)."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


@cache
def _dummy_hash(method: str) -> str:
    """Checked against when the email is unknown, so a miss costs as much time as a hit."""
    return generate_password_hash("not a real password", method=method)


def _check_password(password: str, field: str = "password") -> None:
    if len(password or "") < PASSWORD_MIN:
        raise ValidationError({field: _("Use at least %(count)d characters.", count=PASSWORD_MIN)})
    if len(password) > 1000:
        raise ValidationError({field: _("That password is too long.")})


def find_user(email: str) -> User | None:
    return db.session.scalar(db.select(User).filter_by(email=email))


def linked_user(provider: str, subject: str) -> User | None:
    """The account a way in from elsewhere names by its own id for the person (SignInLink:
    the signed sign-on's "sso", or an OpenID Connect provider's name)."""
    return db.session.scalar(
        db.select(User)
        .join(SignInLink, SignInLink.user_id == User.id)
        .where(SignInLink.provider == provider, SignInLink.subject == subject)
    )


def absolute_url(endpoint: str, **values) -> str:
    """A link for mails, built on BASE_URL so it is right behind a proxy and in the worker."""
    return current_app.config["BASE_URL"] + url_for(endpoint, **values)


def issue_token(user: User, purpose: str) -> str:
    """Make a single-use link token; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        AccountToken(
            user=user,
            purpose=purpose,
            token_hash=digest(token),
            expires_at=utcnow() + TOKEN_LIFETIMES[purpose],
        )
    )
    return token


def valid_token(token: str, purpose: str) -> AccountToken | None:
    """The unused, unexpired token row, without using it up (for pages that only ask)."""
    row = db.session.scalar(
        db.select(AccountToken).filter_by(token_hash=digest(token or ""), purpose=purpose)
    )
    if row is None or row.used_at is not None or row.expires_at < utcnow():
        return None
    return row


def redeem_token(token: str, purpose: str) -> User:
    """Use up a valid token and return its user; raises OperationError.

    Used up by one conditional statement, so two requests racing with the same link cannot
    both win (the second waits for the first's row lock, then finds it used).
    """
    row = valid_token(token, purpose)
    if row is None or not used_up(
        db.update(AccountToken)
        .where(AccountToken.id == row.id, AccountToken.used_at.is_(None))
        .values(used_at=utcnow())
    ):
        raise OperationError(str(LINK_USED))
    return row.user


def used_up(statement) -> bool:
    """Whether the conditional statement changed the one row: this request used the token or
    code up, not one racing it."""
    return db.session.execute(statement).rowcount == 1


def _render_mail(template: str, **context) -> tuple[str, str]:
    return (
        render_template(f"mail/{template}.txt", **context),
        render_template(f"mail/{template}.html", **context),
    )


def send_account_mail(user: User, subject, template: str, **context) -> None:
    """Queue an account mail to user; subject is a lazy text, written in their language."""
    with in_language_of(user):
        queue_email(user.email, str(subject), *_render_mail(template, user=user, **context))


def set_language(user: User, code: str) -> None:
    """Choose the language of the account's pages and mails ("" follows the browser)."""
    if code and code not in LANGUAGES:
        raise ValidationError({"language": _("Choose one of the languages offered.")})
    user.locale = code


def send_verification(user: User) -> None:
    link = absolute_url("auth.verify", token=issue_token(user, "verify"))
    send_account_mail(user, _l("Confirm your email address"), "verify", link=link)


def register_user(email, name, password, role=Role.CUSTOMER, verified=False) -> User | None:
    """Create an account and mail a confirmation link; raises ValidationError.

    An address already registered gets a notice by mail instead, and None is returned,
    so the page looks the same either way (no account enumeration).
    """
    email = normalise_email(email)
    name = clean_line(name)
    if not 1 <= len(name) <= NAME_MAX:
        raise ValidationError({"name": _("Your name needs 1 to %(max)d characters.", max=NAME_MAX)})
    _check_password(password)
    password_hash = hash_password(password)  # also for taken addresses: same time
    existing = find_user(email)
    if existing is not None:
        link = absolute_url("auth.reset_request")
        send_account_mail(existing, _l("You already have an account"), "already_registered",
                          link=link)  # fmt: skip
        return None
    # The language they signed up in is the one their mails are written in.
    user = User(email=email, name=name, password_hash=password_hash, locale=language())
    user.role = role
    if verified:
        user.email_verified_at = utcnow()
    db.session.add(user)
    db.session.flush()
    if not verified:
        send_verification(user)
    return user


def open_account_from_elsewhere(email: str, claimed_name, verified: bool) -> User:
    """An account without a password for a person a way in from elsewhere names (signed
    sign-on, OpenID Connect; email normalised by the caller): named as claimed (cleaned as
    sign-up does), else by the address; written in the language they arrived in, as sign-up
    does; confirmed when the other side vouches for the address, else sent the usual
    confirmation mail."""
    user = User(email=email, name=claimed_name_or(claimed_name, email), password_hash=NO_PASSWORD,
                locale=language())  # fmt: skip
    if verified:
        user.email_verified_at = utcnow()
    db.session.add(user)
    db.session.flush()
    if not verified:
        send_verification(user)
    return user


def claimed_name_or(claimed, email: str) -> str:
    """A name another system gave, cleaned as sign-up cleans one; else the address's local
    part."""
    name = clean_line(claimed)[:NAME_MAX] if isinstance(claimed, str) else ""
    return name or email.split("@")[0][:NAME_MAX]


def confirm_email(token: str) -> User:
    user = redeem_token(token, "verify")
    user.email_verified_at = user.email_verified_at or utcnow()
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the user if the password matches and their role may sign in with one
    (password_allowed); the same work is done for unknown emails."""
    try:
        user = find_user(normalise_email(email))
    except ValidationError:
        user = None
    # An account without a password (single sign-on) costs the same hashing as an unknown
    # address: its answer must not come sooner.
    if user is None or not user.is_active or not user.has_password:
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password or "")
        return None
    matches = check_password_hash(user.password_hash, password or "")
    # Checked after the hash, so a refused role costs the same time, right password or not.
    return user if matches and password_allowed(user) else None


def request_password_reset(email: str) -> None:
    """Mail a reset link if the address has an account; silent otherwise.

    An unknown address costs about the same: its link and mail are made, then dropped.
    """
    try:
        user = find_user(normalise_email(email))
    except ValidationError:
        user = None
    # Someone who signs in by single sign-on only gets no link, and the same silence.
    if user is None or not user.is_active or not password_allowed(user):
        stand_in = User(email="", name="", password_hash="")
        link = absolute_url("auth.reset", token=secrets.token_urlsafe(32))
        _render_mail("reset", user=stand_in, link=link)
        return
    link = absolute_url("auth.reset", token=issue_token(user, "reset"))
    send_account_mail(user, _l("Reset your password"), "reset", link=link)


def reset_password(token: str, password: str) -> User:
    """Set a new password from a reset link; every session of the account ends (the view
    starts a new one). Raises OperationError, PermissionDenied when the person's role signs
    in by single sign-on only."""
    _check_password(password)
    user = redeem_token(token, "reset")
    if not password_allowed(user):  # a link mailed before the admins turned passwords off
        raise PermissionDenied(str(PASSWORDS_OFF))
    set_password(user, password)
    end_other_sessions(user, keep_token=None)
    user.email_verified_at = user.email_verified_at or utcnow()  # the link proved the address
    return user


def set_password(user: User, password: str) -> None:
    _check_password(password)
    user.password_hash = hash_password(password)


def change_password(user: User, current: str, new: str) -> None:
    """Change the password of the signed-in user, whose other sessions end; raises
    ValidationError, or PermissionDenied when their role signs in by single sign-on only."""
    if not password_allowed(user):
        raise PermissionDenied(str(PASSWORDS_OFF))
    if not check_password_hash(user.password_hash, current or ""):
        raise ValidationError({"current_password": _("That is not your current password.")})
    _check_password(new, field="new_password")
    set_password(user, new)
    end_other_sessions(user, keep_token=user.session_token)


def set_email_preference(user: User, choice: str | None, frequency: str | None = None) -> None:
    """Set which mails about followed ideas the user gets, and how often; raises
    ValidationError."""
    if choice not in EMAIL_PREFERENCES:
        raise ValidationError({"email_preference": _("Choose one of the options.")})
    frequency = frequency or user.email_frequency
    if frequency not in EMAIL_FREQUENCIES:
        raise ValidationError({"email_frequency": _("Choose one of the options.")})
    if frequency == "weekly" and user.email_frequency != "weekly":
        user.digest_sent_at = utcnow()  # the first digest covers the week from now on
    user.email_preference = choice
    user.email_frequency = frequency


# -- deleting an account -----------------------------------------------------------------

# What belongs to a person alone and goes with their account; their ideas, comments and
# flags stay, shown under "Deleted user".
PERSONAL_ROWS = (
    UserSession,
    RecoveryCode,
    AccountToken,
    ApiToken,
    SignInLink,
    Subscription,
    Notification,
    PendingIntent,
)


def delete_account(user: User, proof: str) -> int:
    """Delete user's account for good: votes, sessions, tokens, subscriptions and
    notices go, name and address are wiped, and every idea they voted on is recounted.
    The proof is the password, or for an account without one (made by single sign-on) its
    email address typed again. Returns how many votes went. Raises ValidationError or
    OperationError; the caller commits."""
    if not user.has_password:
        if _typed_email(proof) != user.email:
            raise ValidationError({"email": _("Type your email address as it is shown.")})
    elif not check_password_hash(user.password_hash, proof or ""):
        raise ValidationError({"password": _("That is not your password.")})
    if user.has_role(Role.ADMIN) and not _another_admin(user):
        raise OperationError(_("You are the only admin: make someone else an admin first."))
    lock_voters([user.id])  # their votes elsewhere wait for this to finish
    voted = db.session.scalars(
        db.select(Idea)
        .where(Idea.id.in_(db.select(Vote.idea_id).where(Vote.user_id == user.id)))
        .order_by(Idea.id)
        .with_for_update()
    ).all()
    db.session.execute(db.delete(Vote).where(Vote.user_id == user.id))
    for idea in voted:
        recount_votes(idea)
        idea.refresh_trending()
    for model in PERSONAL_ROWS:
        db.session.execute(db.delete(model).where(model.user_id == user.id))
    record_audit(user, "account.delete", user, after={"votes_withdrawn": len(voted)})
    user.deleted_at = utcnow()
    user.name = "Deleted user"
    user.email = f"deleted-{user.id}@deleted.invalid"  # the address may sign up again
    user.password_hash = NO_PASSWORD
    user.totp_secret, user.is_trusted, user.email_preference = None, False, "none"
    return len(voted)


def _typed_email(text: str | None) -> str | None:
    """The address as accounts store it, or None for text that is none."""
    try:
        return normalise_email(text or "")
    except ValidationError:
        return None


def _another_admin(user: User) -> bool:
    return (
        db.session.scalar(
            db.select(User.id)
            .where(
                User.role_value >= int(Role.ADMIN), User.id != user.id, User.deleted_at.is_(None)
            )
            .limit(1)
        )
        is not None
    )
