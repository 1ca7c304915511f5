"""Webhooks: signed events reach a real HTTP server on loopback, failures are retried and
shown to admins, and nothing a customer may not read ever leaves (issue 6, point 3)."""

import hashlib
import hmac
import html
import json
import re
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import htmx_headers
from portal.config import ConfigError, load_config
from portal.extensions import db
from portal.models import (
    AuditEntry,
    Idea,
    OutboxMessage,
    Role,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from portal.operations.webhooks import delivery as sending
from portal.operations.webhooks.delivery import MAX_ATTEMPTS
from portal.operations.webhooks.editing import new_secret
from portal.operations.webhooks.queueing import EVENTS
from portal.outbox import backoff
from portal.worker import drain

# -- a receiver, as a customer's integration would run one ----------------------------


class ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers["Content-Length"]))
        receiver.requests.append((self.path, self.headers, body))
        code = receiver.answers.pop(0) if receiver.answers else receiver.default
        reply = b'{"ok": true}' if code < 300 else f"Trouble {code} here".encode()
        self.send_response(code)
        if 300 <= code < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass  # the test output stays quiet


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every request; `answers` are the status codes
    to give next, in order, then `default`."""

    def __init__(self):
        self.requests: list = []
        self.answers: list[int] = []
        self.default = 200
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), ReceiverHandler)
        self.server.receiver = self
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/stimme"
        # Polled every 10 ms, not 500: shutdown() waits for the next poll, in every test.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def take(self) -> list:
        taken, self.requests = self.requests, []
        return taken


@pytest.fixture
def receiver():
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join()


def verify(secret: str, headers, body: bytes, tolerance: int = 300) -> dict:
    """What a receiver does before trusting a request: check the signature and its age."""
    fields = dict(part.split("=", 1) for part in headers["X-Stimme-Signature"].split(","))
    timestamp = int(fields["t"])
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"]), "the signature does not match"
    assert abs(time.time() - timestamp) < tolerance
    return json.loads(body)


# -- helpers --------------------------------------------------------------------------


def add_hook(app, url, events=tuple(EVENTS), **fields) -> Webhook:
    with app.app_context():
        hook = Webhook(url=url, events=list(events), secret=new_secret(), **fields)
        db.session.add(hook)
        db.session.commit()
        db.session.refresh(hook)
        db.session.expunge(hook)
        return hook


def run_worker(app) -> None:
    with app.app_context():
        drain()


def deliveries(app) -> list[WebhookDelivery]:
    with app.app_context():
        rows = db.session.scalars(db.select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        db.session.expunge_all()
        return rows


def make_due(app) -> None:
    """Move every waiting retry to now, instead of sleeping through the backoff."""
    with app.app_context():
        db.session.execute(
            db.update(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None))
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


def as_user(client, auth, user):
    auth.logout()
    auth.login(user)


# -- the four events ------------------------------------------------------------------


def test_every_event_arrives_signed_with_its_payload(client, auth, make, app, receiver):
    hook = add_hook(app, receiver.url)
    board = make.board()
    customer = make.user(name="Ada")
    owner, moderator = make.user(Role.OWNER, name="Olga"), make.user(Role.MODERATOR)
    original = make.idea(board, customer, "Export reports as CSV")
    duplicate = make.idea(board, make.user(), "CSV export for reports")
    as_user(client, auth, customer)
    client.post(f"/ideas/{original}/comments", data={"body": "Semicolons, please."})
    as_user(client, auth, owner)
    answer = {"status": "planned", "response": "Next **month**."}
    client.post(f"/ideas/{original}/status", data=answer)
    as_user(client, auth, moderator)
    client.post(f"/ideas/{duplicate}/merge", data={"into": str(original)})
    run_worker(app)

    received = receiver.take()
    assert [headers["X-Stimme-Event"] for _, headers, _ in received] == [
        "idea.created", "idea.created", "comment.created", "idea.status_changed", "idea.merged",
    ]  # fmt: skip
    logged = deliveries(app)
    for (path, headers, body), delivery in zip(received, logged, strict=True):
        assert path == "/hooks/stimme"
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"] == "Stimme-Webhooks/1"
        assert headers["X-Stimme-Delivery"] == str(delivery.id)
        payload = verify(hook.secret, headers, body)
        assert payload["event"] == headers["X-Stimme-Event"] == delivery.event
        assert payload["delivery"] == delivery.id
        assert payload["created_at"].endswith("Z")
        assert body.decode() == delivery.body  # the log keeps the exact bytes signed
        assert delivery.response_code == 200 and delivery.delivered_at is not None

    created, _, commented, changed, merged = [json.loads(body) for _, _, body in received]
    assert created["idea"]["number"] == original
    assert created["idea"]["title"] == "Export reports as CSV"
    assert created["idea"]["author"]["name"] == "Ada"
    assert created["idea"]["url"] == f"http://localhost/ideas/{original}"
    assert commented["comment"]["body"] == "Semicolons, please."
    assert commented["comment"]["idea"] == original and commented["idea"]["comment_count"] == 1
    change = changed["status_change"]
    assert (change["from"], change["to"]) == ("open", "planned")
    assert change["response"] == answer["response"]
    assert "<strong>month</strong>" in change["response_html"]
    assert change["author"]["name"] == "Olga"
    assert changed["idea"]["status"] == "planned"
    assert merged["idea"]["number"] == duplicate and merged["idea"]["status"] == "duplicate"
    assert merged["idea"]["merged_into"] == original and merged["merge"] == {"into": original}


def test_a_hook_hears_only_the_events_it_chose(make, app, receiver):
    add_hook(app, receiver.url, events=["idea.status_changed"])
    make.idea(make.board(), make.user())
    run_worker(app)
    assert receiver.take() == [] and deliveries(app) == []


def test_an_internal_note_never_leaves(client, auth, make, app, receiver):
    add_hook(app, receiver.url, events=["comment.created"])
    number = make.idea(make.board(), make.user())
    auth.login(make.user(Role.OWNER))
    client.post(f"/ideas/{number}/comments",
                data={"body": "Customer X pays 40k for this.", "kind": "internal"})  # fmt: skip
    run_worker(app)
    assert receiver.take() == [] and deliveries(app) == []

    client.post(f"/ideas/{number}/comments", data={"body": "We are on it.", "kind": "official"})
    run_worker(app)
    ((_, _, body),) = receiver.take()
    assert json.loads(body)["comment"]["is_official"] is True
    assert "40k" not in body.decode()


def test_a_held_idea_is_announced_only_once_approved(client, auth, make, app, receiver):
    add_hook(app, receiver.url)
    board = make.board(hold_new_posts=True)
    number = make.idea(board, make.user(), "A first idea from someone new")
    run_worker(app)
    assert receiver.take() == []

    auth.login(make.user(Role.MODERATOR))
    with app.app_context():
        idea_id = db.session.scalar(db.select(Idea.id).filter_by(number=number))
    client.post(f"/moderation/idea/{idea_id}", data={"action": "approve"})
    run_worker(app)
    ((_, headers, body),) = receiver.take()
    assert headers["X-Stimme-Event"] == "idea.created"
    assert json.loads(body)["idea"]["number"] == number


def test_nothing_is_said_about_a_hidden_idea(client, auth, make, app, receiver):
    add_hook(app, receiver.url, events=["idea.status_changed", "comment.created"])
    number = make.idea(make.board(), make.user(), is_hidden=True)
    auth.login(make.user(Role.OWNER))
    client.post(f"/ideas/{number}/status", data={"status": "planned", "response": ""})
    run_worker(app)
    assert receiver.take() == [] and deliveries(app) == []


# -- failures: retried, logged, shown; never silently switched off ----------------------


def test_a_failed_delivery_is_retried_later_then_succeeds(client, auth, make, app, receiver):
    hook = add_hook(app, receiver.url)
    receiver.answers = [500]
    make.idea(make.board(), make.user())
    run_worker(app)
    ((_, first_headers, first_body),) = receiver.take()

    (delivery,) = deliveries(app)
    assert (delivery.attempts, delivery.response_code, delivery.delivered_at) == (1, 500, None)
    assert delivery.error == "The receiver answered HTTP 500."
    assert delivery.response_excerpt == "Trouble 500 here"
    with app.app_context():
        retry = db.session.scalar(db.select(OutboxMessage).filter_by(kind="webhook"))
        wait = retry.next_attempt_at - utcnow()
        assert backoff(1) - timedelta(seconds=5) < wait <= backoff(1)
        assert db.session.get(Webhook, hook.id).failure_streak == 1

    auth.login(make.user(Role.ADMIN))
    log = client.get(f"/admin/webhooks/{hook.id}/deliveries").text
    assert "HTTP 500" in log and "failed, will retry" in log and "Trouble 500 here" in log

    run_worker(app)
    assert receiver.take() == []  # backing off: not retried at once
    make_due(app)
    run_worker(app)
    ((_, headers, body),) = receiver.take()
    assert body == first_body  # the same bytes, the same delivery id
    assert headers["X-Stimme-Delivery"] == first_headers["X-Stimme-Delivery"]
    verify(hook.secret, headers, body)
    (delivery,) = deliveries(app)
    assert (delivery.attempts, delivery.response_code, delivery.error) == (2, 200, "")
    assert delivery.delivered_at is not None and delivery.duration_ms is not None
    with app.app_context():
        assert db.session.get(Webhook, hook.id).failure_streak == 0
    assert 'data-state="active"' in client.get("/admin/webhooks").text


def test_after_the_last_attempt_it_gives_up_but_the_hook_stays_on(
    client, auth, make, app, receiver
):
    hook = add_hook(app, receiver.url)
    receiver.default = 500
    make.idea(make.board(), make.user())
    for _ in range(MAX_ATTEMPTS):
        make_due(app)
        run_worker(app)
    assert len(receiver.take()) == MAX_ATTEMPTS
    make_due(app)
    run_worker(app)
    assert receiver.take() == []  # given up: never tried again

    (delivery,) = deliveries(app)
    assert delivery.attempts == MAX_ATTEMPTS and delivery.gave_up_at is not None
    with app.app_context():
        row = db.session.get(Webhook, hook.id)
        assert row.is_active and row.failure_streak == MAX_ATTEMPTS
        message = db.session.scalar(db.select(OutboxMessage).filter_by(kind="webhook"))
        assert message.last_error.startswith("GiveUp: Gave up after")

    auth.login(make.user(Role.ADMIN))
    page = client.get("/admin/webhooks").text
    assert 'data-state="failing"' in page and f"{MAX_ATTEMPTS} attempts in a row failed" in page
    assert "HTTP 500" in page and "The receiver answered HTTP 500." in page
    notice = client.get("/admin/boards").text
    assert "1 webhook is failing" in notice
    assert "gave up" in client.get(f"/admin/webhooks/{hook.id}/deliveries").text

    receiver.default = 200  # the receiver is back: the next event goes through
    make.idea(make.board("other"), make.user(), "Dark mode for the dashboard")
    run_worker(app)
    assert len(receiver.take()) == 1
    assert "webhook is failing" not in client.get("/admin/boards").text


def test_a_redirect_is_an_answer_not_an_address_to_follow(make, app, receiver):
    add_hook(app, receiver.url)
    receiver.answers = [302]
    make.idea(make.board(), make.user())
    run_worker(app)
    assert len(receiver.take()) == 1  # /elsewhere was never asked
    (delivery,) = deliveries(app)
    assert delivery.response_code == 302 and delivery.delivered_at is None


def test_an_unreachable_receiver_is_logged_with_the_reason(make, app, receiver):
    url = receiver.url
    receiver.server.shutdown()
    receiver.server.server_close()
    receiver.server.shutdown = lambda: None  # the fixture's teardown has nothing left to stop
    receiver.server.server_close = lambda: None
    add_hook(app, url)
    make.idea(make.board(), make.user())
    run_worker(app)
    (delivery,) = deliveries(app)
    assert delivery.response_code is None and delivery.attempts == 1
    assert "refused" in delivery.error.lower()


# -- what admins do -------------------------------------------------------------------


def test_send_test_pings_now_and_shows_the_answer(client, auth, make, app, receiver):
    hook = add_hook(app, receiver.url, events=["idea.created"])
    auth.login(make.user(Role.ADMIN))
    answer = client.post(f"/admin/webhooks/{hook.id}/test", follow_redirects=True)
    assert "The test was delivered: HTTP 200" in answer.text
    ((_, headers, body),) = receiver.take()
    assert headers["X-Stimme-Event"] == "ping"
    payload = verify(hook.secret, headers, body)
    assert payload["webhook"] == {"id": hook.id, "events": ["idea.created"]}
    assert "<code>ping</code>" in answer.text and "HTTP 200" in answer.text

    receiver.answers = [503]
    answer = client.post(f"/admin/webhooks/{hook.id}/test", follow_redirects=True)
    assert "The test failed: The receiver answered HTTP 503." in answer.text
    ping = deliveries(app)[-1]
    assert (ping.event, ping.response_code, ping.attempts) == ("ping", 503, 1)
    assert 'data-state="failing"' in client.get("/admin/webhooks").text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == 0  # not retried


def test_an_admin_adds_edits_pauses_and_deletes_a_hook(client, auth, make, app, receiver):
    auth.login(make.user(Role.ADMIN))
    form = client.get("/admin/webhooks").text
    assert '<label for="f-url">Payload URL</label>' in form and "<legend>Events</legend>" in form
    assert "Events from private boards are sent too" in form
    created = client.post("/admin/webhooks", data={"url": receiver.url, "events": ["idea.created"],
                                                   "description": "CRM sync"})  # fmt: skip
    assert created.status_code == 303
    with app.app_context():
        hook = db.session.scalar(db.select(Webhook))
        hook_id, secret = hook.id, hook.secret
    page = client.get(created.location).text
    assert secret in page and "X-Stimme-Signature" in page and "CRM sync" in page

    edited = {"url": receiver.url + "?v=2", "events": ["idea.created", "idea.merged"]}
    assert client.post(f"/admin/webhooks/{hook_id}", data=edited).status_code == 303
    client.post(f"/admin/webhooks/{hook_id}/secret")
    client.post(f"/admin/webhooks/{hook_id}/pause")
    with app.app_context():
        hook = db.session.get(Webhook, hook_id)
        assert hook.url.endswith("?v=2") and hook.events == ["idea.created", "idea.merged"]
        assert hook.secret != secret and not hook.is_active
    assert 'data-state="paused"' in client.get("/admin/webhooks").text

    make.idea(make.board(), make.user())  # while paused: nothing is queued
    run_worker(app)
    assert receiver.take() == [] and deliveries(app) == []
    client.post(f"/admin/webhooks/{hook_id}/resume")
    make.idea(make.board("other"), make.user(), "Another idea")
    run_worker(app)
    assert len(receiver.take()) == 1

    deleted = client.post(f"/admin/webhooks/{hook_id}/delete", follow_redirects=True)
    assert "Deleted the webhook" in deleted.text and "No webhooks yet." in deleted.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(WebhookDelivery.id))) == 0
        actions = db.session.scalars(
            db.select(AuditEntry.action).where(AuditEntry.target_type == "webhook")
        ).all()
        assert sorted(actions) == sorted(["webhook.create", "webhook.update",
                                          "webhook.rotate_secret", "webhook.pause",
                                          "webhook.resume", "webhook.delete"])  # fmt: skip
        assert all(secret not in json.dumps([e.before, e.after])
                   for e in db.session.scalars(db.select(AuditEntry)))  # fmt: skip


def test_deliveries_queued_before_a_pause_are_dropped_and_say_so(client, auth, make, app, receiver):
    hook = add_hook(app, receiver.url)
    make.idea(make.board(), make.user())
    auth.login(make.user(Role.ADMIN))
    client.post(f"/admin/webhooks/{hook.id}/pause")
    run_worker(app)
    assert receiver.take() == []
    (delivery,) = deliveries(app)
    assert delivery.gave_up_at is not None and delivery.attempts == 0
    log = client.get(f"/admin/webhooks/{hook.id}/deliveries").text
    assert "Not sent: the webhook is paused." in log


def test_the_delivery_log_is_paged_newest_first(client, auth, make, app, receiver):
    hook = add_hook(app, receiver.url)
    board = make.board()
    for n in range(32):
        make.idea(board, make.user(), f"Idea number {n:02}")
    auth.login(make.user(Role.ADMIN))
    first = client.get(f"/admin/webhooks/{hook.id}/deliveries").text
    assert first.count("<code>idea.created</code>") == 30 and 'rel="next"' in first
    assert "waiting" in first  # queued, not yet sent
    second = client.get(f"/admin/webhooks/{hook.id}/deliveries?page=2", headers=htmx_headers())
    assert second.text.count("<code>idea.created</code>") == 2
    assert second.text.lstrip().startswith('<div id="idea-list"')  # the fragment only
    with app.app_context():
        oldest = db.session.scalar(db.select(db.func.min(WebhookDelivery.id)))
    assert f'id="delivery-{oldest}"' in second.text


# -- sending a failed event again ------------------------------------------------------


def again_path(delivery) -> str:
    return f"/admin/webhooks/{delivery.webhook_id}/deliveries/{delivery.id}/again"


def failed_event(app, make, receiver) -> tuple[Webhook, WebhookDelivery]:
    """A hook whose idea.created delivery failed once and waits for its retry."""
    hook = add_hook(app, receiver.url, events=["idea.created"])
    receiver.answers = [500]
    make.idea(make.board(), make.user(name="Ada"), "Export reports as CSV")
    run_worker(app)
    receiver.take()
    (delivery,) = deliveries(app)
    return hook, delivery


def test_an_admin_sends_a_failed_event_again(client, auth, make, app, receiver):
    hook, failed = failed_event(app, make, receiver)
    auth.login(make.user(Role.ADMIN))
    log = client.get(f"/admin/webhooks/{hook.id}/deliveries").text
    assert f'action="{again_path(failed)}"' in log and "failed, will retry" in log

    answer = client.post(again_path(failed), follow_redirects=True)
    assert f"Delivery #{failed.id} is queued to be sent again" in answer.text
    run_worker(app)
    ((_, headers, body),) = receiver.take()
    old, again = deliveries(app)
    assert headers["X-Stimme-Delivery"] == str(again.id) != str(failed.id)
    payload, original = verify(hook.secret, headers, body), json.loads(failed.body)
    assert payload["delivery"] == again.id and payload["event"] == "idea.created"
    assert {k: v for k, v in payload.items() if k not in ("delivery", "created_at")} == {
        k: v for k, v in original.items() if k not in ("delivery", "created_at")
    }
    assert payload["idea"]["title"] == "Export reports as CSV"
    assert again.delivered_at is not None and again.response_code == 200
    assert old.gave_up_at is not None
    assert old.error == f"The receiver answered HTTP 500. Sent again as #{again.id}."

    make_due(app)  # the old delivery's retry comes due: it is not sent twice
    run_worker(app)
    assert receiver.take() == []
    with app.app_context():
        entry = db.session.scalar(db.select(AuditEntry).filter_by(action="webhook.send_again"))
        assert (entry.target_type, entry.target_id) == ("webhook", hook.id)
        assert (entry.before, entry.after) == ({"delivery": failed.id}, {"delivery": again.id})
    log = client.get(f"/admin/webhooks/{hook.id}/deliveries").text
    assert f"Sent again as #{again.id}." in log and "webhook is failing" not in log


def test_a_given_up_event_waits_for_a_resume_and_goes_with_the_new_secret(
    client, auth, make, app, receiver
):
    hook = add_hook(app, receiver.url)
    make.idea(make.board(), make.user())
    auth.login(make.user(Role.ADMIN))
    client.post(f"/admin/webhooks/{hook.id}/pause")
    run_worker(app)
    (dropped,) = deliveries(app)
    assert dropped.gave_up_at is not None and dropped.attempts == 0

    refused = client.post(again_path(dropped), follow_redirects=True)
    assert "The webhook is paused: resume it to send deliveries again." in refused.text
    assert len(deliveries(app)) == 1

    client.post(f"/admin/webhooks/{hook.id}/resume")
    client.post(f"/admin/webhooks/{hook.id}/secret")
    assert client.post(again_path(dropped)).status_code == 303
    run_worker(app)
    ((_, headers, body),) = receiver.take()
    with app.app_context():
        secret = db.session.get(Webhook, hook.id).secret
    assert secret != hook.secret
    assert verify(secret, headers, body)["event"] == "idea.created"  # signed when sent
    assert deliveries(app)[0].error == "Not sent: the webhook is paused."  # left as it was


def test_only_a_failed_event_can_be_sent_again(client, auth, make, app, receiver):
    hook = add_hook(app, receiver.url)
    make.idea(make.board(), make.user())
    auth.login(make.user(Role.ADMIN))
    (waiting,) = deliveries(app)
    assert client.post(again_path(waiting)).status_code == 303
    log = client.get(f"/admin/webhooks/{hook.id}/deliveries").text
    assert "Only an event that failed or was given up on can be sent again." in log
    assert "waiting" in log and "Send again" not in log.split("</thead>")[1]
    run_worker(app)
    client.post(f"/admin/webhooks/{hook.id}/test")  # a ping: "Send test" sends one now
    receiver.answers = [500]
    client.post(f"/admin/webhooks/{hook.id}/test")
    delivered, ping, failed_ping = deliveries(app)
    assert delivered.id == waiting.id and delivered.delivered_at is not None
    assert failed_ping.response_code == 500
    log = client.get(f"/admin/webhooks/{hook.id}/deliveries").text
    assert "Send again" not in log.split("</thead>")[1]
    assert '<span class="tag tag-hidden">failed</span>' in log  # a ping is never retried
    for delivery in (delivered, ping, failed_ping):
        answer = client.post(again_path(delivery), follow_redirects=True)
        assert "Only an event that failed or was given up on can be sent again." in answer.text
    assert len(deliveries(app)) == 3
    other = add_hook(app, receiver.url + "/other")
    assert client.post(f"/admin/webhooks/{other.id}/deliveries/{ping.id}/again").status_code == 404
    assert client.post(f"/admin/webhooks/{hook.id}/deliveries/{2**40}/again").status_code == 404


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.MODERATOR, Role.OWNER])
def test_only_admins_send_again(client, auth, make, app, receiver, role):
    _, failed = failed_event(app, make, receiver)
    auth.login(make.user(role))
    assert client.post(again_path(failed)).status_code == 403
    auth.logout()
    visitor = client.post(again_path(failed))
    assert visitor.status_code == 303 and "/signin" in visitor.location
    assert len(deliveries(app)) == 1
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == 1  # its retry


def test_send_again_needs_the_forms_csrf_token(client, auth, make, app, receiver, monkeypatch):
    hook, failed = failed_event(app, make, receiver)
    auth.login(make.user(Role.ADMIN))
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    log = client.get(f"/admin/webhooks/{hook.id}/deliveries").text
    form = log[log.index(f'action="{again_path(failed)}"') :]
    assert 'name="csrf_token"' in form[: form.index("</form>")]
    assert client.post(again_path(failed)).status_code == 400
    assert len(deliveries(app)) == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Give the address that should receive the events."),
        ("ftp://example.com/hook", "An address starting with https://"),
        ("example.com/hook", "An address starting with https://"),
        ("https:///no-host", "An address starting with https://"),
        ("https://example.com:port/x", "This is not a valid address."),
        ("https://bob:secret@example.com/x", "Leave the user name and password out"),
        ("https://example.com/" + "a" * 2000, "An address has at most 2,000 characters."),
    ],
)
def test_a_bad_address_is_refused_and_what_was_typed_is_kept(client, auth, make, url, message):
    auth.login(make.user(Role.ADMIN))
    response = client.post("/admin/webhooks", data={"url": url, "events": ["idea.merged"],
                                                    "description": "Ops <alerts>"})  # fmt: skip
    assert response.status_code == 422
    assert f'<p class="field-error" id="f-url-error">{html.escape(message)}' in response.text
    assert f'value="{html.escape(url)}"' in response.text
    assert 'value="Ops &lt;alerts&gt;"' in response.text
    assert 'value="idea.merged" checked' in response.text
    assert 'value="idea.created" checked' not in response.text


def test_a_hook_needs_an_event(client, auth, make, app, receiver):
    hook = add_hook(app, receiver.url)
    auth.login(make.user(Role.ADMIN))
    response = client.post(f"/admin/webhooks/{hook.id}", data={"url": receiver.url + "/new"})
    assert response.status_code == 422 and "Choose at least one event." in response.text
    assert f'value="{receiver.url}/new"' in response.text
    with app.app_context():
        assert db.session.get(Webhook, hook.id).url == receiver.url


ROUTES = [
    ("get", "/admin/webhooks"),
    ("post", "/admin/webhooks"),
    ("get", "/admin/webhooks/{id}"),
    ("post", "/admin/webhooks/{id}"),
    ("get", "/admin/webhooks/{id}/deliveries"),
    ("post", "/admin/webhooks/{id}/test"),
    ("post", "/admin/webhooks/{id}/pause"),
    ("post", "/admin/webhooks/{id}/resume"),
    ("post", "/admin/webhooks/{id}/secret"),
    ("post", "/admin/webhooks/{id}/delete"),
    ("post", "/admin/webhooks/{id}/deliveries/1/again"),
]


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.MODERATOR, Role.OWNER])
def test_only_admins_reach_webhooks(client, auth, make, app, receiver, role):
    hook = add_hook(app, receiver.url)
    auth.login(make.user(role))
    for method, path in ROUTES:
        response = getattr(client, method)(path.format(id=hook.id), data={"url": "http://x.test"})
        assert response.status_code == 403, (method, path)
    assert receiver.take() == []
    with app.app_context():
        row = db.session.get(Webhook, hook.id)
        assert row.is_active and row.url == receiver.url and row.secret == hook.secret
        assert db.session.scalar(db.select(db.func.count(WebhookDelivery.id))) == 0


def test_visitors_are_sent_to_sign_in(client, app, receiver):
    hook = add_hook(app, receiver.url)
    for method, path in ROUTES:
        response = getattr(client, method)(path.format(id=hook.id))
        assert response.status_code == 303 and "/signin" in response.location, (method, path)
    assert receiver.take() == []


# -- public addresses only: no server-side request forgery ----------------------------
# The suite runs in development, where WEBHOOK_ALLOW_PRIVATE_ADDRESSES is on so that the
# receiver above can listen on 127.0.0.1; these tests switch it off, as production has it.


@pytest.fixture
def public_only(app):
    previous = app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"]
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = False
    yield
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = previous


@pytest.fixture
def dns(monkeypatch):
    """Names that answer what a test says (a rebinding attacker's name server); `asked`
    counts the lookups. Every other name goes to the real resolver."""
    answers, asked = {}, []
    real = sending._resolve

    def resolve(host, port):
        if host not in answers:
            return real(host, port)
        asked.append(host)
        return [
            (socket.AF_INET6, (a, port, 0, 0)) if ":" in a else (socket.AF_INET, (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(sending, "_resolve", resolve)
    answers["asked"] = asked
    return answers


NOT_PUBLIC = [
    "http://127.0.0.1:8080/hook",
    "http://10.0.0.7/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.20/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
    "http://0.0.0.0:8080/hook",
    "http://224.0.0.1/hook",  # multicast
    "http://240.0.0.1/hook",  # reserved
    "http://[::1]:8080/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4 inside IPv6
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://127.1:8080/hook",  # short, decimal and hex spellings of 127.0.0.1
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://localhost:8080/hook",  # a name for loopback
]


@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_a_private_or_local_address_is_refused_when_saved(client, auth, make, app, public_only,
                                                          url):  # fmt: skip
    auth.login(make.user(Role.ADMIN))
    response = client.post("/admin/webhooks", data={"url": url, "events": ["idea.created"]})
    assert response.status_code == 422
    error = re.search(r'<p class="field-error" id="f-url-error">([^<]+)', response.text).group(1)
    assert "webhooks go to public addresses only" in html.unescape(error)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Webhook.id))) == 0


@pytest.mark.parametrize(
    "answers",
    [["10.0.0.5"], ["169.254.169.254"], ["93.184.215.14", "127.0.0.1"], ["::1"]],
    ids=["private", "metadata", "one-of-two", "ipv6-loopback"],
)
def test_a_name_resolving_to_a_private_address_is_refused(client, auth, make, app, public_only,
                                                          dns, answers):  # fmt: skip
    dns["hooks.customer.example"] = answers
    auth.login(make.user(Role.ADMIN))
    url = "https://hooks.customer.example/stimme"
    response = client.post("/admin/webhooks", data={"url": url, "events": ["idea.created"]})
    assert response.status_code == 422
    assert "hooks.customer.example (" in response.text
    assert "webhooks go to public addresses only" in response.text

    dns["hooks.public.example"] = ["93.184.215.14"]  # and editing a good hook is checked too
    created = client.post("/admin/webhooks", data={"url": "https://hooks.public.example/x",
                                                   "events": ["idea.created"]})  # fmt: skip
    assert created.status_code == 303
    edited = client.post(created.location, data={"url": url, "events": ["idea.created"]})
    assert edited.status_code == 422
    with app.app_context():
        assert db.session.scalar(db.select(Webhook.url)) == "https://hooks.public.example/x"


def test_a_name_that_turns_private_after_saving_is_refused_at_delivery(
    client, auth, make, app, receiver, public_only, dns
):
    """DNS rebinding: the name is public when the hook is saved, then points inside."""
    dns["hooks.customer.example"] = ["93.184.215.14"]
    auth.login(make.user(Role.ADMIN))
    url = f"http://hooks.customer.example:{receiver.server.server_port}/hooks/stimme"
    created = client.post("/admin/webhooks", data={"url": url, "events": ["idea.created"]})
    assert created.status_code == 303
    dns["hooks.customer.example"] = ["127.0.0.1"]  # where the receiver listens
    make.idea(make.board(), make.user())
    run_worker(app)
    assert receiver.take() == []
    (delivery,) = deliveries(app)
    assert delivery.response_code is None and delivery.attempts == 1
    assert delivery.error == (
        "hooks.customer.example (127.0.0.1) is a private, local or reserved address: "
        "webhooks go to public addresses only."
    )


def test_a_stored_private_address_is_refused_at_delivery_and_by_send_test(
    client, auth, make, app, receiver, public_only
):
    hook = add_hook(app, receiver.url)  # saved before the check, or straight into the database
    make.idea(make.board(), make.user())
    run_worker(app)
    auth.login(make.user(Role.ADMIN))
    answer = client.post(f"/admin/webhooks/{hook.id}/test", follow_redirects=True)
    assert "The test failed: 127.0.0.1 is a private, local or reserved address" in answer.text
    assert receiver.take() == []
    assert [d.response_code for d in deliveries(app)] == [None, None]


def test_the_address_checked_is_the_address_connected_to(make, app, receiver, dns):
    """One lookup per delivery: the connection goes to the answer that was checked, and
    the receiver still sees its own name in Host."""
    dns["hooks.customer.example"] = ["127.0.0.1"]  # allowed here: development
    port = receiver.server.server_port
    add_hook(app, f"http://hooks.customer.example:{port}/hooks/stimme")
    make.idea(make.board(), make.user())
    run_worker(app)
    ((path, headers, _body),) = receiver.take()
    assert path == "/hooks/stimme" and headers["Host"] == f"hooks.customer.example:{port}"
    assert dns["asked"] == ["hooks.customer.example"]


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({"PORTAL_ENV": "production", "SECRET_KEY": "x" * 32}, False),
        ({"PORTAL_ENV": "development"}, True),
        ({"PORTAL_ENV": "development", "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "0"}, False),
        (
            {
                "PORTAL_ENV": "production",
                "SECRET_KEY": "x" * 32,
                "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "1",
            },
            True,
        ),  # fmt: skip
    ],
)
def test_private_addresses_are_refused_unless_a_setting_allows_them(tmp_path, env, allowed):
    assert load_config(str(tmp_path), env)["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] is allowed


def test_a_setting_that_is_no_switch_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOW_PRIVATE_ADDRESSES must be 1 or 0"):
        load_config(str(tmp_path), {"PORTAL_ENV": "development",
                                    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "maybe"})  # fmt: skip
