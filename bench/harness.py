"""Real servers, real databases and real clients for the load and fault runs (issue 7).

Used by bench/load.py and bench/faults.py (full size, figures printed) and by
tests/test_load_and_faults.py (small and bounded). Everything listens on 127.0.0.1 only.

- Database: a fresh SQLite file, a fresh database on a PostgreSQL server, or a private
  PostgreSQL cluster of its own (PrivatePostgres) that a fault run may restart without
  disturbing anyone else's database on the machine's server.
- Site: gunicorn serving wsgi:app with N sync workers, and optionally the outbox worker,
  each in its own process group so a fault run can SIGKILL them all at once.
- Clients: threads with a keep-alive connection each, calling the JSON API with their own
  token and remembering every answer they were given (what was "acknowledged").
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter as Tally
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values, share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --------------------------------------------------------------------------- databases


def pg_url(base: str, name: str | None = None) -> str:
    """base as a plain libpq URL, naming another database when name is given."""
    parts = urllib.parse.urlsplit(base.replace("postgresql+psycopg://", "postgresql://", 1))
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}") if name else parts)


def pg_admin(base: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(pg_url(base, "postgres"), autocommit=True) as connection:
        connection.execute(statement)


class PrivatePostgres:
    """A PostgreSQL cluster of this run's own, in a temporary folder, on a free port.

    It runs as the `postgres` system user when started by root (initdb refuses root).
    """

    def __init__(self):
        if PG_BIN is None:
            raise RuntimeError("PostgreSQL's server programs are not installed")
        self.folder = Path(tempfile.mkdtemp(prefix="stimme-pg-"))
        self.port = free_port()
        self.data = self.folder / "data"
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")  # fmt: skip
        self.start()
        pg_admin(self.url(), "CREATE DATABASE stimme")

    def _run(self, program: str, *args: str) -> None:
        command = [str(PG_BIN / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def url(self, name: str = "stimme") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Site:
    """The environment a run's processes share: database, instance folder, settings."""

    database_url: str
    instance: Path
    env: dict = field(default_factory=dict)

    @classmethod
    def create(cls, database_url: str | None = None, **settings: str) -> Site:
        """A migrated site on database_url, or on a SQLite file of its own when None."""
        instance = Path(tempfile.mkdtemp(prefix="stimme-site-"))
        database_url = database_url or f"sqlite:///{instance / 'stimme.db'}"
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("SECRET_KEY", "FLASK_DEBUG", "TEST_DATABASE_URL")
        }
        env.update(
            {
                "PORTAL_ENV": "development",
                "PORTAL_INSTANCE_PATH": str(instance),
                "DATABASE_URL": database_url,
                "RATELIMIT_ENABLED": "0",
                "SEARCH_INDEX_DIR": str(instance / "search"),
                "MAIL_URL": f"file://{instance / 'mail'}",
                "LOG_FORMAT": "text",
            }
        )
        env.update(settings)
        site = cls(database_url, instance, env)
        site.flask("db", "upgrade")
        return site

    def flask(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "portal", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def app(self):
        """An app in this process on the site's database (for setup and checks)."""
        from portal import create_app

        env = {k: self.env[k] for k in ("PORTAL_ENV", "DATABASE_URL", "MAIL_URL")}
        env.update({k: self.env[k] for k in ("SEARCH_BACKEND",) if k in self.env})
        return create_app(
            {"ENV": env, "INSTANCE_PATH": str(self.instance),
             "SEARCH_INDEX_DIR": self.env["SEARCH_INDEX_DIR"]}
        )  # fmt: skip

    def close(self) -> None:
        shutil.rmtree(self.instance, ignore_errors=True)


@dataclass
class Population:
    board: str
    tokens: list[str]
    ideas: list[int]


def populate(site: Site, people: int, ideas: int) -> Population:
    """A board, `people` customers with an API token each, and `ideas` open ideas."""
    from werkzeug.security import generate_password_hash

    from portal.extensions import db
    from portal.models import Board, User, utcnow
    from portal.operations.ideas import submit_idea
    from portal.operations.tokens import create_token

    app = site.app()
    cheap = generate_password_hash("load-test-password", method="pbkdf2:sha256:1000")
    with app.app_context():
        board = Board(slug="load", name="Load", description="Ideas under load.")
        db.session.add(board)
        users = []
        for n in range(people + 1):
            users.append(User(email=f"load{n}@example.com", name=f"Load {n}",
                              password_hash=cheap, email_verified_at=utcnow(), is_trusted=True,
                              created_at=utcnow() - timedelta(days=30)))  # fmt: skip
        db.session.add_all(users)
        db.session.flush()
        numbers = [
            submit_idea(users[0], board, f"Load idea {n}", "Voted on under load.").number
            for n in range(ideas)
        ]
        tokens = [create_token(user, "load")[1] for user in users[1:]]
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return Population("load", tokens, numbers)


# --------------------------------------------------------------------------- processes


class Processes:
    """gunicorn (and optionally the outbox worker) for a site, each in its own group."""

    def __init__(self, site: Site, workers: int, with_outbox_worker: bool = False):
        self.site = site
        self.workers = workers
        self.with_outbox_worker = with_outbox_worker
        self.port = free_port()
        self.web: subprocess.Popen | None = None
        self.outbox: subprocess.Popen | None = None
        self.log = open(site.instance / "processes.log", "ab")  # noqa: SIM115

    def start(self, ready_within: float = 60) -> None:
        self.web = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--workers", str(self.workers), "--bind",
             f"127.0.0.1:{self.port}", "--limit-request-line", "8190", "--timeout", "60",
             "wsgi:app"],
            cwd=ROOT, env=self.site.env, stdout=self.log, stderr=self.log,
            start_new_session=True,
        )  # fmt: skip
        if self.with_outbox_worker:
            self.outbox = subprocess.Popen(
                [str(VENV_BIN / "flask"), "--app", "portal", "worker"],
                cwd=ROOT, env=self.site.env, stdout=self.log, stderr=self.log,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            try:
                if request(self.port, "GET", "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.log.flush()
        tail = (self.site.instance / "processes.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the site did not start:\n{tail}")

    def errors(self, lines: int = 40) -> str:
        """The end of the first traceback the processes logged, if any."""
        self.log.flush()
        text = (self.site.instance / "processes.log").read_text(errors="replace")
        start = text.find("Traceback")
        return "" if start < 0 else "\n".join(text[start:].splitlines()[:lines])

    def kill(self) -> None:
        """SIGKILL every process of the site at once: no shutdown code runs."""
        for process in (self.web, self.outbox):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)

    def stop(self) -> None:
        for process in (self.web, self.outbox):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=30)

    def close(self) -> None:
        self.stop()
        self.log.close()


def request(port: int, method: str, path: str, body=None, token=None, timeout: float = 30,
            connection: http.client.HTTPConnection | None = None):  # fmt: skip
    """(status, json or None, headers) of one request; raises OSError when none came."""
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        data = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=data, headers=headers)
        answer = connection.getresponse()
        raw = answer.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return answer.status, parsed, dict(answer.getheaders())
    except (http.client.HTTPException, OSError) as error:
        connection.close()
        raise OSError(str(error)) from error
    finally:
        if own:
            connection.close()


# --------------------------------------------------------------------------- clients


@dataclass
class Ledger:
    """What the clients were told. A write is "acknowledged" once its answer arrived."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Tally = field(default_factory=Tally)
    failures: Tally = field(default_factory=Tally)  # no answer: refused, reset, timed out
    latencies: list[float] = field(default_factory=list)
    votes: int = 0
    # (token index, idea number) -> the weight the last answer reported, or None when a
    # later request went unanswered (it may or may not have changed the vote).
    vote_state: dict = field(default_factory=dict)
    ideas: dict = field(default_factory=dict)  # number -> title, for each 201
    comments: dict = field(default_factory=dict)  # id -> idea number, for each 201

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 and status != 503)


class Crowd:
    """`clients` threads, each with its own token, doing `action` until stopped."""

    def __init__(self, port: int, population: Population, clients: int, mix: dict[str, int],
                 seed: int = 7):  # fmt: skip
        self.port = port
        self.population = population
        self.clients = clients
        self.mix = [name for name, share in mix.items() for _ in range(share)]
        self.ledger = Ledger()
        self.stopping = threading.Event()
        self.seed = seed
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.clients):
            thread = threading.Thread(target=self._client, args=(index,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _client(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        token = self.population.tokens[index % len(self.population.tokens)]
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        serial = 0
        while not self.stopping.is_set():
            serial += 1
            action = rng.choice(self.mix)
            number = rng.choice(self.population.ideas)
            started = time.perf_counter()
            try:
                if action == "vote":
                    self._vote(connection, index, token, number)
                elif action == "idea":
                    title = f"Acknowledged idea c{index} n{serial} s{self.seed}"
                    status, body, _ = request(self.port, "POST", "/api/v1/ideas",
                                              {"board": self.population.board, "title": title},
                                              token, connection=connection)  # fmt: skip
                    self._record(status, started)
                    if status == 201:
                        with self.ledger.lock:
                            self.ledger.ideas[body["number"]] = title
                elif action == "comment":
                    status, body, _ = request(self.port, "POST",
                                              f"/api/v1/ideas/{number}/comments",
                                              {"body": f"Comment c{index} n{serial}"}, token,
                                              connection=connection)  # fmt: skip
                    self._record(status, started)
                    if status == 201:
                        with self.ledger.lock:
                            self.ledger.comments[body["id"]] = number
                else:  # a visitor's read
                    status, _, _ = request(self.port, "GET", f"/b/{self.population.board}",
                                           connection=connection)  # fmt: skip
                    self._record(status, started)
            except OSError as error:
                with self.ledger.lock:
                    self.ledger.failures[type(error.__cause__ or error).__name__] += 1
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                time.sleep(0.05)

    def _vote(self, connection, index: int, token: str, number: int) -> None:
        key = (index, number)
        with self.ledger.lock:
            current = self.ledger.vote_state.get(key, 0)
        method = "DELETE" if current else "PUT"
        with self.ledger.lock:  # unknown until the answer arrives
            self.ledger.vote_state[key] = None
        started = time.perf_counter()
        status, body, _ = request(self.port, method, f"/api/v1/ideas/{number}/vote", None,
                                  token, connection=connection)  # fmt: skip
        self._record(status, started)
        with self.ledger.lock:
            if status == 200:
                self.ledger.vote_state[key] = body["my_weight"]
                self.ledger.votes += 1
            elif status < 500:  # refused without a change: the earlier state stands
                self.ledger.vote_state[key] = current

    def _record(self, status: int, started: float) -> None:
        with self.ledger.lock:
            self.ledger.statuses[status] += 1
            self.ledger.latencies.append(time.perf_counter() - started)


# --------------------------------------------------------------------------- checks


@dataclass
class Audit:
    lost_votes: int
    uncertain_votes: int
    lost_ideas: int
    lost_comments: int
    counters_off: int
    pending_outbox: int

    @property
    def clean(self) -> bool:
        return not (self.lost_votes or self.lost_ideas or self.lost_comments or self.counters_off)


def audit(site: Site, population: Population, ledger: Ledger) -> Audit:
    """Compare what clients were told with what the database holds."""
    from sqlalchemy import func

    from portal.extensions import db
    from portal.models import ApiToken, Comment, Idea, OutboxMessage, Vote
    from portal.operations.tokens import token_hash

    app = site.app()
    with app.app_context():
        owner_of = dict(db.session.execute(db.select(ApiToken.token_hash, ApiToken.user_id)).all())
        user_ids = [owner_of[token_hash(t)] for t in population.tokens]
        number_to_id = dict(db.session.execute(db.select(Idea.number, Idea.id)).all())
        weights = {
            (user_id, idea_id): weight
            for user_id, idea_id, weight in db.session.execute(
                db.select(Vote.user_id, Vote.idea_id, Vote.weight)
            )
        }
        lost_votes = uncertain = 0
        for (index, number), told in ledger.vote_state.items():
            if told is None:
                uncertain += 1
                continue
            user_id = user_ids[index % len(user_ids)]
            if weights.get((user_id, number_to_id[number]), 0) != told:
                lost_votes += 1
        titles = dict(db.session.execute(db.select(Idea.number, Idea.title)).all())
        lost_ideas = sum(1 for n, title in ledger.ideas.items() if titles.get(n) != title)
        comment_ids = set(db.session.scalars(db.select(Comment.id)))
        lost_comments = sum(1 for cid in ledger.comments if cid not in comment_ids)
        sums = dict(
            db.session.execute(
                db.select(Vote.idea_id, func.sum(Vote.weight)).group_by(Vote.idea_id)
            ).all()
        )
        counters_off = sum(
            1
            for idea_id, count in db.session.execute(db.select(Idea.id, Idea.vote_count))
            if count != sums.get(idea_id, 0)
        )
        pending = db.session.scalar(db.select(func.count(OutboxMessage.id)).filter_by(sent_at=None))
        db.session.remove()
        db.engine.dispose()
    return Audit(lost_votes, uncertain, lost_ideas, lost_comments, counters_off, pending)


def wait_until_searchable(port: int, ledger: Ledger, within: float) -> tuple[float, int]:
    """Seconds until every acknowledged idea is found by its unique title words through the
    API's search, and how many were still missing when `within` ran out."""
    started = time.monotonic()
    missing = dict(ledger.ideas)
    while missing and time.monotonic() - started < within:
        for number, title in list(missing.items()):
            words = " ".join(title.split()[-3:])  # "c3 n17 s7": unique to this idea
            query = urllib.parse.urlencode({"q": f'"{words}"', "limit": 5})
            try:
                status, body, _ = request(port, "GET", f"/api/v1/search?{query}", timeout=10)
            except OSError:
                continue
            if status == 200 and any(hit["number"] == number for hit in body["hits"]):
                del missing[number]
        if missing:
            time.sleep(0.5)
    return time.monotonic() - started, len(missing)
