"""Two `flask --app portal worker` processes on one PostgreSQL database send every mail
exactly once: each claims rows with SELECT ... FOR UPDATE SKIP LOCKED and a lease.

Runs with TEST_DATABASE_URL on PostgreSQL, on a database of its own (made and dropped
here); SEARCH_BACKEND=postgres, as on several machines.
"""

import os
import re
import signal
import urllib.parse
from collections import Counter

import psycopg
import pytest

from processes import (
    SmtpServer,
    flask,
    json_lines,
    python,
    queue_mails,
    site_env,
    start_worker,
    wait_for,
)

pytestmark = pytest.mark.slow

MAILS = 200
DATABASE = f"stimme_workers_test_{os.getpid()}"  # per run: two runs never share one


@pytest.fixture
def postgres_url():
    base = os.environ.get("TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        pytest.skip("set TEST_DATABASE_URL to a PostgreSQL database to run two workers")
    plain = base.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    yield urllib.parse.urlunsplit(urllib.parse.urlsplit(plain)._replace(path=f"/{DATABASE}"))
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


ATTEMPTS = """
from portal import create_app
from portal.extensions import db
from portal.models import OutboxMessage as M
app = create_app()
with app.app_context():
    rows = db.session.execute(db.select(M.sent_at.is_not(None), M.attempts)).all()
    print(sum(1 for sent, _ in rows if sent), max(attempts for _, attempts in rows))
"""


def sender_pid(message) -> str:
    """The process that built a mail: make_msgid puts its pid in the Message-ID."""
    return re.match(r"<\d+\.(\d+)\.", message["Message-ID"]).group(1)


def test_two_workers_send_each_of_200_mails_exactly_once(postgres_url, tmp_path):
    smtp = SmtpServer(pause=0.01)
    env = site_env(
        tmp_path, DATABASE_URL=postgres_url, SEARCH_BACKEND="postgres", MAIL_URL=smtp.url,
        LOG_FORMAT="json",
    )  # fmt: skip
    flask(env, "db", "upgrade")
    logs = [tmp_path / f"worker{n}.log" for n in (1, 2)]
    with smtp as inbox:
        workers = [start_worker(env, log) for log in logs]
        try:
            # Both are polling before the mail exists, so they race for every batch.
            wait_for(
                lambda: all("outbox worker started" in log.read_text() for log in logs),
                60, "both workers to start",
            )  # fmt: skip
            queue_mails(env, MAILS)
            wait_for(lambda: inbox.count() >= MAILS, 120, f"{MAILS} mails")
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            codes = [worker.wait(timeout=30) for worker in workers]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
        messages = list(inbox.messages)
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], texts
    for text in texts:  # JSON lines, and no failed send
        assert all(line["level"] in ("INFO", "DEBUG") for line in json_lines(text)), text
    subjects = Counter(str(message["Subject"]) for message in messages)
    assert subjects == Counter(f"Mail {n}" for n in range(MAILS))  # each exactly once
    assert len({sender_pid(message) for message in messages}) == 2  # both took a share
    sent, most_attempts = map(int, python(env, ATTEMPTS).split())
    assert (sent, most_attempts) == (MAILS, 1)
