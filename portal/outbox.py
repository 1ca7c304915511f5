"""The outbox, a durable queue: rows written in the same transaction as the event, leased
by a worker (portal/worker.py sends them), retried with backoff, given up on for good only
when the sender says so. Nothing here knows what a message means."""

from datetime import timedelta

from flask import current_app
from sqlalchemy import or_

from portal.database import unit_of_work
from portal.extensions import db
from portal.models import OutboxMessage, utcnow

MAX_BACKOFF = timedelta(hours=1)
BATCH = 20


class GiveUp(Exception):
    """A sender's last word on a message: it was not sent and is never tried again."""


def queue_email(
    to: str, subject: str, text: str, html: str | None = None, headers=None, about=None
):
    """Add an email to the outbox in the current transaction; about ({"user_id", "idea_ids"})
    names its recipient and the ideas it speaks of, checked again before sending."""
    payload = {"to": to, "subject": subject, "text": text, "html": html, "headers": headers}
    message = OutboxMessage(kind="email", payload=payload | (about or {}))
    db.session.add(message)
    return message


def backoff(attempts: int) -> timedelta:
    """The pause after the n-th failed attempt: 30 s, 1 min, 2 min ... at most an hour
    (OUTBOX_BACKOFF_SECONDS, 15 by default, is the unit that doubles)."""
    unit = current_app.config["OUTBOX_BACKOFF_SECONDS"]
    return min(timedelta(seconds=unit * 2**attempts), MAX_BACKOFF)


@unit_of_work()
def claim_batch(limit: int = BATCH) -> list[int]:
    """Lease due messages to this worker; other workers skip rows leased or locked here."""
    now = utcnow()
    rows = db.session.scalars(
        db.select(OutboxMessage)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        # A worker killed mid-send leaves its rows leased: another takes them once it ends.
        row.locked_until = now + timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    return [row.id for row in rows]


@unit_of_work()
def release(message_ids: list[int]) -> None:
    """Give back the leases of messages not sent, so another worker may send them now."""
    db.session.execute(
        db.update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.sent_at.is_(None))
        .values(locked_until=None)
    )


def record_given_up(message: OutboxMessage, error: GiveUp) -> None:
    """Done with it, not sent: never claimed again."""
    message.attempts += 1
    message.last_error = f"GiveUp: {error}"[:2000]
    message.sent_at = utcnow()
    message.locked_until = None


def record_failure(message: OutboxMessage, error: Exception) -> None:
    """Tried and failed: tried again after the backoff, never lost."""
    message.attempts += 1
    message.last_error = f"{type(error).__name__}: {error}"[:2000]
    message.next_attempt_at = utcnow() + backoff(message.attempts)
    message.locked_until = None


def record_sent(message: OutboxMessage) -> None:
    message.sent_at = utcnow()
    message.attempts += 1
    message.locked_until = None
