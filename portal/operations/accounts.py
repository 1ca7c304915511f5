"""Accounts: sign-up and confirmation, passwords and reset links, server-side sessions,
two-factor sign-in, and email settings."""

import base64
import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from portal import totp
from portal.extensions import db
from portal.i18n import LANGUAGES, in_language_of, language
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.markup import clean_text
from portal.models import (
    AccountToken,
    ApiToken,
    Idea,
    Notification,
    RecoveryCode,
    Role,
    Subscription,
    User,
    UserSession,
    Vote,
    utcnow,
)
from portal.operations import OperationError, ValidationError
from portal.operations.admin import require_admin
from portal.operations.audit import record_audit
from portal.operations.tokens import revoke_all_tokens
from portal.operations.votes import lock_voters, recount_votes
from portal.outbox import queue_email
from portal.settings import site_settings
from portal.totp_keys import seal, unseal

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
TOKEN_LIFETIMES = {"verify": timedelta(hours=48), "reset": timedelta(hours=1)}
LINK_USED = _l("This link has expired or was already used. Ask for a new one.")
# Writing last_seen_at on every request would make each page a write; once a minute is
# enough to show when a session was last used and to end idle ones.
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)
RECOVERY_CODE_COUNT = 10
WRONG_CODE = _l("That code is not right. Codes change every 30 seconds, and each works once.")


def _digest(secret: str) -> str:
    # A fast hash is enough: tokens and codes are random, not passwords to be guessed.
    return hashlib.sha256(secret.encode()).hexdigest()


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
            token_hash=_digest(token),
            expires_at=utcnow() + TOKEN_LIFETIMES[purpose],
        )
    )
    return token


def valid_token(token: str, purpose: str) -> AccountToken | None:
    """The unused, unexpired token row, without using it up (for pages that only ask)."""
    row = db.session.scalar(
        db.select(AccountToken).filter_by(token_hash=_digest(token or ""), purpose=purpose)
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
    if row is None or not _used_up(
        db.update(AccountToken)
        .where(AccountToken.id == row.id, AccountToken.used_at.is_(None))
        .values(used_at=utcnow())
    ):
        raise OperationError(str(LINK_USED))
    return row.user


def _render_mail(template: str, **context) -> tuple[str, str]:
    return (
        render_template(f"mail/{template}.txt", **context),
        render_template(f"mail/{template}.html", **context),
    )


def _send_template(user: User, subject, template: str, **context) -> None:
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
    _send_template(user, _l("Confirm your email address"), "verify", link=link)


def register_user(email, name, password, role=Role.CUSTOMER, verified=False) -> User | None:
    """Create an account and mail a confirmation link; raises ValidationError.

    An address already registered gets a notice by mail instead, and None is returned,
    so the page looks the same either way (no account enumeration).
    """
    email = normalise_email(email)
    name = " ".join(clean_text(name).split())
    if not 1 <= len(name) <= NAME_MAX:
        raise ValidationError({"name": _("Your name needs 1 to %(max)d characters.", max=NAME_MAX)})
    _check_password(password)
    password_hash = hash_password(password)  # also for taken addresses: same time
    existing = find_user(email)
    if existing is not None:
        link = absolute_url("auth.reset_request")
        _send_template(existing, _l("You already have an account"), "already_registered",
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


def confirm_email(token: str) -> User:
    user = redeem_token(token, "verify")
    user.email_verified_at = user.email_verified_at or utcnow()
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the user if the password matches; the same work is done for unknown emails."""
    try:
        user = find_user(normalise_email(email))
    except ValidationError:
        user = None
    if user is None or not user.is_active:
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password or "")
        return None
    return user if check_password_hash(user.password_hash, password or "") else None


def request_password_reset(email: str) -> None:
    """Mail a reset link if the address has an account; silent otherwise.

    An unknown address costs about the same: its link and mail are made, then dropped.
    """
    try:
        user = find_user(normalise_email(email))
    except ValidationError:
        user = None
    if user is None or not user.is_active:
        stand_in = User(email="", name="", password_hash="")
        link = absolute_url("auth.reset", token=secrets.token_urlsafe(32))
        _render_mail("reset", user=stand_in, link=link)
        return
    link = absolute_url("auth.reset", token=issue_token(user, "reset"))
    _send_template(user, _l("Reset your password"), "reset", link=link)


def reset_password(token: str, password: str) -> User:
    """Set a new password from a reset link; every session of the account ends (the view
    starts a new one). Raises OperationError."""
    _check_password(password)
    user = redeem_token(token, "reset")
    set_password(user, password)
    end_other_sessions(user, keep_token=None)
    user.email_verified_at = user.email_verified_at or utcnow()  # the link proved the address
    return user


def set_password(user: User, password: str) -> None:
    _check_password(password)
    user.password_hash = hash_password(password)


def change_password(user: User, current: str, new: str) -> None:
    """Change the password of the signed-in user, whose other sessions end; raises
    ValidationError."""
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


# -- server-side sessions ----------------------------------------------------------------


def open_session(user: User, remember: bool, user_agent: str, ip_address: str) -> str:
    """Start a session for user; returns its token, which only the cookie holds."""
    token = secrets.token_urlsafe(32)
    _forget_ended_sessions(user)
    db.session.add(
        UserSession(
            user_id=user.id,
            token_hash=_digest(token),
            remember=remember,
            device=describe_device(user_agent or ""),
            ip_address=(ip_address or "")[:45],
        )
    )
    return token


def session_has_ended(row: UserSession, now: datetime | None = None) -> bool:
    """True once the session was idle too long, or is older than any session may be.

    ended_session_clause below is the same rule in SQL: change the two together.
    """
    config = current_app.config
    now = now or utcnow()
    idle = config["SESSION_REMEMBER_TIMEOUT" if row.remember else "SESSION_IDLE_TIMEOUT"]
    return now - row.last_seen_at > idle or now - row.created_at > config["SESSION_MAX_AGE"]


def ended_session_clause(now: datetime):
    """session_has_ended as a WHERE clause, for removing ended sessions in bulk
    (portal/housekeeping.py); tests/test_housekeeping.py checks that the two agree."""
    config = current_app.config
    remembered = UserSession.remember.is_(True)
    last_seen = UserSession.last_seen_at
    return db.or_(
        db.and_(remembered, last_seen < now - config["SESSION_REMEMBER_TIMEOUT"]),
        db.and_(~remembered, last_seen < now - config["SESSION_IDLE_TIMEOUT"]),
        UserSession.created_at < now - config["SESSION_MAX_AGE"],
    )


# Built once: every signed-in request runs it, and building it would cost half as much again.
SESSION_AND_USER = (
    db.select(UserSession, User)
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.token_hash == db.bindparam("token_hash"))
)


def use_session(token: str) -> User | None:
    """The user of the live session with this token, in one query; None once it ended.

    Notes the use at most once a minute: the caller commits that change.
    """
    found = db.session.execute(SESSION_AND_USER, {"token_hash": _digest(token)}).one_or_none()
    if found is None:
        return None
    row, user = found
    now = utcnow()
    if not user.is_active or session_has_ended(row, now):
        return None
    if now - row.last_seen_at >= SESSION_TOUCH_INTERVAL:
        row.last_seen_at = now
    user.session_token = token
    return user


def active_sessions(user: User) -> list[UserSession]:
    """The user's live sessions, the most recently used first."""
    rows = db.session.scalars(
        db.select(UserSession)
        .filter_by(user_id=user.id)
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    return [row for row in rows if not session_has_ended(row)]


def is_current_session(user: User, row: UserSession) -> bool:
    return user.session_token is not None and row.token_hash == _digest(user.session_token)


def close_session(token: str) -> None:
    """Sign out: the session's row goes, so its cookie is refused from now on."""
    db.session.execute(db.delete(UserSession).where(UserSession.token_hash == _digest(token)))


def end_session(user: User, session_id: int) -> UserSession:
    """End one of user's own sessions; raises OperationError for any other."""
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != user.id:
        raise OperationError(_("That is not one of your sessions."))
    db.session.delete(row)
    return row


def end_other_sessions(user: User, keep_token: str | None) -> int:
    """End every session of user but the one with keep_token (all of them for None);
    returns how many ended."""
    query = db.delete(UserSession).where(UserSession.user_id == user.id)
    if keep_token is not None:
        query = query.where(UserSession.token_hash != _digest(keep_token))
    return db.session.execute(query).rowcount


def _forget_ended_sessions(user: User) -> None:
    for row in db.session.scalars(db.select(UserSession).filter_by(user_id=user.id)):
        if session_has_ended(row):
            db.session.delete(row)


BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
            ("Chrome/", "Chrome"), ("Safari/", "Safari"))  # fmt: skip
SYSTEMS = (("iPhone", "iOS"), ("iPad", "iPadOS"), ("Android", "Android"),
           ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
           ("Linux", "Linux"))  # fmt: skip


def describe_device(user_agent: str) -> str:
    """A person's words for a browser: "Firefox on Linux", from its User-Agent."""
    browser = next((name for mark, name in BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "An unknown browser")


def device_label(device: str) -> str:
    """A stored description from describe_device (kept in English) in the reader's
    language: "Firefox auf Linux" for "Firefox on Linux"."""
    if device == "An unknown browser":
        return _("An unknown browser")
    if device.startswith("A browser on "):
        return _("A browser on %(system)s", system=device.removeprefix("A browser on "))
    browser, on, system = device.partition(" on ")
    return _("%(browser)s on %(system)s", browser=browser, system=system) if on else device


# -- two-factor sign-in ------------------------------------------------------------------


def must_set_up_two_factor(user: User) -> bool:
    """Staff of a site that requires two-factor sign-in, who have not set it up yet."""
    return user.is_staff and not user.has_two_factor and _required_for_staff()


def _required_for_staff() -> bool:
    return site_settings().get("require_staff_two_factor") == "1"


def enable_two_factor(user: User, secret: str, code: str) -> list[str]:
    """Turn two-factor sign-in on once code shows the app holds secret; returns the
    recovery codes, to be shown this once. Raises OperationError."""
    if user.has_two_factor:
        raise OperationError(_("Two-factor sign-in is on already."))
    if not totp.is_secret(secret or ""):
        raise OperationError(_("That setup is not valid any more: start again."))
    step = totp.matching_step(secret, code or "", after=0)
    if step is None:
        raise ValidationError({"code": str(WRONG_CODE)})
    user.totp_secret, user.totp_last_step = seal(secret), step
    return _new_recovery_codes(user)


def check_second_factor(user: User, code: str) -> None:
    """Accept a code from the app or a recovery code, each only once; raises
    ValidationError.

    Both are used up by one conditional statement, so two sign-ins racing with the same
    code cannot both win (the second waits for the first's row lock, then finds nothing).
    Raises UnreadableSecret when the server's keys do not open the stored secret.
    """
    secret = unseal(user.totp_secret) if user.totp_secret else ""
    step = totp.matching_step(secret, code or "", after=user.totp_last_step)
    if step is not None and _used_up(
        db.update(User)
        # The secret still set: an admin's reset meanwhile makes the code worthless.
        .where(User.id == user.id, User.totp_secret.is_not(None), User.totp_last_step < step)
        .values(totp_last_step=step)
    ):
        return
    if not _used_up(
        db.delete(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _recovery_hash(code)
        )
    ):
        raise ValidationError({"code": str(WRONG_CODE)})


def _used_up(statement) -> bool:
    return db.session.execute(statement).rowcount == 1


def disable_two_factor(user: User, proof: str) -> None:
    """Turn two-factor sign-in off, given a current code or the password; raises
    ValidationError."""
    if user.is_staff and _required_for_staff():
        raise OperationError(_("This site requires two-factor sign-in for its staff."))
    _require_two_factor(user)
    _confirm_identity(user, proof)
    _forget_second_factor(user)


def _forget_second_factor(user: User) -> None:
    user.totp_secret = None
    db.session.execute(db.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def replace_recovery_codes(user: User, proof: str) -> list[str]:
    """New recovery codes (the old ones stop working), given a current code or the
    password; raises ValidationError."""
    _require_two_factor(user)
    _confirm_identity(user, proof)
    return _new_recovery_codes(user)


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(db.select(db.func.count(RecoveryCode.id)).filter_by(user_id=user.id))


def _require_two_factor(user: User) -> None:
    if not user.has_two_factor:
        raise OperationError(_("Two-factor sign-in is off."))


def _confirm_identity(user: User, proof: str) -> None:
    """Proof that user is at the keyboard: their password, or a current code (each once)
    if they use two-factor sign-in; raises ValidationError."""
    if check_password_hash(user.password_hash, proof or ""):
        return
    if not user.has_two_factor:
        raise ValidationError({"proof": _("That is not your password.")})
    try:
        check_second_factor(user, proof)
    except ValidationError:
        raise ValidationError({"proof": _("Enter a current code or your password.")}) from None


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(db.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _count in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 80 random bits
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(c)) for c in codes)
    return codes


def _recovery_hash(code: str) -> str:
    """Recovery codes match however they are typed: case, spaces and dashes do not count."""
    return _digest("".join(ch for ch in (code or "").lower() if ch.isalnum()))


def reset_two_factor(actor: User | None, user: User, proof: str = "") -> tuple[int, int]:
    """Turn off two-factor sign-in for someone who lost their app and recovery codes: the
    secret and codes go, every session and API token of theirs ends, and they are told by
    mail. actor is an admin other than user, who confirms with their own password or code
    (proof), or None for the operator at the command line. Returns how many sessions ended
    and how many tokens were revoked; raises PermissionDenied, ValidationError (a wrong
    proof) or OperationError."""
    if actor is not None:
        require_admin(actor)
        if actor.id == user.id:
            raise OperationError(_("Turn off your own two-factor sign-in on your profile."))
        _confirm_identity(actor, proof)  # a hijacked admin session alone takes no account
    if not user.has_two_factor:
        raise OperationError(_("%(name)s does not use two-factor sign-in.", name=user.display_name))
    codes = recovery_codes_left(user)
    _forget_second_factor(user)
    # A thief holding a session or an API token of theirs is out too.
    ended, revoked = end_other_sessions(user, keep_token=None), revoke_all_tokens(user)
    after = {"two_factor": False, "sessions_ended": ended, "tokens_revoked": revoked}
    if actor is None:
        after["by"] = "command line"
    record_audit(actor, "user.reset_two_factor", user,
                 {"two_factor": True, "recovery_codes": codes}, after)  # fmt: skip
    _send_template(user, _l("Two-factor sign-in was turned off on your account"),
                   "two_factor_reset", link=absolute_url("account.two_factor"),
                   asked_at_sign_in=must_set_up_two_factor(user),
                   tokens_revoked=revoked)  # fmt: skip
    return ended, revoked


# -- deleting an account -----------------------------------------------------------------

# What belongs to a person alone and goes with their account; their ideas, comments and
# flags stay, shown under "Deleted user".
PERSONAL_ROWS = (UserSession, RecoveryCode, AccountToken, ApiToken, Subscription, Notification)


def delete_account(user: User, password: str) -> int:
    """Delete user's account for good: votes, sessions, tokens, subscriptions and
    notices go, name and address are wiped, and every idea they voted on is recounted.
    Returns how many votes went. Raises ValidationError or OperationError; the caller
    commits."""
    if not check_password_hash(user.password_hash, password or ""):
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
    user.password_hash = "!"  # matches no password
    user.totp_secret, user.is_trusted, user.email_preference = None, False, "none"
    return len(voted)


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
