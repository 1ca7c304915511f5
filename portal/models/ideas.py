"""Ideas and what hangs on them: votes, comments, status changes, merges.

Comments live here because an idea asks them whether it has an official answer, and a
comment asks its idea whether it may be seen."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    false,
    inspect,
    or_,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import workflow
from portal.extensions import db
from portal.models.accounts import Role, User
from portal.models.base import UTCDateTime, utcnow
from portal.models.boards import Board, Category

COMMENT_EDIT_WINDOW = timedelta(minutes=15)


# Trending: every tenfold of support is worth this much age, as in Reddit's "hot" rank.
TRENDING_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


TRENDING_SECONDS_PER_TENFOLD = 7 * 24 * 3600


def trending_score(vote_count: int, comment_count: int, created_at: datetime) -> float:
    support = max(vote_count + comment_count / 2, 1)
    age = (created_at - TRENDING_EPOCH).total_seconds()
    return round(math.log10(support) + age / TRENDING_SECONDS_PER_TENFOLD, 7)


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
            staff, own = user.is_staff, cls.author_id == user.id
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
