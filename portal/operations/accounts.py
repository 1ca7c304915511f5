import hashlib
import secrets
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.markup import clean_text
from portal.models import AccountToken, Role, User, utcnow
from portal.operations import OperationError, ValidationError
from portal.outbox import queue_email

EMAIL_PREFERENCES = {
    "all": "Everything on ideas I follow",
    "status": "Only status changes and official answers",
    "none": "No email",
}
EMAIL_FREQUENCIES = {
    "instant": "As it happens",
    "weekly": "One digest a week",
}
PASSWORD_MIN = 10
NAME_MAX = 80
TOKEN_LIFETIMES = {"verify": timedelta(hours=48), "reset": timedelta(hours=1)}
# Checked against when the email is unknown, so a miss costs as much time as a hit.
_DUMMY_HASH = generate_password_hash("not a real password")


def normalise_email(email: str) -> str:
    """Return the address in canonical form; raises ValidationError."""
    try:
        return validate_email(clean_text(email), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationError({"email": "Enter a valid email address."}) from None


def _check_password(password: str, field: str = "password") -> None:
    if len(password or "") < PASSWORD_MIN:
        raise ValidationError({field: f"Use at least {PASSWORD_MIN} characters."})
    if len(password) > 1000:
        raise ValidationError({field: "That password is too long."})


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
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            expires_at=utcnow() + TOKEN_LIFETIMES[purpose],
        )
    )
    return token


def redeem_token(token: str, purpose: str) -> User:
    """Use up a valid token and return its user; raises OperationError."""
    digest = hashlib.sha256((token or "").encode()).hexdigest()
    row = db.session.scalar(db.select(AccountToken).filter_by(token_hash=digest, purpose=purpose))
    if row is None or row.used_at is not None or row.expires_at < utcnow():
        raise OperationError("This link has expired or was already used. Ask for a new one.")
    row.used_at = utcnow()
    return row.user


def _send_template(user_email: str, subject: str, template: str, **context) -> None:
    text = render_template(f"mail/{template}.txt", **context)
    html = render_template(f"mail/{template}.html", **context)
    queue_email(user_email, subject, text, html)


def send_verification(user: User) -> None:
    link = absolute_url("auth.verify", token=issue_token(user, "verify"))
    _send_template(user.email, "Confirm your email address", "verify", user=user, link=link)


def register_user(email, name, password, role=Role.CUSTOMER, verified=False) -> User | None:
    """Create an account and mail a confirmation link; raises ValidationError.

    An address already registered gets a notice by mail instead, and None is returned,
    so the page looks the same either way (no account enumeration).
    """
    email = normalise_email(email)
    name = " ".join(clean_text(name).split())
    if not 1 <= len(name) <= NAME_MAX:
        raise ValidationError({"name": f"Your name needs 1 to {NAME_MAX} characters."})
    _check_password(password)
    password_hash = generate_password_hash(password)  # also for taken addresses: same time
    existing = find_user(email)
    if existing is not None:
        link = absolute_url("auth.reset_request")
        _send_template(email, "You already have an account", "already_registered",
                       user=existing, link=link)  # fmt: skip
        return None
    user = User(email=email, name=name, password_hash=password_hash)
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
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    return user if check_password_hash(user.password_hash, password or "") else None


def request_password_reset(email: str) -> None:
    """Mail a reset link if the address has an account; silent otherwise."""
    try:
        user = find_user(normalise_email(email))
    except ValidationError:
        return
    if user is None or not user.is_active:
        return
    link = absolute_url("auth.reset", token=issue_token(user, "reset"))
    _send_template(user.email, "Reset your password", "reset", user=user, link=link)


def reset_password(token: str, password: str) -> User:
    """Set a new password from a reset link; other sessions end. Raises OperationError."""
    _check_password(password)
    user = redeem_token(token, "reset")
    set_password(user, password)
    user.email_verified_at = user.email_verified_at or utcnow()  # the link proved the address
    return user


def set_password(user: User, password: str) -> None:
    _check_password(password)
    user.password_hash = generate_password_hash(password)
    user.session_version += 1


def set_email_preference(user: User, choice: str | None, frequency: str | None = None) -> None:
    """Set which mails about followed ideas the user gets, and how often; raises
    ValidationError."""
    if choice not in EMAIL_PREFERENCES:
        raise ValidationError({"email_preference": "Choose one of the options."})
    frequency = frequency or user.email_frequency
    if frequency not in EMAIL_FREQUENCIES:
        raise ValidationError({"email_frequency": "Choose one of the options."})
    if frequency == "weekly" and user.email_frequency != "weekly":
        user.digest_sent_at = utcnow()  # the first digest covers the week from now on
    user.email_preference = choice
    user.email_frequency = frequency
