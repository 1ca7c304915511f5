"""Webhooks: admins name an address and the events it hears; each event is signed and sent.

An event writes one WebhookDelivery (the exact body) and one outbox row per subscribed hook
in the event's own transaction; the worker sends it, retrying with the outbox's backoff
until MAX_ATTEMPTS have failed. A failing hook is shown to admins, never switched off.
Only what customers may read leaves: no held or hidden idea, never an internal note.

Addresses are public ones only (no server-side request forgery): a hook may not point at
a private, loopback, link-local, multicast or reserved address, checked when it is saved
and again at every delivery, after resolving the name, on the very address then connected
to (so a name that changes its answer in between cannot reach inside).
WEBHOOK_ALLOW_PRIVATE_ADDRESSES lifts this, for development and tests on one machine.
"""

import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from urllib.parse import quote, urlsplit

from flask import current_app
from flask_babel import format_number

from portal.database import keep_writes
from portal.extensions import db
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.markup import clean_text
from portal.models import (
    Comment,
    Idea,
    OutboxMessage,
    StatusChange,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from portal.operations import Conflict, ValidationError
from portal.operations.admin import require_admin
from portal.operations.audit import record_audit
from portal.outbox import GiveUp
from portal.representations import comment_json, idea_json, iso, person_json

WEBHOOK = "webhook"  # the outbox kind
EVENTS = {
    "idea.created": _l("A new idea is published (held ideas once a moderator approves them)"),
    "idea.status_changed": _l("An idea's status changes, with the team's public response"),
    "comment.created": _l("Someone comments on a published idea (never internal notes)"),
    "idea.merged": _l("A duplicate is merged into its original"),
}
PING = WebhookDelivery.TEST_EVENT
MAX_ATTEMPTS = 10  # with the outbox's backoff: the last try about three hours after the first
TIMEOUT = 10
TEST_TIMEOUT = 5
URL_MAX = 2000
DESCRIPTION_MAX = 200
EXCERPT_CHARS = 500
SIGNATURE_HEADER = "X-Stimme-Signature"
USER_AGENT = "Stimme-Webhooks/1"


class DeliveryFailed(Exception):
    """The receiver did not answer with a 2xx; the delivery's log row says what happened."""


# -- events -----------------------------------------------------------------------------


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
    return _queue(hooks, event, payload() if callable(payload) else payload)


def _queue(hooks: list[Webhook], event: str, fields: dict) -> list[WebhookDelivery]:
    deliveries = [WebhookDelivery(webhook=hook, event=event, body="") for hook in hooks]
    db.session.add_all(deliveries)
    db.session.flush()  # ids, which the body carries
    for delivery in deliveries:
        delivery.body = _body(delivery, fields)
        db.session.add(OutboxMessage(kind=WEBHOOK, payload={"delivery_id": delivery.id}))
    return deliveries


ENVELOPE = ("event", "delivery", "created_at")  # what _body adds to an event's fields


def _body(delivery: WebhookDelivery, fields: dict) -> str:
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


# -- sending ----------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: str) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>" under the hook's secret."""
    message = f"{timestamp}.{body}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, event: str, delivery_id: int, body: str) -> dict[str, str]:
    timestamp = int(time.time())
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Stimme-Event": event,
        "X-Stimme-Delivery": str(delivery_id),
        SIGNATURE_HEADER: f"t={timestamp},v1={sign(secret, timestamp, body)}",
    }


# -- where a hook may send: public addresses only -------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 addresses reached through a gateway
SPECIAL_ADDRESSES = ("is_private", "is_loopback", "is_link_local", "is_multicast",
                     "is_reserved", "is_unspecified")  # fmt: skip


class AddressRefused(Exception):
    """The hook's host is, or resolves to, an address webhooks may not reach; `shown` names
    it for the admin's form (the message, in English, goes to the delivery log)."""

    def __init__(self, message: str, shown: str = ""):
        super().__init__(message)
        self.shown = shown


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for an address on the public internet; IPv4 inside IPv6 is judged as IPv4."""
    if address.version == 6:
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.ip_address(int(address) & 0xFFFFFFFF)
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is not None:
            return is_public_address(embedded)
    return address.is_global and not any(getattr(address, name) for name in SPECIAL_ADDRESSES)


def _resolve(host: str, port: int) -> list[tuple]:
    """The (family, socket address) pairs host resolves to; raises OSError."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(family, sockaddr) for family, _type, _proto, _name, sockaddr in found]


def public_addresses(host: str, port: int) -> list[tuple]:
    """host's addresses, all of them public unless the site allows private ones; raises
    AddressRefused (when any is not: a name may answer differently from one lookup to the
    next) or OSError (no answer)."""
    addresses = _resolve(host, port)
    if current_app.config.get("WEBHOOK_ALLOW_PRIVATE_ADDRESSES"):
        return addresses
    for _family, sockaddr in addresses:
        address = ipaddress.ip_address(sockaddr[0])
        if not is_public_address(address):
            shown = host if host == str(address) else f"{host} ({address})"
            raise AddressRefused(
                f"{shown} is a private, local or reserved address: webhooks go to public "
                "addresses only.",
                shown,
            )
    return addresses


def address_problem(url: str) -> str | None:
    """Why a well-formed url may not receive webhooks, or None. A name that does not
    resolve now is let through: every delivery checks it again."""
    parts = urlsplit(url)
    try:
        public_addresses(_ascii_host(parts.hostname), parts.port or _DEFAULT_PORTS[parts.scheme])
    except AddressRefused as refused:
        return _(
            "%(host)s is a private, local or reserved address: webhooks go to public "
            "addresses only.",
            host=refused.shown,
        )
    except (OSError, UnicodeError):
        return None
    return None


def _ascii_host(host: str) -> str:
    return host if host.isascii() else host.encode("idna").decode("ascii")


def _connect(addresses: list[tuple], timeout: float) -> socket.socket:
    """A connection to the first of the checked addresses that answers; raises OSError."""
    failure = OSError("The host has no address.")
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
            return sock
        except OSError as error:
            sock.close()
            failure = error
    raise failure


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """Connects to the addresses checked beforehand, never resolving the name again; the
    Host header (and TLS's server name) stay the hook's."""

    def __init__(self, host, port, addresses, timeout):
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self):
        self.sock = _connect(self.addresses, self.timeout)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, addresses, timeout):
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self):
        sock = _connect(self.addresses, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _excerpt(response) -> str:
    text = response.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")
    return clean_text(text)[:EXCERPT_CHARS]


def _post(url: str, body: str, headers: dict, timeout: float) -> tuple[int, str]:
    """POST body; returns the status code and the start of the answer; raises on no answer
    and AddressRefused before connecting anywhere it may not. A redirect is an answer, not
    an address to post the event to: it is never followed."""
    parts = urlsplit(url)
    host = _ascii_host(parts.hostname)
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    addresses = public_addresses(host, port)
    kind = _CheckedHTTPSConnection if parts.scheme == "https" else _CheckedHTTPConnection
    connection = kind(host, parts.port, addresses, timeout)
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    try:
        connection.request("POST", path, body=body.encode(), headers=headers)
        response = connection.getresponse()
        return response.status, _excerpt(response)
    finally:
        connection.close()


def _describe(error: Exception) -> str:
    text = str(error) if isinstance(error, AddressRefused) else f"{type(error).__name__}: {error}"
    return clean_text(text)[:EXCERPT_CHARS]


def send_delivery(delivery: WebhookDelivery, timeout: float = TIMEOUT) -> None:
    """POST the delivery once and log the answer; raises DeliveryFailed unless it was a 2xx.

    What is pending is committed first, so no database lock (SQLite takes its write lock
    at BEGIN) is held while a slow receiver answers.
    """
    hook = delivery.webhook
    url, body = hook.url, delivery.body
    headers = signed_headers(hook.secret, delivery.event, delivery.id, body)
    keep_writes()
    started = time.monotonic()
    code, excerpt, error = None, "", ""
    try:
        code, excerpt = _post(url, body, headers, timeout)
    except Exception as failure:  # no answer at all: the log says why, the caller retries
        error = _describe(failure)
    delivery.attempts += 1
    delivery.duration_ms = round((time.monotonic() - started) * 1000)
    delivery.last_attempt_at = utcnow()
    delivery.response_code, delivery.response_excerpt = code, excerpt
    if code is not None and 200 <= code < 300:
        delivery.error, delivery.delivered_at = "", utcnow()
        hook.failure_streak = 0
        db.session.flush()
        return
    delivery.error = error or f"The receiver answered HTTP {code}."
    hook.failure_streak = Webhook.failure_streak + 1  # in SQL: two workers may fail at once
    db.session.flush()
    raise DeliveryFailed(delivery.error)


def send_queued(payload: dict) -> None:
    """The worker's side: send one queued delivery; raises DeliveryFailed to be retried
    later, GiveUp once MAX_ATTEMPTS failed or when the hook is paused."""
    delivery = db.session.get(WebhookDelivery, payload["delivery_id"])
    if delivery is None or delivery.delivered_at or delivery.gave_up_at:
        return  # the hook was deleted, or this delivery is settled
    if not delivery.webhook.is_active:
        delivery.gave_up_at, delivery.error = utcnow(), "Not sent: the webhook is paused."
        raise GiveUp(delivery.error)
    try:
        send_delivery(delivery)
    except DeliveryFailed:
        if delivery.attempts < MAX_ATTEMPTS:
            raise
        delivery.gave_up_at = utcnow()
        raise GiveUp(f"Gave up after {delivery.attempts} attempts: {delivery.error}") from None


# -- what admins do ---------------------------------------------------------------------


def validate_webhook(form) -> dict:
    """The cleaned url, events and description; raises ValidationError."""
    url = clean_text(form.get("url", ""))
    events = form.getlist("events") if hasattr(form, "getlist") else form.get("events", [])
    description = " ".join(clean_text(form.get("description", "")).split())
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
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is no number)
    except ValueError:
        return _("This is not a valid address.")
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
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
    delivery.body = _body(delivery, {"webhook": {"id": hook.id, "events": list(hook.events)}})
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
    (again,) = _queue([hook], delivery.event, fields)
    if delivery.gave_up_at is None:
        delivery.gave_up_at = utcnow()
        delivery.error = f"{delivery.error} Sent again as #{again.id}."[:EXCERPT_CHARS]
    record_audit(actor, "webhook.send_again", hook, {"delivery": delivery.id},
                 {"delivery": again.id})  # fmt: skip
    return again


def last_attempts(hooks: list[Webhook]) -> dict[int, WebhookDelivery]:
    """Each hook's most recently attempted delivery (admins keep a handful of hooks)."""
    latest = {}
    attempted = WebhookDelivery.last_attempt_at.is_not(None)
    for hook in hooks:
        delivery = db.session.scalar(
            db.select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == hook.id, attempted)
            .order_by(WebhookDelivery.last_attempt_at.desc(), WebhookDelivery.id.desc())
            .limit(1)
        )
        if delivery is not None:
            latest[hook.id] = delivery
    return latest


def failing_webhook_count() -> int:
    return db.session.scalar(db.select(db.func.count(Webhook.id)).where(Webhook.failure_streak > 0))
