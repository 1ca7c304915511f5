"""Stopping for a deploy loses nothing: gunicorn (with gunicorn.conf.py) finishes the
requests in flight, and the outbox worker the message in hand, then both exit 0."""

import signal
import threading
import time

import pytest

from processes import (
    Gunicorn,
    SmtpServer,
    flask,
    json_lines,
    python,
    queue_mails,
    request,
    site_env,
    start_worker,
    wait_for,
)

pytestmark = pytest.mark.slow

GRACEFUL_SECONDS = 10
SLOW_SECONDS = 3


def test_gunicorn_finishes_requests_in_flight_then_exits_0(tmp_path):
    markers = tmp_path / "in-flight"
    markers.mkdir()
    env = site_env(
        tmp_path, PORTAL_ENV="production", SECRET_KEY="s" * 64, SLOW_MARKERS=str(markers)
    )
    flask(env, "db", "upgrade")
    server = Gunicorn(
        env, tmp_path / "logs", "--workers", "2", "--graceful-timeout", str(GRACEFUL_SECONDS),
        "--pythonpath", "tests", app="slow_wsgi:app",
    )  # fmt: skip
    answers = {}

    def ask(request_id):
        answers[request_id] = request(
            server.port, "GET", f"/slow?{SLOW_SECONDS}", headers={"X-Request-ID": request_id}
        )

    ids = [f"in-flight-{n}-0123456789" for n in range(2)]
    clients = [threading.Thread(target=ask, args=(request_id,)) for request_id in ids]
    for client in clients:
        client.start()
    try:
        wait_for(lambda: len(list(markers.iterdir())) == 2, 10, "two requests in flight")
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=GRACEFUL_SECONDS + 5)
        took = time.monotonic() - started
    finally:
        server.stop()
        for client in clients:
            client.join(timeout=30)
    assert code == 0, server.logs()
    assert took < GRACEFUL_SECONDS, f"the master took {took:.1f} s"
    for request_id in ids:
        status, headers, body = answers[request_id]
        assert (status, body.strip()) == (200, '{"status":"ok"}')
        assert headers["x-request-id"] == request_id
    # Production logs are JSON lines, the access log with the echoed request id.
    logged = {line["request_id"]: line for line in server.access_lines()}
    for request_id in ids:
        assert logged[request_id]["status"] == 200 and logged[request_id]["path"] == "/slow"
    errors = json_lines(server.logs())
    assert any(line["message"] == "Handling signal: term" for line in errors)


COUNTS = """
from portal import create_app
from portal.extensions import db
from portal.models import OutboxMessage as M
app = create_app()
with app.app_context():
    sent = db.session.query(M).filter(M.sent_at.is_not(None)).count()
    leased = db.session.query(M).filter(M.sent_at.is_(None), M.locked_until.is_not(None)).count()
    print(sent, leased)
"""


def test_the_worker_stops_after_the_message_in_hand_and_loses_nothing(tmp_path):
    queued = 40
    smtp = SmtpServer(pause=0.1)  # four seconds of mail: SIGTERM lands mid-drain
    env = site_env(tmp_path, MAIL_URL=smtp.url, LOG_FORMAT="json")
    flask(env, "db", "upgrade")
    queue_mails(env, queued)
    with smtp as inbox:
        worker = start_worker(env, tmp_path / "worker.log")
        try:
            wait_for(lambda: inbox.count() >= 5, 30, "the worker to send five mails")
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=15)
        finally:
            if worker.poll() is None:
                worker.kill()
        log = (tmp_path / "worker.log").read_text()
        assert code == 0, log
        arrived = inbox.count()
        sent, leased = map(int, python(env, COUNTS).split())
        # Stopped early; every mail that arrived is marked sent; no lease is left behind.
        assert arrived < queued and (sent, leased) == (arrived, 0)
        messages = [line["message"] for line in json_lines(log)]
        assert messages[-1] == "outbox worker stopped"

        flask(env, "worker", "--once")  # the next worker sends the rest
        subjects = inbox.subjects()
    assert sorted(subjects) == sorted(f"Mail {n}" for n in range(queued))
