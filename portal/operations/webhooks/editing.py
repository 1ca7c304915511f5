"""What admins do with webhooks: add, change, pause, resume and delete them, rotate their
secret, send a test, and send a failed event again. A failing hook is shown to admins,
never switched off."""

import json
import secrets
from contextlib import suppress

from flask_babel import format_number

from portal.extensions import db
from portal.i18n import gettext as _
from portal.markup import clean_line, clean_text
from portal.models import Webhook, WebhookDelivery, utcnow
from portal.operations import Conflict, ValidationError
from portal.operations.admin import require_admin
from portal.operations.audit import record_audit
from portal.operations.web_addresses import readable, web_address
from portal.operations.webhooks.delivery import (
    EXCERPT_CHARS,
    DeliveryFailed,
    address_problem,
    send_delivery,
)
from portal.operations.webhooks.queueing import ENVELOPE, EVENTS, delivery_body, queue_deliveries

PING = WebhookDelivery.TEST_EVENT
TEST_TIMEOUT = 5
URL_MAX = 2000
DESCRIPTION_MAX = 200


def validate_webhook(form) -> dict:
    """The cleaned url, events and description; raises ValidationError."""
    url = clean_text(form.get("url", ""))
    events = form.getlist("events") if hasattr(form, "getlist") else form.get("events", [])
    description = clean_line(form.get("description", ""))
    errors = {}
    if problem := url_problem(url) or address_problem(url):
        errors["url"] = problem
    if not events or any(event not in EVENTS for event in events):
        errors["events"] = _("Choose at least one event.")
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = _("At most %(max)s characters.", max=format_number(DESCRIPTION_MAX))
    if errors:
        raise ValidationError(errors)
    return {"url": url, "events": [e for e in EVENTS if e in events], "description": description}


def url_problem(url: str) -> str | None:
    """What is wrong with url as a webhook address, or None."""
    if not url:
        return _("Give the address that should receive the events.")
    if len(url) > URL_MAX:
        return _("An address has at most %(max)s characters.", max=format_number(URL_MAX))
    if readable(url) is None:
        return _("This is not a valid address.")
    parts = web_address(url)
    if parts is None:
        return _("An address starting with https:// (or http://) and a host name.")
    if parts.username or parts.password:
        return _("Leave the user name and password out: receivers check the signature instead.")
    return None


def _settings(hook: Webhook) -> dict:
    return {"url": hook.url, "events": list(hook.events), "description": hook.description,
            "is_active": hook.is_active}  # fmt: skip


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


def create_webhook(actor, form) -> Webhook:
    """Add a hook with a fresh signing secret; raises OperationError."""
    require_admin(actor)
    values = validate_webhook(form)
    hook = Webhook(**values, secret=new_secret(), created_by_id=actor.id, is_active=True,
                   failure_streak=0)  # fmt: skip
    db.session.add(hook)
    db.session.flush()
    record_audit(actor, "webhook.create", hook, None, _settings(hook))
    return hook


def update_webhook(actor, hook: Webhook, form) -> Webhook:
    """Change a hook's address, events or description; raises OperationError."""
    require_admin(actor)
    values = validate_webhook(form)
    before = _settings(hook)
    for field, value in values.items():
        setattr(hook, field, value)
    db.session.flush()
    record_audit(actor, "webhook.update", hook, before, _settings(hook))
    return hook


def set_webhook_active(actor, hook: Webhook, active: bool) -> None:
    """Pause a hook (its queued deliveries are not sent) or resume it."""
    require_admin(actor)
    before = {"is_active": hook.is_active}
    hook.is_active = active
    record_audit(actor, "webhook.resume" if active else "webhook.pause", hook, before,
                 {"is_active": active})  # fmt: skip


def rotate_webhook_secret(actor, hook: Webhook) -> None:
    """Give the hook a new secret; the audit notes the change, never the secret."""
    require_admin(actor)
    hook.secret = new_secret()
    record_audit(actor, "webhook.rotate_secret", hook)


def delete_webhook(actor, hook: Webhook) -> None:
    """Remove a hook with its delivery log; queued deliveries are then dropped."""
    require_admin(actor)
    record_audit(actor, "webhook.delete", hook, _settings(hook), None)
    db.session.execute(db.delete(WebhookDelivery).filter_by(webhook_id=hook.id))
    db.session.delete(hook)
    db.session.flush()


def send_test(actor, hook: Webhook) -> WebhookDelivery:
    """Send a ping now (paused or not) and log it; the answer is on the returned delivery."""
    require_admin(actor)
    delivery = WebhookDelivery(webhook=hook, event=PING, body="")
    db.session.add(delivery)
    db.session.flush()
    delivery.body = delivery_body(
        delivery, {"webhook": {"id": hook.id, "events": list(hook.events)}}
    )
    record_audit(actor, "webhook.test", hook)
    with suppress(DeliveryFailed):  # the delivery's row tells the admin what went wrong
        send_delivery(delivery, timeout=TEST_TIMEOUT)
    return delivery


def send_again(actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Queue a failed or abandoned event once more as a new delivery (a new id, the same
    fields, signed when sent); one still being retried is retried no more, so the receiver
    gets the event once. Raises OperationError."""
    require_admin(actor)
    hook = delivery.webhook
    if not delivery.can_send_again:
        raise Conflict(_("Only an event that failed or was given up on can be sent again."))
    if not hook.is_active:
        raise Conflict(_("The webhook is paused: resume it to send deliveries again."))
    fields = {k: v for k, v in json.loads(delivery.body).items() if k not in ENVELOPE}
    (again,) = queue_deliveries([hook], delivery.event, fields)
    if delivery.gave_up_at is None:
        delivery.gave_up_at = utcnow()
        delivery.error = f"{delivery.error} Sent again as #{again.id}."[:EXCERPT_CHARS]
    record_audit(actor, "webhook.send_again", hook, {"delivery": delivery.id},
                 {"delivery": again.id})  # fmt: skip
    return again
