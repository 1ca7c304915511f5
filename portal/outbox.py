"""Durable delivery: rows written with the event, sent later by the worker with retries."""

import logging
import signal
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_

from portal.extensions import db
from portal.mail import build_message, mailer_from_url
from portal.models import OutboxMessage, utcnow
from portal.notifications import FANOUT, fan_out, queue_digests, recipient_may_see
from portal.search import apply_pending, keep_index_healthy, repair_drift

log = logging.getLogger(__name__)

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
    db.session.commit()
    return [row.id for row in rows]


def _send(message: OutboxMessage) -> None:
    if message.kind == "email":
        if not recipient_may_see(message.payload):
            raise GiveUp(
                f"user {message.payload['user_id']} may no longer see every one of ideas "
                f"{message.payload['idea_ids']}: not sent"
            )
        config = current_app.config
        mailer_from_url(config["MAIL_URL"]).send(
            build_message(config["MAIL_FROM"], message.payload)
        )
    elif message.kind == FANOUT:
        # Its notices and mails commit with the message's sent_at, or not at all.
        with db.session.begin_nested():
            fan_out(message.payload)
    elif message.kind == "webhook":
        from portal.operations.webhooks import send_queued  # it imports GiveUp from here

        send_queued(message.payload)
    else:
        raise ValueError(f"unknown outbox kind {message.kind!r}")


def deliver(message_id: int) -> bool:
    """Send one leased message and record the outcome; returns whether it went out."""
    message = db.session.get(OutboxMessage, message_id)
    try:
        _send(message)
    except GiveUp as error:
        message.attempts += 1
        message.last_error = f"GiveUp: {error}"[:2000]
        message.sent_at = utcnow()  # done with it: never claimed again
        message.locked_until = None
        db.session.commit()
        log.warning("outbox message %s given up: %s", message_id, error)
        return False
    except Exception as error:  # any failure is retried later, never lost
        message.attempts += 1
        message.last_error = f"{type(error).__name__}: {error}"[:2000]
        message.next_attempt_at = utcnow() + backoff(message.attempts)
        message.locked_until = None
        db.session.commit()
        log.warning(
            "outbox message %s failed (attempt %s): %s", message_id, message.attempts, error
        )
        return False
    message.sent_at = utcnow()
    message.attempts += 1
    message.locked_until = None
    db.session.commit()
    return True


def release(message_ids: list[int]) -> None:
    """Give back the leases of messages not sent, so another worker may send them now."""
    db.session.execute(
        db.update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.sent_at.is_(None))
        .values(locked_until=None)
    )
    db.session.commit()


def drain(stop_requested=lambda: False) -> tuple[int, int]:
    """Queue what is due (weekly digests, reminders of a waiting review queue), then
    deliver every message due now, or until stop_requested(); returns (sent, failed)."""
    from portal.operations.moderation import remind_moderators  # it imports the outbox

    queue_digests()
    remind_moderators()
    db.session.commit()
    sent = failed = 0
    seen: set[int] = set()
    while not stop_requested() and (batch := [i for i in claim_batch() if i not in seen]):
        seen.update(batch)
        for position, message_id in enumerate(batch):
            if stop_requested():  # after the message in hand, not after the whole queue
                release(batch[position:])
                break
            if deliver(message_id):
                sent += 1
            else:
                failed += 1
    return sent, failed


def catch_up_search() -> None:
    """At start: repair any drift between index and database, then apply what is queued."""
    try:
        queued = repair_drift()
        while apply_pending():
            pass
        log.info("search index checked: %s ideas needed an update", queued)
    except Exception:  # the site works without the index; the loop retries
        db.session.rollback()
        log.exception("could not check the search index")


def run_worker(poll_seconds: float = 1.0) -> None:
    """Deliver until SIGTERM or SIGINT, finishing the message in hand first; tidy up old
    rows at the start and about once an hour (portal/housekeeping.py)."""
    from portal.housekeeping import PruneSchedule  # it imports accounts, which import us

    stopping = False
    housekeeping = PruneSchedule()

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("outbox worker started")
    catch_up_search()
    while not stopping:
        try:
            sent, failed = drain(lambda: stopping)
            if stopping:
                break
            keep_index_healthy()
            sent += apply_pending()
        except Exception:  # a database outage: wait and try again
            db.session.rollback()
            log.exception("outbox worker could not reach the database")
            sent = failed = 0
        housekeeping.run_if_due(lambda: stopping)
        if not sent and not failed:
            time.sleep(poll_seconds)
    log.info("outbox worker stopped")
