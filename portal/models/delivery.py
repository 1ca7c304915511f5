"""What the worker sends after a change commits: outbox messages, webhooks and their
delivery log, and the search index's queue of changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow


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


class SearchTask(db.Model):
    """An idea whose index entry must be refreshed: written with the change, applied after."""

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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
