"""Following ideas: subscriptions and the notices they bring."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    String,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow
from portal.models.ideas import Idea


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
