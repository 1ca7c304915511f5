"""Webhook events: each one, in the event's own transaction, writes one WebhookDelivery (the
exact body, signed when sent) and one outbox row for every active hook that listens.
Only what customers may read leaves: no held or hidden idea, never an internal note."""

import json
from collections.abc import Callable

from portal.extensions import db
from portal.i18n import lazy_gettext as _l
from portal.models import Comment, Idea, OutboxMessage, StatusChange, Webhook, WebhookDelivery
from portal.representations import comment_json, idea_json, iso, person_json

WEBHOOK = "webhook"  # the outbox kind
EVENTS = {
    "idea.created": _l("A new idea is published (held ideas once a moderator approves them)"),
    "idea.status_changed": _l("An idea's status changes, with the team's public response"),
    "comment.created": _l("Someone comments on a published idea (never internal notes)"),
    "idea.merged": _l("A duplicate is merged into its original"),
}
ENVELOPE = ("event", "delivery", "created_at")  # what delivery_body adds to an event's fields


def queue_webhook_event(event: str, payload: dict | Callable[[], dict]) -> list[WebhookDelivery]:
    """In the current transaction, queue one delivery of event for every active hook that
    listens to it; payload may be a function, called only when some hook listens."""
    hooks = [
        hook
        for hook in db.session.scalars(db.select(Webhook).filter_by(is_active=True))
        if event in hook.events
    ]
    if not hooks:
        return []
    return queue_deliveries(hooks, event, payload() if callable(payload) else payload)


def queue_deliveries(hooks: list[Webhook], event: str, fields: dict) -> list[WebhookDelivery]:
    """Write a delivery of event with these fields, and its outbox row, for each hook."""
    deliveries = [WebhookDelivery(webhook=hook, event=event, body="") for hook in hooks]
    db.session.add_all(deliveries)
    db.session.flush()  # ids, which the body carries
    for delivery in deliveries:
        delivery.body = delivery_body(delivery, fields)
        db.session.add(OutboxMessage(kind=WEBHOOK, payload={"delivery_id": delivery.id}))
    return deliveries


def delivery_body(delivery: WebhookDelivery, fields: dict) -> str:
    created_at = iso(delivery.created_at)
    return json.dumps({"event": delivery.event, "delivery": delivery.id, "created_at": created_at,
                       **fields})  # fmt: skip


def queue_idea_created(idea: Idea) -> None:
    """idea.created, once the idea is published (a held idea waits for its approval)."""
    if idea.is_public:
        queue_webhook_event("idea.created", lambda: {"idea": idea_json(idea)})


def queue_status_changed(idea: Idea, change: StatusChange) -> None:
    if idea.is_public:
        queue_webhook_event(
            "idea.status_changed",
            lambda: {
                "idea": idea_json(idea),
                "status_change": {
                    "from": change.from_status,
                    "to": change.to_status,
                    "response": change.response,
                    "response_html": change.response_html,
                    "author": person_json(change.author),
                    "created_at": iso(change.created_at),
                },
            },
        )


def queue_comment_created(comment: Comment) -> None:
    """comment.created for a public comment on a published idea; internal notes never leave."""
    if comment.is_public and comment.idea.is_public:
        queue_webhook_event(
            "comment.created",
            lambda: {"idea": idea_json(comment.idea), "comment": comment_json(comment)},
        )


def queue_idea_merged(source: Idea, target: Idea) -> None:
    if source.is_public:
        # merged_into_id was just set: the relationship may still hold what it loaded before.
        queue_webhook_event(
            "idea.merged",
            lambda: {
                "idea": {**idea_json(source), "merged_into": target.number},
                "merge": {"into": target.number},
            },
        )
