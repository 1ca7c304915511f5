"""Real processes on 127.0.0.1 for the production tests: gunicorn with gunicorn.conf.py,
the outbox worker, and a loopback SMTP server that keeps what it is given."""

import asyncio
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# The suite's own settings must not leak into the processes it starts.
NOT_INHERITED = ("SECRET_KEY", "TEST_DATABASE_URL", "FLASK_DEBUG", "DATABASE_URL", "PORT",
                 "WEB_CONCURRENCY", "LOG_FORMAT", "LOG_LEVEL", "SEARCH_BACKEND", "MAIL_URL",
                 "RATELIMIT_STORAGE_URI", "RATELIMIT_KEY_PREFIX", "PROXY_HOPS")  # fmt: skip


def site_env(tmp_path, **settings) -> dict:
    """The environment of one site: its own instance folder and SQLite database."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        PORTAL_ENV="development",
        PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'stimme.db'}",
        MAIL_URL=f"file://{tmp_path / 'mail'}",
    )
    env.update(settings)
    return env


def flask(env, *args) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "portal", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def python(env, code: str) -> str:
    """Run code in a fresh interpreter on the site (the suite's app stays untouched)."""
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


QUEUE_MAILS = """
import sys
from portal import create_app
from portal.extensions import db
from portal.outbox import queue_email
app = create_app()
with app.app_context():
    for n in range(int(sys.argv[1])):
        queue_email(f"person{n}@example.com", f"Mail {n}", f"Message number {n}.")
    db.session.commit()
"""


def queue_mails(env, count: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", QUEUE_MAILS, str(count)], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def request(port, method, path, body=None, headers=None) -> tuple[int, dict, str]:
    """One request on its own connection: status, lower-cased headers, text."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        found = {name.lower(): value for name, value in response.getheaders()}
        found["set-cookie"] = response.headers.get_all("Set-Cookie") or []
        return response.status, found, text
    finally:
        connection.close()


class Gunicorn:
    """gunicorn as production runs it (gunicorn.conf.py), its logs kept in two files."""

    def __init__(self, env, folder: Path, *args, app="wsgi:app"):
        self.port = free_port()
        self.access_log, self.error_log = folder / "access.log", folder / "error.log"
        folder.mkdir(parents=True, exist_ok=True)
        with open(self.access_log, "wb") as out, open(self.error_log, "wb") as err:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
                 "--bind", f"127.0.0.1:{self.port}", *args, app],
                env=env, cwd=ROOT, stdout=out, stderr=err,
            )  # fmt: skip
        self._wait_until_healthy()

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited early:\n{self.logs()}")
            try:
                if request(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"gunicorn did not answer /healthz:\n{self.logs()}")

    def logs(self) -> str:
        return self.error_log.read_text(errors="replace")

    def access_lines(self) -> list[dict]:
        return json_lines(self.access_log.read_text())

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def json_lines(text: str) -> list[dict]:
    """Every line as a JSON object; fails on a line that is not one."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def start_worker(env, log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [str(BIN / "flask"), "--app", "portal", "worker"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.05)


class SlowInbox:
    """An SMTP handler that takes `pause` seconds per message and keeps each one."""

    def __init__(self, pause: float):
        self.pause = pause
        self.messages = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.pause)
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    def subjects(self) -> list[str]:
        with self._lock:
            return [str(message["Subject"]) for message in self.messages]


class SmtpServer:
    def __init__(self, pause: float = 0.0):
        self.inbox = SlowInbox(pause)
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=free_port())

    def __enter__(self) -> SlowInbox:
        self.controller.start()
        return self.inbox

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}"
