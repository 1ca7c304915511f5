"""People: their accounts and roles, sign-in sessions and links, ways in from elsewhere
(single sign-on), recovery codes, API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import IntEnum

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.i18n import lazy_gettext
from portal.models.base import UTCDateTime, utcnow


class Role(IntEnum):
    """Roles are ordered: each includes the rights of the ones below it."""

    CUSTOMER = 1
    MODERATOR = 2
    OWNER = 3
    ADMIN = 4

    @property
    def slug(self) -> str:
        return "owner" if self is Role.OWNER else self.name.lower()

    @property
    def label(self) -> str:
        """The role's name as people read it, in the page's language."""
        return ROLE_LABELS[self]

    @classmethod
    def from_slug(cls, slug: str) -> Role:
        """Return the role named by slug; raises ValueError for an unknown one."""
        for role in cls:
            if role.slug == slug:
                return role
        raise ValueError(f"Unknown role {slug!r}; use one of {', '.join(r.slug for r in cls)}.")


ROLE_LABELS = {
    Role.CUSTOMER: lazy_gettext("Customer"),
    Role.MODERATOR: lazy_gettext("Moderator"),
    Role.OWNER: lazy_gettext("Product owner"),
    Role.ADMIN: lazy_gettext("Administrator"),
}


NEW_ACCOUNT_AGE = timedelta(hours=24)
# The stored hash of an account without a password (made by single sign-on, or deleted):
# no password matches it.
NO_PASSWORD = "!"


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    role_value: Mapped[int] = mapped_column("role", Integer, default=Role.CUSTOMER)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    is_trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Two-factor sign-in (RFC 6238): the authenticator's shared secret, encrypted with the
    # server's key (portal/totp_keys.py), and the last time step a code was accepted for,
    # so that each code works once.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    email_preference: Mapped[str] = mapped_column(String(10), default="all")
    # "instant", or "weekly": one digest of the week's notices instead of a mail each.
    email_frequency: Mapped[str] = mapped_column(String(10), default="instant")
    # "en" or "de" (portal.i18n.LANGUAGES); "" follows the browser's Accept-Language.
    locale: Mapped[str] = mapped_column(String(5), default="", server_default="")
    digest_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The `company` claim of the company's signed sign-on, as it came, kept until companies
    # exist (SPEC section 12); staff-only.
    company_claim: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def role(self) -> Role:
        return Role(self.role_value)

    @role.setter
    def role(self, value: Role) -> None:
        self.role_value = int(value)

    # The token of the server-side session this object was loaded or signed in with (never
    # stored): flask-login keeps it in the cookie instead of the user's id.
    session_token = None

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def has_password(self) -> bool:
        return self.password_hash != NO_PASSWORD

    @property
    def has_two_factor(self) -> bool:
        return self.totp_secret is not None

    @property
    def is_active(self) -> bool:
        return self.deleted_at is None

    def has_role(self, role: Role) -> bool:
        return self.role >= role

    @hybrid_property
    def is_staff(self) -> bool:  # in Python and in queries over many people (User.is_staff)
        return self.role_value >= int(Role.MODERATOR)

    @property
    def is_new(self) -> bool:
        return utcnow() - self.created_at < NEW_ACCOUNT_AGE

    @property
    def can_write(self) -> bool:
        """Posting, voting, commenting and flagging need an unblocked account."""
        return self.is_active and not self.is_blocked

    @property
    def display_name(self) -> str:
        """The name shown; a deleted account's in the reader's language (english() for the
        API, webhooks and CSV)."""
        return lazy_gettext("Deleted user") if self.deleted_at else self.name


class AccountToken(db.Model):
    """A single-use, expiring link token for email confirmation or password reset."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class SignInLink(db.Model):
    """A way in from elsewhere that names this person by its own stable id: the company's
    signed sign-on (provider "sso", the token's `id`) or an OpenID Connect provider (its
    name, the ID token's `sub`)."""

    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    provider: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class SpentSignOn(db.Model):
    """A signed sign-on token that was used: the hash of its `jti` (of the whole token when
    it has none), kept until the token expires, so that each token signs in once."""

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserSession(db.Model):
    """A signed-in browser: its cookie holds a random token, this row only the token's hash.

    Deleting the row signs that browser out; timeouts are in portal/operations/sessions.py.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "Remember me": a cookie that outlives the browser, and a longer idle timeout.
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    device: Mapped[str] = mapped_column(String(120), default="")  # "Firefox on Linux"
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Written at most once a minute (SESSION_TOUCH_INTERVAL), not on every request.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecoveryCode(db.Model):
    """A one-time code that stands in for an authenticator code; used codes are deleted."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(db.Model):
    """A personal API token: shown once, stored as a hash, acting with its owner's role."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so a person can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class PendingIntent(db.Model):
    """What someone pressed before saying who they are (SPEC section 12, "the customer's
    intent survives signing in"): a vote, a follow, or the text of an idea or a comment.

    A visitor's browser holds a random key (its hash is here); sign-up moves the intent to
    the new account, so that confirming the address in another browser carries it out. A
    draft handed back to its signed-in author is kept (kept_at) until it is pruned, so the
    form it fills can be opened again. Housekeeping removes every row after a day or two.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # "vote", "follow", "idea", "comment"
    idea_number: Mapped[int | None] = mapped_column(Integer)
    board_slug: Mapped[str | None] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    weight: Mapped[int] = mapped_column(Integer, default=1)  # a vote's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kept_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
