"""Housekeeping: removes rows nobody needs any more, so a busy site's tables stop growing.

The worker runs prune() at its first round and then about once an hour; `flask --app
portal prune` runs it once. What goes:

- outbox messages the worker was done with (sent, or given up: both set sent_at) more
  than RETENTION_DAYS ago;
- webhook deliveries created more than RETENTION_DAYS ago that are settled (delivered,
  given up, or a test ping, which is never retried) and that no unsent outbox message
  still points at; each hook keeps its newest attempted delivery, so the webhook pages
  still say how the last one went rather than "Nothing sent yet";
- ended sessions (session_has_ended's rule, as ended_session_clause), used or expired
  account tokens, and spent sign-on tokens once they have expired, at once: nothing reads
  them again;
- pending intents (what a visitor pressed before signing in) after a day, or once the
  confirmation link of the account they wait for has expired.

Nothing else is touched: audit entries are append-only, and ideas, votes, comments and
notifications stay for as long as people can see them.

Each kind goes in batches of BATCH rows, each its own short transaction, so a backlog of
millions never holds a long transaction or SQLite's write lock; one run removes at most
MAX_BATCHES batches of each kind, so the worker is back to its mail within seconds, and
the schedule stays due until a run finds less than that. Rows are chosen by their state
in the statement itself, so workers pruning at once remove each row once (on PostgreSQL
they skip rows another is deleting instead of waiting for it).
"""

import logging
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, delete, or_, select

from portal.database import discard, unit_of_work
from portal.extensions import db
from portal.models import (
    AccountToken,
    OutboxMessage,
    PendingIntent,
    SpentSignOn,
    UserSession,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from portal.operations.intents import expired_intents
from portal.operations.sessions import ended_session_clause
from portal.operations.single_sign_on import LEEWAY
from portal.operations.webhooks.delivery import last_attempts
from portal.operations.webhooks.queueing import WEBHOOK

log = logging.getLogger(__name__)

BATCH = 1000
MAX_BATCHES = 20  # per kind and run: about a second of deleting, then the mail again
PRUNE_EVERY_SECONDS = 3600.0


def prune(
    now: datetime | None = None,
    batch: int = BATCH,
    stop_requested=lambda: False,
    max_batches: int | None = None,
) -> dict[str, int]:
    """Delete what nobody needs any more, batch by batch, committing each; returns how
    many rows of each kind went: {"outbox_messages", "webhook_deliveries", "sessions",
    "account_tokens", "spent_sign_ons", "pending_intents"}. Stops between batches once
    stop_requested(), and after max_batches batches of a kind (None: until done)."""
    now = now or utcnow()
    kept_since = now - timedelta(days=current_app.config["RETENTION_DAYS"])
    prunable = {
        "outbox_messages": (OutboxMessage, OutboxMessage.sent_at < kept_since),
        "webhook_deliveries": (WebhookDelivery, _old_settled_deliveries(kept_since)),
        "sessions": (UserSession, ended_session_clause(now)),
        "account_tokens": (
            AccountToken,
            or_(AccountToken.used_at.is_not(None), AccountToken.expires_at < now),
        ),
        # Past its expiry (and the leeway) a token is refused as expired anyway.
        "spent_sign_ons": (SpentSignOn, SpentSignOn.expires_at < now - LEEWAY),
        "pending_intents": (PendingIntent, expired_intents(now)),
    }
    removed = {
        kind: _delete_in_batches(model, condition, batch, stop_requested, max_batches)
        for kind, (model, condition) in prunable.items()
    }
    if any(removed.values()):
        log.info("housekeeping removed %s", removed)
    return removed


def _old_settled_deliveries(kept_since: datetime):
    settled = or_(
        WebhookDelivery.delivered_at.is_not(None),
        WebhookDelivery.gave_up_at.is_not(None),
        WebhookDelivery.event == WebhookDelivery.TEST_EVENT,
    )
    awaited = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.kind == WEBHOOK,
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.payload["delivery_id"].as_integer() == WebhookDelivery.id,
        )
        .exists()
    )
    # What the webhook pages show as each hook's last answer (a handful of hooks): read
    # once per run; it only moves to newer rows, so a stale list keeps more, never less.
    hooks = db.session.scalars(select(Webhook)).all()
    newest_attempted = [delivery.id for delivery in last_attempts(hooks).values()]
    return and_(
        WebhookDelivery.created_at < kept_since,
        settled,
        ~awaited,
        WebhookDelivery.id.not_in(newest_attempted),
    )


def _delete_in_batches(model, condition, batch: int, stop_requested, max_batches) -> int:
    """DELETE ... WHERE id IN (SELECT id ... LIMIT batch) until a batch comes up short, or
    max_batches batches went."""
    chosen = (
        select(model.id)
        .where(condition)
        .order_by(model.id)
        .limit(batch)
        .with_for_update(skip_locked=True)  # PostgreSQL only; SQLite has one writer anyway
        .correlate(None)  # the subquery reads the table the DELETE is on: keep its FROM
    )
    table = model.__table__
    statement = delete(table).where(table.c.id.in_(chosen))
    total = batches = 0
    while not stop_requested() and (max_batches is None or batches < max_batches):
        with unit_of_work():  # each batch its own short transaction
            removed = db.session.execute(statement).rowcount
        total, batches = total + removed, batches + 1
        if removed < batch:
            break
    return total


class PruneSchedule:
    """The worker's timetable for prune(): due at its first round, then every `every`
    seconds of `clock` (monotonic, so changing the wall clock does not matter); due again
    at once while a run stopped at its limit (a backlog goes a slice per round)."""

    def __init__(self, every: float = PRUNE_EVERY_SECONDS, clock=time.monotonic):
        self.every = every
        self.clock = clock
        self.last_run: float | None = None
        self.unfinished = False

    def is_due(self) -> bool:
        if self.unfinished or self.last_run is None:
            return True
        return self.clock() - self.last_run >= self.every

    def run_if_due(self, stop_requested=lambda: False) -> dict[str, int] | None:
        """Prune when due; returns the counts, or None when it was not due or failed (the
        failure is logged and waits for the next turn, like a success)."""
        if not self.is_due():
            return None
        self.last_run, self.unfinished = self.clock(), False
        try:
            removed = prune(batch=BATCH, stop_requested=stop_requested, max_batches=MAX_BATCHES)
        except Exception:  # the worker's deliveries matter more than its tidying
            discard()
            log.exception("housekeeping failed; the worker tries again in an hour")
            return None
        self.unfinished = any(count >= MAX_BATCHES * BATCH for count in removed.values())
        return removed
