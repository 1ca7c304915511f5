"""The worker: claims due outbox messages and sends each by its kind (fan-out to followers,
mail, webhook), queues what falls due (weekly digests, reminders of a waiting review
queue), keeps the search index in step and tidies old rows. `flask --app portal worker`."""

import logging
import signal
import time

from flask import current_app

from portal.database import discard, unit_of_work
from portal.extensions import db
from portal.housekeeping import PruneSchedule
from portal.mail import build_message, mailer_from_url
from portal.models import OutboxMessage
from portal.notifications import FANOUT, fan_out, queue_digests, recipient_may_see
from portal.operations.moderation import remind_moderators
from portal.operations.webhooks.delivery import send_queued
from portal.outbox import (
    GiveUp,
    claim_batch,
    record_failure,
    record_given_up,
    record_sent,
    release,
)
from portal.search.indexing import apply_pending, keep_index_healthy, repair_drift

log = logging.getLogger(__name__)


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
        send_queued(message.payload)
    else:
        raise ValueError(f"unknown outbox kind {message.kind!r}")


@unit_of_work()
def deliver(message_id: int) -> bool:
    """Send one leased message and record the outcome; returns whether it went out."""
    message = db.session.get(OutboxMessage, message_id)
    try:
        _send(message)
    except GiveUp as error:
        record_given_up(message, error)
        log.warning("outbox message %s given up: %s", message_id, error)
        return False
    except Exception as error:  # any failure is retried later, never lost
        record_failure(message, error)
        log.warning(
            "outbox message %s failed (attempt %s): %s", message_id, message.attempts, error
        )
        return False
    record_sent(message)
    return True


def drain(stop_requested=lambda: False) -> tuple[int, int]:
    """Queue what is due (weekly digests, reminders of a waiting review queue), then
    deliver every message due now, or until stop_requested(); returns (sent, failed)."""
    with unit_of_work():
        queue_digests()
        remind_moderators()
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
        discard()
        log.exception("could not check the search index")


def run_worker(poll_seconds: float = 1.0) -> None:
    """Deliver until SIGTERM or SIGINT, finishing the message in hand first; tidy up old
    rows at the start and about once an hour (portal/housekeeping.py)."""
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
            discard()
            log.exception("outbox worker could not reach the database")
            sent = failed = 0
        housekeeping.run_if_due(lambda: stopping)
        if not sent and not failed:
            time.sleep(poll_seconds)
    log.info("outbox worker stopped")
