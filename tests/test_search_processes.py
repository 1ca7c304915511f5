"""The Whoosh index survives real processes: a server killed between commit and index
update, and two processes applying updates at once. (FTS5 has no such window: its entry
changes in the idea's own transaction.)"""

import http.client
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import PASSWORD, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def site(tmp_path):
    """Environment for processes sharing one SQLite database and one index folder."""
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "TEST_DATABASE_URL")}
    env.update(
        PORTAL_ENV="development",
        PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'stimme.db'}",
        RATELIMIT_ENABLED="0",
        SEARCH_BACKEND="whoosh",
    )
    flask(env, "db", "upgrade")
    flask(env, "create-user", "ann@example.com", "--name", "Ann", "--password", PASSWORD)
    return env


def flask(env, *args, check=True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "flask"), "--app", "portal", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=check,
    )  # fmt: skip


def python(env, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


FIND = """
from portal import create_app
from portal.search import SearchQuery, search_ideas
app = create_app()
with app.app_context():
    result = search_ideas(SearchQuery(text={text!r}, boards=["ideas"], per_page=500))
    print(result.total, result.fallback)
"""


def found(env, text) -> tuple[int, str]:
    total, fallback = python(env, FIND.format(text=text)).split()
    return int(total), fallback


class Browser:
    """A tiny cookie-keeping HTTP client for a server on 127.0.0.1."""

    def __init__(self, port):
        self.port, self.cookies = port, {}

    def request(self, method, path, form=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        connection.close()
        return response.status, text

    def post_form(self, path, form):
        _, page = self.request("GET", path)
        return self.request("POST", path, {**form, "csrf_token": CSRF.search(page).group(1)})


def start_server(env, port) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if Browser(port).request("GET", "/healthz")[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not start")


def make_board(env):
    python(env, """
from portal import create_app
from portal.extensions import db
from portal.models import Board
app = create_app()
with app.app_context():
    db.session.add(Board(slug="ideas", name="Ideas", description=""))
    db.session.commit()
""")  # fmt: skip


def test_a_server_killed_after_commit_loses_no_index_update(site):
    make_board(site)
    flask(site, "search-reindex")
    # This server commits ideas but never reaches the index: as if it died each time
    # between the commit and the index update.
    env = {**site, "SEARCH_APPLY_IN_REQUEST": "0"}
    port = free_port()
    server = start_server(env, port)
    try:
        browser = Browser(port)
        assert (
            browser.post_form("/signin", {"email": "ann@example.com", "password": PASSWORD})[0]
            == 303
        )
        status, _ = browser.post_form(
            "/b/ideas/new", {"title": "Offline mode for field teams", "confirmed": "1"}
        )
        assert status == 303
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    assert found(site, "offline") == (0, "False")
    flask(site, "worker", "--once")  # what the worker does at its next start
    assert found(site, "offline") == (1, "False")


def test_two_processes_applying_updates_at_once(site):
    make_board(site)
    python(site, """
from portal import create_app
from portal.extensions import db
from portal.models import Board, User
from portal.operations.ideas import submit_idea
app = create_app()
with app.app_context():
    board = db.session.scalar(db.select(Board))
    user = db.session.scalar(db.select(User))
    for n in range(150):
        submit_idea(user, board, f"Quarterly report number {n}", "Numbers for finance.")
    db.session.commit()
""")  # fmt: skip
    workers = [
        subprocess.Popen(
            [str(BIN / "flask"), "--app", "portal", "worker", "--once"],
            env=site,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    for worker in workers:
        _, errors = worker.communicate(timeout=120)
        assert worker.returncode == 0, errors
        assert "Traceback" not in errors
    assert found(site, "quarterly") == (150, "False")
