"""Sending a webhook delivery: signed, posted once per try, its answer logged; the worker
retries with the outbox's backoff until MAX_ATTEMPTS have failed.

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
import socket
import time
from urllib.parse import quote, urlsplit

from flask import current_app

from portal.database import keep_writes
from portal.extensions import db
from portal.i18n import gettext as _
from portal.markup import clean_text
from portal.models import Webhook, WebhookDelivery, utcnow
from portal.outbox import GiveUp

MAX_ATTEMPTS = 10  # with the outbox's backoff: the last try about three hours after the first
TIMEOUT = 10
EXCERPT_CHARS = 500
SIGNATURE_HEADER = "X-Stimme-Signature"
USER_AGENT = "Stimme-Webhooks/1"


class DeliveryFailed(Exception):
    """The receiver did not answer with a 2xx; the delivery's log row says what happened."""


# -- signing ---------------------------------------------------------------------------


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


# -- sending ---------------------------------------------------------------------------


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
