"""The outbox: mail waits in the database until a real SMTP server takes it, exactly once."""

from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from conftest import free_port
from portal.extensions import db
from portal.models import OutboxMessage, utcnow
from portal.outbox import queue_email
from portal.worker import drain


class Inbox:
    """An SMTP server's handler that keeps every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(app):
    """Point MAIL_URL at a loopback port; start() brings a server up on it."""

    class Server:
        port = free_port()
        inbox = Inbox()
        controller = None

        def start(self):
            self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
            self.controller.start()

    server = Server()
    previous = app.config["MAIL_URL"]
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{server.port}"
    yield server
    app.config["MAIL_URL"] = previous
    if server.controller is not None:
        server.controller.stop()


def queue_welcome(app) -> int:
    with app.app_context():
        message = queue_email(
            "ada@example.com",
            "Your idea is planned",
            "Export reports as CSV is now planned.",
            "<p><b>Export reports as CSV</b> is now planned.</p>",
        )
        db.session.commit()
        return message.id


def outbox_row(app, message_id) -> OutboxMessage:
    with app.app_context():
        row = db.session.get(OutboxMessage, message_id)
        db.session.expunge(row)
        return row


def make_due(app, message_id) -> None:
    with app.app_context():
        db.session.get(OutboxMessage, message_id).next_attempt_at = utcnow() - timedelta(seconds=1)
        db.session.commit()


def test_a_message_survives_the_mail_server_being_down(app, smtp):
    message_id = queue_welcome(app)
    with app.app_context():
        assert drain() == (0, 1)

    row = outbox_row(app, message_id)
    assert row.sent_at is None
    assert row.attempts == 1
    assert row.next_attempt_at > utcnow()
    assert row.locked_until is None
    assert "Connection" in row.last_error

    with app.app_context():
        assert drain() == (0, 0)  # backing off: not retried at once

    smtp.start()
    make_due(app, message_id)
    with app.app_context():
        assert drain() == (1, 0)
    (received,) = smtp.inbox.messages
    assert received["To"] == "ada@example.com"
    assert received["Subject"] == "Your idea is planned"
    assert "is now planned" in received.get_body(preferencelist=("plain",)).get_content()
    assert "<b>Export reports" in received.get_body(preferencelist=("html",)).get_content()

    row = outbox_row(app, message_id)
    assert row.sent_at is not None and row.attempts == 2


def test_a_sent_message_is_never_sent_again(app, smtp):
    smtp.start()
    message_id = queue_welcome(app)
    with app.app_context():
        assert drain() == (1, 0)
    make_due(app, message_id)
    with app.app_context():
        assert drain() == (0, 0)
    assert len(smtp.inbox.messages) == 1


def test_failures_back_off_longer_each_time(app, smtp):
    message_id = queue_welcome(app)
    delays = []
    for attempt in range(1, 4):
        make_due(app, message_id)
        with app.app_context():
            assert drain() == (0, 1)
        row = outbox_row(app, message_id)
        assert row.attempts == attempt
        delays.append(row.next_attempt_at - utcnow())
    assert delays[0] < delays[1] < delays[2] <= timedelta(hours=1)


def test_a_message_leased_by_another_worker_is_left_alone(app, smtp):
    smtp.start()
    message_id = queue_welcome(app)
    with app.app_context():
        db.session.get(OutboxMessage, message_id).locked_until = utcnow() + timedelta(minutes=1)
        db.session.commit()
        assert drain() == (0, 0)
    assert smtp.inbox.messages == []


def run_worker_once(app):
    """`flask --app portal worker --once`; the flask command supplies the app context."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=["worker", "--once"])


def test_worker_once_drains_the_outbox(app, smtp):
    smtp.start()
    for _ in range(3):
        queue_welcome(app)
    result = run_worker_once(app)
    assert result.exit_code == 0, result.output
    assert "Sent 3, failed 0" in result.output
    assert len(smtp.inbox.messages) == 3
    with app.app_context():
        pending = db.select(db.func.count(OutboxMessage.id)).filter_by(sent_at=None)
        assert db.session.scalar(pending) == 0


def test_worker_once_reports_failures(app, smtp):
    queue_welcome(app)
    result = run_worker_once(app)
    assert result.exit_code == 0, result.output
    assert "Sent 0, failed 1 (will retry)." in result.output
