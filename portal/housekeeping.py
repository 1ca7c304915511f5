"""Housekeeping: removes rows nobody needs any more, so a busy site's tables stop growing.

The worker runs prune() at its first round and then about once an hour; `flask --app
portal prune` runs it once. What goes:

- outbox messages the worker was done with (sent, or given up: both set sent_at) more
  than RETENTION_DAYS ago;
- webhook deliveries created more than RETENTION_DAYS ago that are settled (delivered,
  given up, or a test ping, which is never retried) and that no unsent outbox message
  still points at; each hook keeps its newest attempted delivery, so the webhook pages
  still say how the last one went rather than "Nothing sent yet";
- ended sessions (session_has_ended's rule, as ended_session_clause) and used or expired
  account tokens, at once: nothing reads them again.

Nothing else is touched: audit entries are append-only, and ideas, votes, comments and
notifications stay for as long as people can see them.

Each kind goes in batches of BATCH rows, each its own short transaction, so a backlog of
millions never holds a long transaction or SQLite's write lock. Rows are chosen by their
state in the statement itself, so workers pruning at once remove each row once (on
PostgreSQL they skip rows another is deleting instead of waiting for it).
"""

import logging
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.models import AccountToken, OutboxMessage, UserSession, WebhookDelivery, utcnow
from portal.operations.accounts import ended_session_clause
from portal.operations.webhooks import WEBHOOK

log = logging.getLogger(__name__)

BATCH = 1000
PRUNE_EVERY_SECONDS = 3600.0


def prune(
    now: datetime | None = None, batch: int = BATCH, stop_requested=lambda: False
) -> dict[str, int]:
    """Delete what nobody needs any more, batch by batch, committing each; returns how
    many rows of each kind went: {"outbox_messages", "webhook_deliveries", "sessions",
    "account_tokens"}. Stops between batches once stop_requested()."""
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
    }
    removed = {
        kind: _delete_in_batches(model, condition, batch, stop_requested)
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
    other = aliased(WebhookDelivery)
    newest_attempted = (
        select(func.max(other.id))
        .where(other.last_attempt_at.is_not(None))
        .group_by(other.webhook_id)
    )
    return and_(
        WebhookDelivery.created_at < kept_since,
        settled,
        ~awaited,
        WebhookDelivery.id.not_in(newest_attempted),
    )


def _delete_in_batches(model, condition, batch: int, stop_requested) -> int:
    """DELETE ... WHERE id IN (SELECT id ... LIMIT batch) until a batch comes up short."""
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
    total = 0
    while not stop_requested():
        removed = db.session.execute(statement).rowcount
        db.session.commit()
        total += removed
        if removed < batch:
            break
    return total


class PruneSchedule:
    """The worker's timetable for prune(): due at its first round, then every `every`
    seconds of `clock` (monotonic, so changing the wall clock does not matter)."""

    def __init__(self, every: float = PRUNE_EVERY_SECONDS, clock=time.monotonic):
        self.every = every
        self.clock = clock
        self.last_run: float | None = None

    def is_due(self) -> bool:
        return self.last_run is None or self.clock() - self.last_run >= self.every

    def run_if_due(self, stop_requested=lambda: False) -> dict[str, int] | None:
        """Prune when due; returns the counts, or None when it was not due or failed (the
        failure is logged and waits for the next turn, like a success)."""
        if not self.is_due():
            return None
        self.last_run = self.clock()
        try:
            return prune(stop_requested=stop_requested)
        except Exception:  # the worker's deliveries matter more than its tidying
            db.session.rollback()
            log.exception("housekeeping failed; the worker tries again in an hour")
            return None
