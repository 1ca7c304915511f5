"""Concurrent votes against a real multi-process server never lose, double or overspend.

gunicorn runs three worker processes on its own database: a fresh SQLite file, or a
separate PostgreSQL database next to TEST_DATABASE_URL (created and dropped here, so the
rest of the suite keeps its own). Clients sign in through the real form with CSRF on and
fire votes from a thread pool; afterwards every idea's vote_count must equal the sum of
its vote weights, and no answer may be a 5xx.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from werkzeug.security import generate_password_hash

from conftest import PASSWORD, free_port
from portal import create_app
from portal.extensions import db
from portal.models import Board, Idea, User, Vote, utcnow
from portal.operations.ideas import submit_idea
from processes import request

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# Its own database, named per process so that two runs at once do not drop each other's.
PG_DATABASE = f"stimme_concurrency_test_{os.getpid()}"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
VOTE_COUNT = re.compile(r'data-vote-count="(\d+)"')
CROWD = 20
# A cheap hash keeps two dozen sign-ins fast; the server checks it like any other.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


# --------------------------------------------------------------------------- database


def _pg_url(base: str, name: str | None = None) -> str:
    """base as a plain libpq URL, naming another database when name is given."""
    parts = urllib.parse.urlsplit(base.replace("postgresql+psycopg://", "postgresql://", 1))
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}") if name else parts)


def _pg_admin(base: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(_pg_url(base), autocommit=True) as connection:
        connection.execute(statement)


@pytest.fixture(scope="module")
def database_url(tmp_path_factory):
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('concurrency-db') / 'stimme.db'}"
        return
    _pg_admin(base, f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
    _pg_admin(base, f"CREATE DATABASE {PG_DATABASE}")
    yield _pg_url(base, PG_DATABASE)
    _pg_admin(base, f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")


@pytest.fixture(scope="module")
def server_env(database_url, tmp_path_factory):
    instance = tmp_path_factory.mktemp("concurrency-instance")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SECRET_KEY", "FLASK_DEBUG", "TEST_DATABASE_URL")
    }
    env.update(
        PORTAL_ENV="development",
        PORTAL_INSTANCE_PATH=str(instance),
        DATABASE_URL=database_url,
        RATELIMIT_ENABLED="0",
        SEARCH_INDEX_DIR=str(instance / "search"),
        MAIL_URL=f"file://{instance / 'mail'}",
    )
    if database_url.startswith("postgresql"):
        # PostgreSQL's own search, as in production: no Whoosh index waits for a worker
        # to build it, so /healthz (database and search) answers at once.
        env["SEARCH_BACKEND"] = "postgres"
    # Migrations first: this also writes the instance secret before any worker starts.
    upgrade = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "portal", "db", "upgrade"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    return env


def server_app(server_env, **config):
    """An app in this process on the server's database.

    The extensions are shared module-level objects, and init_app() copies some settings
    onto them (Flask-Limiter's `enabled`, for one): leave RATELIMIT_ENABLED at its
    default here, so that the rest of the suite keeps rate limits on.
    """
    env = {k: server_env[k] for k in ("PORTAL_ENV", "DATABASE_URL", "MAIL_URL")}
    return create_app({"ENV": env, "INSTANCE_PATH": server_env["PORTAL_INSTANCE_PATH"], **config})


@pytest.fixture(scope="module")
def data(server_env):
    """Boards, customers and ideas made in-process through the app's own operations."""
    app = server_app(server_env, SEARCH_INDEX_DIR=server_env["SEARCH_INDEX_DIR"])
    made = {"users": [], "ideas": {}}
    with app.app_context():
        author = _user("author@example.com", "Author")
        for n in range(CROWD + 2):
            made["users"].append(_user(f"voter{n}@example.com", f"Voter {n}").email)
        open_board = Board(slug="features", name="Features", description="Everything.")
        budget_board = Board(
            slug="budget", name="Budget", description="Three votes each.", votes_per_user=3
        )
        db.session.add_all([author, open_board, budget_board])
        db.session.flush()
        for key, board, count in (("crowd", open_board, 4), ("same", open_board, 1),
                                  ("budget", budget_board, 10)):  # fmt: skip
            made["ideas"][key] = [
                submit_idea(author, board, f"Idea {key} number {n}", "Body text.").number
                for n in range(count)
            ]
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return made


def _user(email, name) -> User:
    user = User(
        email=email,
        name=name,
        password_hash=PASSWORD_HASH,
        email_verified_at=utcnow(),
        created_at=utcnow() - timedelta(days=2),
    )  # past the brakes on new accounts
    db.session.add(user)
    return user


@pytest.fixture(scope="module")
def inspect(server_env):
    """An app on the server's database, for checking what the requests left behind."""
    app = server_app(server_env, SEARCH_INDEX_DIR=server_env["SEARCH_INDEX_DIR"])
    yield app
    with app.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def server(server_env, data, tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("concurrency-log") / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--workers", "3", "--bind", f"127.0.0.1:{port}",
             "--timeout", "60", "wsgi:app"],
            cwd=ROOT, env=server_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_until_healthy(process, port, log_path)
            yield Server(port, log_path)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    text = log_path.read_text(errors="replace")
    assert "database is locked" not in text, text
    assert "Traceback" not in text, text


def _wait_until_healthy(process, port, log_path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited early:\n{log_path.read_text(errors='replace')}")
        try:
            status, _, body = request(port, "GET", "/healthz")
            if status == 200 and '"ok"' in body:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer /healthz:\n{log_path.read_text(errors='replace')}")


class Server:
    def __init__(self, port, log_path):
        self.port = port
        self.log_path = log_path
        self.statuses = []
        self._lock = threading.Lock()

    def record(self, status) -> None:
        with self._lock:
            self.statuses.append(status)


class Browser:
    """A signed-in person: a cookie jar shared by every thread acting for them."""

    def __init__(self, server: Server):
        self.server = server
        self.cookies = {}
        self.csrf = ""
        self._lock = threading.Lock()

    def send(self, method, path, form=None, headers=None) -> tuple[int, dict, str]:
        headers = dict(headers or {})
        with self._lock:
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, found, text = request(self.server.port, method, path, body, headers)
        self.server.record(status)
        with self._lock:
            for cookie in found["set-cookie"]:
                name, _, value = cookie.split(";", 1)[0].partition("=")
                if value:
                    self.cookies[name.strip()] = value
                else:
                    self.cookies.pop(name.strip(), None)
        return status, found, text

    def sign_in(self, email) -> "Browser":
        status, _, page = self.send("GET", "/signin")
        assert status == 200
        token = CSRF_INPUT.search(page).group(1)
        form = {"csrf_token": token, "email": email, "password": PASSWORD}
        status, found, page = self.send("POST", "/signin", form)
        assert status == 303, page
        # Signing in starts a fresh session: take the CSRF token that belongs to it.
        status, _, page = self.send("GET", "/")
        assert status == 200
        self.csrf = CSRF_INPUT.search(page).group(1)
        return self

    def vote(self, number, action="vote") -> tuple[int, str]:
        form = {"csrf_token": self.csrf, "action": action}
        status, _, text = self.send(
            "POST", f"/ideas/{number}/vote", form, headers={"HX-Request": "true"}
        )
        return status, text


def sign_in_all(server, emails) -> list[Browser]:
    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(lambda email: Browser(server).sign_in(email), emails))


# --------------------------------------------------------------------------- checks


def counts_are_consistent(app) -> dict[int, tuple[int, int]]:
    """Every idea's (vote_count, sum of weights), asserting they agree."""
    with app.app_context():
        sums = dict(
            db.session.execute(
                db.select(Vote.idea_id, func.sum(Vote.weight)).group_by(Vote.idea_id)
            ).all()
        )
        found = {}
        for idea in db.session.scalars(db.select(Idea)):
            assert idea.vote_count == (sums.get(idea.id) or 0), f"idea #{idea.number} drifted"
            found[idea.number] = (idea.vote_count, sums.get(idea.id) or 0)
        db.session.remove()
        return found


def user_votes(app, email, board_slug) -> int:
    with app.app_context():
        total = db.session.scalar(
            db.select(func.count(Vote.id))
            .join(Idea, Vote.idea_id == Idea.id)
            .join(Board, Idea.board_id == Board.id)
            .join(User, Vote.user_id == User.id)
            .where(User.email == email, Board.slug == board_slug)
        )
        db.session.remove()
        return total


def no_server_errors(server) -> None:
    failures = [status for status in server.statuses if status >= 500]
    assert not failures, f"{len(failures)} server errors: {failures[:10]}"


# --------------------------------------------------------------------------- the tests


def plan(user_index, idea_index) -> list[str]:
    """A fixed sequence per (person, idea), so the final tally is known in advance."""
    return [
        ["vote"],
        ["vote", "retract"],
        ["vote", "retract", "vote"],
        ["vote", "vote", "retract"],
    ][(user_index + idea_index) % 4]


def test_a_crowd_voting_and_unvoting_at_once(server, data, inspect):
    browsers = sign_in_all(server, data["users"][:CROWD])
    ideas = data["ideas"]["crowd"]
    answers = []

    def act(user_index, idea_index):
        for action in plan(user_index, idea_index):
            status, text = browsers[user_index].vote(ideas[idea_index], action)
            answers.append((status, text))

    with ThreadPoolExecutor(max_workers=24) as pool:
        jobs = [pool.submit(act, u, i) for u in range(CROWD) for i in range(len(ideas))]
        for job in jobs:
            job.result()

    no_server_errors(server)
    assert all(status == 200 and VOTE_COUNT.search(text) for status, text in answers)
    counts = counts_are_consistent(inspect)
    for idea_index, number in enumerate(ideas):
        expected = sum(
            plan(u, idea_index)[-1] == "vote" for u in range(CROWD)
        )  # the last action decides
        assert counts[number] == (expected, expected)


def test_b_one_person_voting_the_same_idea_thirty_times(server, data, inspect):
    (browser,) = sign_in_all(server, [data["users"][CROWD]])
    (number,) = data["ideas"]["same"]
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda _: browser.vote(number), range(30)))

    no_server_errors(server)
    assert [status for status, _ in answers] == [200] * 30
    assert all(VOTE_COUNT.search(text).group(1) == "1" for _, text in answers)
    assert counts_are_consistent(inspect)[number] == (1, 1)
    assert user_votes(inspect, data["users"][CROWD], "features") == 1


def test_c_a_vote_budget_is_never_overspent(server, data, inspect):
    email = data["users"][CROWD + 1]
    (browser,) = sign_in_all(server, [email])
    ideas = data["ideas"]["budget"]

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(browser.vote, ideas))
    no_server_errors(server)
    assert [status for status, _ in answers] == [200] * 10
    refused = [text for _, text in answers if "no votes left" in text]
    assert len(refused) == 7
    assert user_votes(inspect, email, "budget") == 3
    counts_are_consistent(inspect)

    # Take back and vote again all at once: whatever the order, never more than three.
    mixed = [(number, action) for number in ideas for action in ("retract", "vote")]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda job: browser.vote(*job), mixed))
    no_server_errors(server)
    assert [status for status, _ in answers] == [200] * 20
    assert user_votes(inspect, email, "budget") <= 3
    counts_are_consistent(inspect)
