"""What staff look at and what they did: flags, and the append-only audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import User
from portal.models.base import UTCDateTime, utcnow


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
