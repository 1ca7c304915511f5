"""Personal API tokens (SPEC section 6): shown once, stored as a hash, revocable."""

import hashlib
import secrets
from datetime import timedelta

from portal.extensions import db
from portal.i18n import gettext as _
from portal.markup import clean_line
from portal.models import ApiToken, User, utcnow
from portal.operations import PermissionDenied, ValidationError

PREFIX = "stm_"
NAME_MAX = 80
# Writing last_used_at on every request would make each read a write; once a minute is
# enough to tell a person which tokens are in use.
USE_RECORDED_EVERY = timedelta(minutes=1)


def token_hash(token: str) -> str:
    # A fast hash is enough: the token is 256 random bits, not a password to be guessed.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, name: str = "") -> tuple[ApiToken, str]:
    """Make a token for user; returns the row and the token, which is never shown again."""
    if not user.is_active:
        raise PermissionDenied(_("This account cannot have API tokens."))
    name = clean_line(name) or _("API token")
    if len(name) > NAME_MAX:
        raise ValidationError(
            {"name": _("A token name can have at most %(max)d characters.", max=NAME_MAX)}
        )
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=token_hash(token), prefix=token[:12])
    db.session.add(row)
    db.session.flush()
    return row, token


def revoke_token(user: User, token_id: int) -> ApiToken:
    """Revoke one of user's own tokens; another person's token is not found."""
    row = db.session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise PermissionDenied(_("That is not one of your tokens."))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    db.session.flush()
    return row


def revoke_all_tokens(user: User) -> int:
    """Revoke every token of user still in use; returns how many."""
    return db.session.execute(
        db.update(ApiToken).filter_by(user_id=user.id, revoked_at=None).values(revoked_at=utcnow())
    ).rowcount


def active_tokens(user: User) -> list[ApiToken]:
    return db.session.scalars(
        db.select(ApiToken)
        .filter_by(user_id=user.id, revoked_at=None)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    ).all()


def user_for_token(token: str) -> User | None:
    """The active person a token acts for, or None for an unknown or revoked token."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = db.session.scalar(
        db.select(ApiToken).filter_by(token_hash=token_hash(token), revoked_at=None)
    )
    if row is None or not row.user.is_active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > USE_RECORDED_EVERY:
        row.last_used_at = now  # the caller commits
    return row.user
