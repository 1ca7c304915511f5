"""The domain of SPEC section 2 as typed SQLAlchemy models with their permission rules."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    false,
    inspect,
    or_,
    text,
    true,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import workflow
from portal.extensions import db
from portal.i18n import lazy_gettext


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None


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

COMMENT_EDIT_WINDOW = timedelta(minutes=15)
NEW_ACCOUNT_AGE = timedelta(hours=24)

# Trending: every tenfold of support is worth this much age, as in Reddit's "hot" rank.
TRENDING_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
TRENDING_SECONDS_PER_TENFOLD = 7 * 24 * 3600


def trending_score(vote_count: int, comment_count: int, created_at: datetime) -> float:
    support = max(vote_count + comment_count / 2, 1)
    age = (created_at - TRENDING_EPOCH).total_seconds()
    return round(math.log10(support) + age / TRENDING_SECONDS_PER_TENFOLD, 7)


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
    def has_two_factor(self) -> bool:
        return self.totp_secret is not None

    @property
    def is_active(self) -> bool:
        return self.deleted_at is None

    def has_role(self, role: Role) -> bool:
        return self.role >= role

    @property
    def is_staff(self) -> bool:
        return self.has_role(Role.MODERATOR)

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


class Board(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who voted is shown to staff only, unless the board makes its voter lists public.
    voters_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    votes_per_user: Mapped[int] = mapped_column(Integer, default=0)
    max_votes_per_idea: Mapped[int] = mapped_column(Integer, default=1)
    hold_new_posts: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    categories: Mapped[list[Category]] = relationship(
        back_populates="board", order_by="Category.name"
    )

    __table_args__ = (
        CheckConstraint("votes_per_user >= 0", name="votes_per_user_not_negative"),
        CheckConstraint("max_votes_per_idea BETWEEN 1 AND 3", name="max_votes_per_idea_range"),
    )

    @hybrid_property
    def has_budget(self) -> bool:  # in Python and in queries (Board.has_budget)
        return self.votes_per_user > 0

    def can_view(self, user) -> bool:
        return not self.is_private or (user.is_authenticated and user.is_staff)

    def can_see_voters(self, user) -> bool:
        """Who voted is personal: staff see it, everyone else where the board says so."""
        return self.voters_public or (user.is_authenticated and user.is_staff)


class Category(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("board.id"))
    slug: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(80))

    board: Mapped[Board] = relationship(back_populates="categories")

    __table_args__ = (UniqueConstraint("board_id", "slug"),)


class Idea(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("board.id"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    # The language the idea is written in ("en", "de"): search stems its words that way.
    language: Mapped[str] = mapped_column(String(5), default="en", server_default="en")
    status: Mapped[str] = mapped_column(String(40), default=workflow.OPEN)
    vote_count: Mapped[int] = mapped_column(Integer, default=0)
    comment_count: Mapped[int] = mapped_column(Integer, default=0)
    trending: Mapped[float] = mapped_column(Float, default=0.0)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("idea.id"))
    is_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_held: Mapped[bool] = mapped_column(Boolean, default=False)
    comments_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    edited_by_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    # The form's one-time key: a double-clicked submit finds the idea it already made.
    submission_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    board: Mapped[Board] = relationship()
    category: Mapped[Category | None] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    merged_into: Mapped[Idea | None] = relationship(remote_side=[id])
    status_changes: Mapped[list[StatusChange]] = relationship(
        order_by="(StatusChange.created_at, StatusChange.id)", viewonly=True
    )

    __table_args__ = (
        UniqueConstraint("author_id", "submission_key"),
        CheckConstraint("vote_count >= 0", name="vote_count_not_negative"),
        Index("ix_idea_board_trending", "board_id", "trending"),
        Index("ix_idea_board_votes", "board_id", "vote_count"),
        Index("ix_idea_board_created", "board_id", "created_at"),
        Index("ix_idea_board_updated", "board_id", "updated_at"),
        Index("ix_idea_board_comments", "board_id", "comment_count"),
        Index("ix_idea_board_status", "board_id", "status"),
    )

    @property
    def is_public(self) -> bool:
        return not (self.is_hidden or self.is_deleted or self.is_held)

    @classmethod
    def public_clause(cls):
        """The SQL form of is_public, for queries that list or index ideas."""
        return and_(cls.is_hidden.is_(False), cls.is_deleted.is_(False), cls.is_held.is_(False))

    def refresh_trending(self) -> None:
        self.trending = trending_score(self.vote_count, self.comment_count, self.created_at)

    def can_view(self, user) -> bool:
        if not self.board.can_view(user):
            return False
        if self.is_public:
            return True
        if not user.is_authenticated:
            return False
        return user.is_staff or (self.is_held and user.id == self.author_id)

    @classmethod
    def visible_clause(cls, user):
        """The SQL form of can_view, for a query that joins Board on Idea.board_id.

        user is a person or a visitor, or the User entity (or an alias of it) of a query
        that asks for many readers at once, such as a fan-out to every follower."""
        mapped = inspect(user, raiseerr=False)
        if mapped is not None and (mapped.is_mapper or mapped.is_aliased_class):
            staff, own = user.role_value >= int(Role.MODERATOR), cls.author_id == user.id
        elif not user.is_authenticated:
            staff, own = false(), false()
        elif user.is_staff:
            return true()
        else:
            staff, own = false(), cls.author_id == user.id
        held_by_own = and_(cls.is_held.is_(True), own)
        return or_(staff, and_(Board.is_private.is_(False), or_(cls.public_clause(), held_by_own)))

    def can_comment(self, user) -> bool:
        if not (user.is_authenticated and user.can_write and self.is_public):
            return False
        return not self.comments_locked or user.is_staff

    def can_edit(self, user) -> bool:
        """Authors edit while the idea is open and unanswered; moderators always."""
        if not (user.is_authenticated and user.can_write):
            return False
        if user.is_staff:
            return True
        return (
            user.id == self.author_id
            and self.status == workflow.OPEN
            and not self.has_official_response
        )

    @property
    def has_official_response(self) -> bool:
        official = (
            db.select(Comment.id)
            .filter_by(idea_id=self.id, is_official=True, is_deleted=False)
            .exists()
        )
        return bool(db.session.scalar(db.select(official))) or any(
            change.response for change in self.status_changes
        )

    def can_change_status(self, user) -> bool:
        return user.is_authenticated and user.has_role(Role.OWNER) and not user.is_blocked


class Vote(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    idea_id: Mapped[int] = mapped_column(ForeignKey("idea.id"), index=True)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    idea: Mapped[Idea] = relationship()
    user: Mapped[User] = relationship()

    __table_args__ = (
        UniqueConstraint("user_id", "idea_id"),
        CheckConstraint("weight BETWEEN 1 AND 3", name="weight_range"),
    )


class Comment(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("idea.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    is_official: Mapped[bool] = mapped_column(Boolean, default=False)
    is_internal: Mapped[bool] = mapped_column(Boolean, default=False)
    is_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    edited_by_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    idea: Mapped[Idea] = relationship()
    author: Mapped[User] = relationship()

    @property
    def is_public(self) -> bool:
        return not (self.is_internal or self.is_hidden or self.is_deleted)

    @classmethod
    def public_clause(cls):
        """The SQL form of is_public: what may leave the site (API, feeds, webhooks, mail)."""
        return and_(cls.is_internal.is_(False), cls.is_hidden.is_(False), cls.is_deleted.is_(False))

    # Internal notes, one rule for every route (docs/decisions/0009-internal-notes-rule.md):
    # staff read them, the product team writes, edits and deletes them, and their history
    # (the audit log's before and after) is for admins, like every audit entry.
    @staticmethod
    def can_read_notes(user) -> bool:
        return user.is_authenticated and user.is_staff

    @staticmethod
    def can_write_notes(user) -> bool:
        return user.is_authenticated and user.has_role(Role.OWNER)

    def can_view(self, user) -> bool:
        """On an idea the user may see: internal notes for staff, hidden comments for
        moderators, deleted ones for nobody."""
        if self.is_deleted or not self.idea.can_view(user):
            return False
        if self.is_internal:
            return self.can_read_notes(user)
        return not self.is_hidden or (user.is_authenticated and user.is_staff)

    @classmethod
    def visible_clause(cls, user):
        """The SQL form of can_view for the comments of an idea the user may see."""
        clause = cls.is_deleted.is_(False)
        if not cls.can_read_notes(user):
            clause = and_(clause, cls.is_internal.is_(False))
        if not (user.is_authenticated and user.is_staff):
            clause = and_(clause, cls.is_hidden.is_(False))
        return clause

    def can_moderate(self, user) -> bool:
        """Hide, delete, restore or pin: moderators, and for internal notes the product team."""
        if self.is_internal:
            return self.can_write_notes(user)
        return user.is_authenticated and user.is_staff

    def can_edit(self, user) -> bool:
        """Authors edit for 15 minutes after posting, moderators always; internal notes only
        the product team (its author's edits are plain edits, others' are staff edits)."""
        if not (user.is_authenticated and user.can_write and self.can_view(user)):
            return False
        if self.can_moderate(user):
            return True
        return (
            not self.is_internal
            and user.id == self.author_id
            and utcnow() - self.created_at < COMMENT_EDIT_WINDOW
        )


class StatusChange(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("idea.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    from_status: Mapped[str] = mapped_column(String(40))
    to_status: Mapped[str] = mapped_column(String(40))
    response: Mapped[str] = mapped_column(Text, default="")
    response_html: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User] = relationship(lazy="joined")


class SubscriptionLevel:
    STATUS = "status"
    ALL = "all"


class Subscription(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    idea_id: Mapped[int] = mapped_column(ForeignKey("idea.id"), index=True)
    level: Mapped[str] = mapped_column(String(10), default=SubscriptionLevel.STATUS)
    # An explicit unsubscribe is remembered so that a later vote does not resubscribe.
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "idea_id"),)


class Notification(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("idea.id"))
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    idea: Mapped[Idea | None] = relationship()

    @classmethod
    def visible_clause(cls, user):
        """The notices user (as in Idea.visible_clause) may read now, for a query that
        outer-joins Idea and Board: those about no idea or an idea they may see.

        A moderation notice about the reader's own idea stays: it tells them why staff hid
        it, which by then only staff see. One about their comment names an idea that must
        still be theirs to see."""
        own_idea = and_(cls.kind == "moderation", Idea.author_id == user.id)
        return or_(cls.idea_id.is_(None), own_idea, Idea.visible_clause(user))


class Flag(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("idea.id"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comment.id"), index=True)
    reason: Mapped[str] = mapped_column(String(20))
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # One flag per person per item; NULLs are distinct in unique constraints, so each
    # kind of target gets its own partial index.
    __table_args__ = (
        Index(
            "uq_flag_user_idea",
            "user_id",
            "idea_id",
            unique=True,
            sqlite_where=text("idea_id IS NOT NULL"),
            postgresql_where=text("idea_id IS NOT NULL"),
        ),
        Index(
            "uq_flag_user_comment",
            "user_id",
            "comment_id",
            unique=True,
            sqlite_where=text("comment_id IS NOT NULL"),
            postgresql_where=text("comment_id IS NOT NULL"),
        ),
        CheckConstraint("(idea_id IS NULL) <> (comment_id IS NULL)", name="flags_one_target"),
    )


class AuditEntry(db.Model):
    """Append-only record of a staff action."""

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    target_type: Mapped[str] = mapped_column(String(30))
    target_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User | None] = relationship()


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


class UserSession(db.Model):
    """A signed-in browser: its cookie holds a random token, this row only the token's hash.

    Deleting the row signs that browser out; timeouts are in portal/operations/accounts.py.
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


class OutboxMessage(db.Model):
    """An email or webhook delivery, written with the event and sent by the worker."""

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker leases rows before sending, so two workers never send one message twice.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the worker was done with it: sent, or given up by its sender (see last_error).
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_outbox_message_pending", "sent_at", "next_attempt_at"),)


class Merge(db.Model):
    """A duplicate merged into its original, with what moved, so the merge can be undone."""

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("idea.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("idea.id"), index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    # {"status": ..., "moved_votes": [ids], "kept_votes": [[B vote id, old weight, A weight,
    #  A created_at]], "new_subscriptions": [ids], "raised_subscriptions": [[id, old level]]}
    record: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    source: Mapped[Idea] = relationship(foreign_keys=[source_id])
    target: Mapped[Idea] = relationship(foreign_keys=[target_id])


class SiteSetting(db.Model):
    """One of the few things an admin sets for the whole site (portal/settings.py)."""

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class CustomStatus(db.Model):
    """A status an admin added beside the built-in seven; its phase decides voting, budget
    release and the roadmap lane."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(40))
    colour: Mapped[str] = mapped_column(String(7))
    phase: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer, default=0)


class BlockedTransition(db.Model):
    """A move between two statuses that an admin turned off."""

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    target: Mapped[str] = mapped_column(String(40), primary_key=True)


class Counter(db.Model):
    """Named counters, such as the site-wide idea number, taken under a row lock."""

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class SearchTask(db.Model):
    """An idea whose index entry must be refreshed: written with the change, applied after."""

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(Integer, index=True)
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


class Webhook(db.Model):
    """An address that admins want told about events, signed with its own secret."""

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(200), default="")
    # Paused only by an admin; failures are shown, never acted on silently.
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Attempts in a row that failed (retries and tests too); reset by the next success.
    failure_streak: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_failing(self) -> bool:
        """Its last attempt failed: admins see it until a delivery gets through."""
        return self.is_active and self.failure_streak > 0


class WebhookDelivery(db.Model):
    """One event sent (or being retried) to one webhook: the delivery log."""

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    # The exact body sent, so retries and the log show the same bytes that were signed.
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str] = mapped_column(String(500), default="")
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gave_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    webhook: Mapped[Webhook] = relationship()

    TEST_EVENT = "ping"  # "Send test": tried once, while the admin waits, never retried

    @property
    def will_retry(self) -> bool:
        """It failed and the worker tries it again later."""
        settled = self.delivered_at or self.gave_up_at
        return self.attempts > 0 and not settled and self.event != self.TEST_EVENT

    @property
    def can_send_again(self) -> bool:
        """An event that failed or was given up on may be queued again, as a new delivery."""
        failed = self.attempts > 0 or self.gave_up_at is not None
        return failed and self.delivered_at is None and self.event != self.TEST_EVENT
