"""Boards and their categories: where ideas are posted, and who may see them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow


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

    def readers_clause(self, reader):
        """can_view in SQL, for a query over many readers: reader is the User entity (or an
        alias of it). Idea.visible_clause holds the same rule for a query over boards."""
        return true() if not self.is_private else reader.is_staff

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
