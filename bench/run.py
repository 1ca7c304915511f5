"""`make bench`: how Stimme holds up with 100,000 ideas and 1,000,000 votes on SQLite.

Builds (once, then reuses) a database under bench/results/, then reports:

  a. SQL statements per request for the board and idea pages, at 20 and 100 ideas a page;
  b. server time p50/p95 in-process (Flask test client) over --requests requests;
  c. requests/s of the board page under gunicorn (2 sync workers) against a hello-world
     Flask app (bench/hello.py) served the same way, as a ratio;
  d. vote latency p50/p95 and votes/s with 16 signed-in clients voting at once.

It prints figures with the targets next to them and never fails: exit status 0.
Quick run: `.venv/bin/python bench/run.py --ideas 5000 --votes 50000 --duration 3`.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.markup import render_markdown  # noqa: E402
from portal.models import (  # noqa: E402
    Board,
    Category,
    Comment,
    Counter,
    Idea,
    Role,
    StatusChange,
    User,
    Vote,
    trending_score,
)

PASSWORD = "bench password 1"
VOTERS = 16
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
VOTE_COUNT = re.compile(r'data-vote-count="(\d+)"')
BOARDS = [
    # slug, name, share of the ideas, max_votes_per_idea, votes_per_user, categories
    ("features", "Feature requests", 0.5, 1, 0, ["Reporting", "Exports", "Search", "Admin"]),
    ("integrations", "Integrations", 0.3, 3, 0, ["Slack", "Jira", "Salesforce", "Zapier"]),
    ("mobile", "Mobile apps", 0.2, 1, 10, ["iOS", "Android", "Offline", "Notifications"]),
]
VOTING = ("open", "under_review", "planned", "started")
STATUS_MIX = [
    ("open", 70), ("under_review", 8), ("planned", 7), ("started", 5),
    ("completed", 6), ("declined", 3), ("duplicate", 1),
]  # fmt: skip
WORDS = [
    "export", "reports", "csv", "dark", "mode", "slack", "alerts", "single", "sign-on",
    "saml", "audit", "log", "api", "webhooks", "bulk", "edit", "custom", "fields",
    "offline", "sync", "calendar", "view", "keyboard", "shortcuts", "two-factor", "filters",
    "dashboards", "pdf", "invoices", "import", "spreadsheets", "roles", "permissions",
    "reminders", "tags", "templates", "markdown", "search", "mentions", "archive",
    "comments", "sharing",
]  # fmt: skip
BODY = (
    "We track every request from our customers in this tool, and **{topic}** is the one "
    "that comes up in almost every call.\n\n- it saves time every week\n- it avoids "
    "copying data by hand\n- other tools we use already have it\n\nSee our notes in "
    "[the wiki](https://example.com/wiki/{n}) for details."
)
TARGETS = {
    "ratio": ("board page for visitors >= 50% of hello-world req/s", 0.5),
    "signed_ratio": ("board page signed in >= 20% of hello-world req/s", 0.2),
    "sql": ("<= 8 SQL statements per page, not growing with page size", 8),
    "idea_p95": ("idea page p95 <= 50 ms", 50.0),
    "vote_p95": ("vote p95 <= 50 ms with 16 concurrent clients", 50.0),
    "votes_per_s": (">= 300 votes/s on SQLite", 300.0),
    "weight": ("page weight (HTML, CSS and JS, gzip) <= 60 KB", 60 * 1024),
    "rss": ("a web process <= 150 MB resident", 150.0),
}
ASSET = re.compile(r'<(?:link rel="stylesheet" href|script src)="([^"]+)"')


# ----------------------------------------------------------------------------- setup


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ideas", type=int, default=100_000)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2_000, help="customers who voted")
    parser.add_argument("--requests", type=int, default=200, help="per page, in-process")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent page clients")
    parser.add_argument("--vote-clients", type=int, default=VOTERS)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the database")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    args.vote_clients = min(args.vote_clients, VOTERS)
    args.votes = min(args.votes, args.ideas * args.users // 2)
    return args


def environment(instance: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FLASK_DEBUG")}
    env.update(
        PORTAL_ENV="development",
        PORTAL_INSTANCE_PATH=str(instance),
        DATABASE_URL=f"sqlite:///{instance / 'stimme.db'}",
        RATELIMIT_ENABLED="0",
        SEARCH_INDEX_DIR=str(instance / "search"),
        MAIL_URL=f"file://{instance / 'mail'}",
    )
    return env


def make_app(env: dict, **config):
    keys = ("PORTAL_ENV", "DATABASE_URL", "MAIL_URL", "SEARCH_INDEX_DIR", "RATELIMIT_ENABLED")
    return create_app(
        {"ENV": {k: env[k] for k in keys}, "INSTANCE_PATH": env["PORTAL_INSTANCE_PATH"]} | config
    )


def percentile(values, share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


# ----------------------------------------------------------------------------- building


class Inserter:
    """Bulk INSERTs through the DB-API's executemany, with SQLAlchemy's value conversion.

    Columns left out get their model default (evaluated once) when they have one, so a
    new column with a default does not break the benchmark.
    """

    def __init__(self, connection, table, columns):
        self.connection = connection
        dialect = connection.dialect
        given = list(columns)
        tail, tail_values = [], []
        for column in table.columns:
            if column.name in given or column.primary_key:
                continue
            default = column.default
            if default is not None and (default.is_scalar or default.is_callable):
                tail.append(column.name)
                tail_values.append(default.arg if default.is_scalar else default.arg(None))
        names = given + tail
        processors = [
            table.columns[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        ]
        self.tail = tail_values
        self.processors = [(i, p) for i, p in enumerate(processors) if p is not None]
        quote = dialect.identifier_preparer.quote
        marks = ", ".join("?" if dialect.paramstyle == "qmark" else "%s" for _ in names)
        self.sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
            f"VALUES ({marks})"
        )

    def insert(self, rows, chunk: int = 50_000) -> None:
        batch = []
        for row in rows:
            values = [*row, *self.tail]
            for index, process in self.processors:
                values[index] = process(values[index])
            batch.append(tuple(values))
            if len(batch) >= chunk:
                self.connection.exec_driver_sql(self.sql, batch)
                batch = []
        if batch:
            self.connection.exec_driver_sql(self.sql, batch)


@dataclass
class Plan:
    """What the build makes, in memory first so that every counter comes out right."""

    ideas: list = field(default_factory=list)  # dicts, index = id - 1
    votes: list = field(default_factory=list)  # (user_id, idea_id, weight, created_at)
    comments: list = field(default_factory=list)  # (idea_id, author_id, created_at, n)
    showcase: int = 0  # the idea with a long timeline


def plan_ideas(args, rng, now, customers: list[int], categories: dict) -> list[dict]:
    statuses, weights = zip(*STATUS_MIX, strict=True)
    board_ids, shares = range(1, len(BOARDS) + 1), [board[2] for board in BOARDS]
    start = now - timedelta(days=365)
    ideas = []
    for n in range(1, args.ideas + 1):
        board = rng.choices(board_ids, shares)[0]
        created = start + timedelta(seconds=365 * 86400 * n / (args.ideas + 1))
        status = rng.choices(statuses, weights)[0]
        words = rng.sample(WORDS, 3)
        ideas.append(
            {
                "id": n,
                "board": board,
                "category": rng.choice(categories[board] + [None]),
                "author": rng.choice(customers),
                "title": f"{' '.join(words).capitalize()} (#{n})",
                "topic": words[0],
                "status": status,
                "created": created,
                "updated": created + timedelta(hours=rng.random() * 48),
                "hidden": rng.random() < 0.005,
                "votes": 0,
                "comments": 0,
            }
        )
    for idea in ideas:  # a duplicate points at an earlier idea
        if idea["status"] == "duplicate":
            if idea["id"] == 1:
                idea["status"] = "open"
            else:
                idea["merged_into"] = rng.randrange(1, idea["id"])
    return ideas


def plan_votes(args, rng, now, plan: Plan, customers: list[int]) -> None:
    """Votes with a long tail: a few ideas gather thousands, most a handful."""
    popularity = [1 / (rank + 10) ** 0.9 for rank in range(args.ideas)]
    rng.shuffle(popularity)
    cumulative, total = [], 0.0
    for weight in popularity:
        total += weight
        cumulative.append(total)
    seen, budgets = set(), {}  # budgets: (user, board) -> budget votes used
    ids = range(1, args.ideas + 1)
    while len(seen) < args.votes:
        for idea_id in rng.choices(ids, cum_weights=cumulative, k=args.votes - len(seen)):
            user_id, idea = rng.choice(customers), plan.ideas[idea_id - 1]
            key = user_id * (args.ideas + 1) + idea_id
            budget = BOARDS[idea["board"] - 1][4]
            if budget and idea["status"] in VOTING and key not in seen:
                if budgets.get((user_id, idea["board"]), 0) >= budget:
                    continue  # no votes left in this board
                budgets[(user_id, idea["board"])] = budgets.get((user_id, idea["board"]), 0) + 1
            seen.add(key)
    age = (now - plan.ideas[0]["created"]).total_seconds()
    for key in sorted(seen):
        user_id, idea_id = divmod(key, args.ideas + 1)
        idea = plan.ideas[idea_id - 1]
        weight = rng.choice((1, 1, 1, 2, 3)) if idea["board"] == 2 else 1
        idea["votes"] += weight
        moment = idea["created"] + timedelta(seconds=rng.random() * age / 4)
        plan.votes.append((user_id, idea_id, weight, min(moment, now)))


def plan_comments(args, rng, plan: Plan, customers: list[int]) -> None:
    top = max(plan.ideas, key=lambda idea: idea["votes"] if idea["status"] == "open" else -1)
    plan.showcase = top["id"]
    chosen = [rng.randrange(1, args.ideas + 1) for _ in range(args.ideas // 2)]
    chosen += [plan.showcase] * 30
    for n, idea_id in enumerate(chosen):
        idea = plan.ideas[idea_id - 1]
        idea["comments"] += 1
        created = idea["created"] + timedelta(minutes=10 * idea["comments"])
        plan.comments.append((idea_id, rng.choice(customers), created, n))


def flask_db(env: dict, *arguments: str) -> None:
    """`flask --app portal db ARGUMENTS` on env's database; raises CalledProcessError."""
    subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "portal", "db", *arguments],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip


def upgrade(env: dict) -> None:
    flask_db(env, "upgrade")


def build(args, env: dict) -> dict:
    instance = Path(env["PORTAL_INSTANCE_PATH"])
    shutil.rmtree(instance, ignore_errors=True)
    instance.mkdir(parents=True)
    started = time.perf_counter()
    upgrade(env)
    rng = random.Random(args.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    customers = list(range(3, 3 + args.users))
    categories = {b: [(b - 1) * 4 + c for c in range(1, 5)] for b in range(1, 4)}
    plan = Plan(ideas=plan_ideas(args, rng, now, customers, categories))
    plan_votes(args, rng, now, plan, customers)
    plan_comments(args, rng, plan, customers)
    print(f"  planned in {time.perf_counter() - started:.1f} s; writing ...", flush=True)
    app = make_app(env)
    with app.app_context(), db.engine.begin() as connection:
        write_plan(connection, args, now, plan, customers)
    with app.app_context():
        db.engine.dispose()
    info = {
        "ideas": args.ideas,
        "votes": len(plan.votes),
        "comments": len(plan.comments),
        "users": args.users + 2 + VOTERS,
        "showcase": plan.showcase,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    (instance / "built.json").write_text(json.dumps(info))
    return info


def write_plan(connection, args, now, plan: Plan, customers: list[int]) -> None:
    password_hash = generate_password_hash(PASSWORD)
    people = [
        (1, "admin@bench.example", "Ada Admin", password_hash, int(Role.ADMIN), now, now),
        (2, "owner@bench.example", "Olli Owner", password_hash, int(Role.OWNER), now, now),
    ]
    people += [
        (i, f"customer{i}@bench.example", f"Customer {i}", password_hash, 1, now, now)
        for i in customers
    ]
    first_voter = customers[-1] + 1
    people += [
        (first_voter + v, f"voter{v}@bench.example", f"Voter {v}", password_hash, 1, now, now)
        for v in range(VOTERS)
    ]
    user_columns = ["id", "email", "name", "password_hash", "role", "email_verified_at"]
    Inserter(connection, User.__table__, [*user_columns, "created_at"]).insert(people)
    Inserter(
        connection,
        Board.__table__,
        ["id", "slug", "name", "description", "max_votes_per_idea", "votes_per_user",
         "position", "created_at"],
    ).insert(
        (i, slug, name, f"{name}: tell us what to build next.", weight, budget, i, now)
        for i, (slug, name, _, weight, budget, _) in enumerate(BOARDS, 1)
    )  # fmt: skip
    Inserter(connection, Category.__table__, ["id", "board_id", "slug", "name"]).insert(
        ((b - 1) * 4 + c, b, name.lower(), name)
        for b, (*_, names) in enumerate(BOARDS, 1)
        for c, name in enumerate(names, 1)
    )
    write_ideas(connection, plan)
    Inserter(connection, Vote.__table__, ["user_id", "idea_id", "weight", "created_at"]).insert(
        plan.votes
    )
    write_activity(connection, plan)
    Inserter(connection, Counter.__table__, ["name", "value"]).insert([("idea_number", args.ideas)])


def write_ideas(connection, plan: Plan) -> None:
    bodies = {}
    columns = [
        "id", "number", "board_id", "category_id", "author_id", "title", "body", "body_html",
        "status", "vote_count", "comment_count", "trending", "merged_into_id", "is_hidden",
        "is_deleted", "is_held", "created_at", "updated_at", "status_changed_at",
    ]  # fmt: skip

    def rows():
        for idea in plan.ideas:
            topic = idea["topic"]
            if topic not in bodies:
                text = BODY.format(topic=topic, n=len(bodies))
                bodies[topic] = (text, render_markdown(text))
            changed = idea["updated"] if idea["status"] != "open" else None
            yield (
                idea["id"], idea["id"], idea["board"], idea["category"], idea["author"],
                idea["title"], *bodies[topic], idea["status"], idea["votes"],
                idea["comments"],
                trending_score(idea["votes"], idea["comments"], idea["created"]),
                idea.get("merged_into"), idea["hidden"], False, False, idea["created"],
                idea["updated"], changed,
            )  # fmt: skip

    Inserter(connection, Idea.__table__, columns).insert(rows())


def write_activity(connection, plan: Plan) -> None:
    text = "Same here: we would use this every day. Any news on a date?"
    html = render_markdown(text)
    columns = ["idea_id", "author_id", "body", "body_html", "created_at"]
    Inserter(connection, Comment.__table__, columns).insert(
        (idea_id, author, text, html, created) for idea_id, author, created, _ in plan.comments
    )
    response = "Thanks for all the votes: this is on our list."
    changes = [
        (idea["id"], 2, "open", idea["status"], response, render_markdown(response),
         idea["updated"])
        for idea in plan.ideas
        if idea["status"] != "open"
    ]  # fmt: skip
    showcase = plan.ideas[plan.showcase - 1]
    changes += [
        (plan.showcase, 2, "open", "under_review", "", "", showcase["created"]),
        (plan.showcase, 2, "under_review", "open", response, render_markdown(response),
         showcase["updated"]),
    ]  # fmt: skip
    Inserter(
        connection,
        StatusChange.__table__,
        ["idea_id", "author_id", "from_status", "to_status", "response", "response_html",
         "created_at"],
    ).insert(changes)  # fmt: skip


def ensure_database(args) -> tuple[dict, dict]:
    instance = RESULTS / f"db-{args.ideas}-ideas-{args.votes}-votes-{args.users}-users"
    env = environment(instance)
    marker = instance / "built.json"
    if marker.exists() and not args.rebuild:
        info = json.loads(marker.read_text())
        print(f"Reusing {instance.relative_to(ROOT)} (built in {info['build_seconds']} s)")
        upgrade(env)  # a database built before the latest migrations gets them
        return env, info
    print(f"Building {instance.relative_to(ROOT)}: {args.ideas:,} ideas, {args.votes:,} votes")
    info = build(args, env)
    print(f"  built in {info['build_seconds']} s")
    return env, info


# ----------------------------------------------------------------------------- in-process


PAGES = [
    ("board (trending)", "/b/features"),
    ("board ?sort=top", "/b/features?sort=top"),
    ("board ?page=50", "/b/features?page=50"),
    ("budget board", "/b/mobile"),
    ("idea page", "/ideas/{showcase}"),
]


@contextmanager
def counting_statements(app):
    """Counts SQL statements sent to the database, leaving out SQLite's BEGIN and PRAGMAs;
    the page cache reads its version on a connection of its own, counted apart."""
    seen = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA")):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    versions = app.extensions["pagecache"].versions
    reads = versions.reads
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        seen += ["-- the page cache's version read"] * (versions.reads - reads)


def signed_in_client(app, email):
    client = app.test_client()
    answer = client.post("/signin", data={"email": email, "password": PASSWORD})
    if answer.status_code != 303:
        raise SystemExit(f"Could not sign in {email}: HTTP {answer.status_code}")
    return client


def busiest_customer(app) -> str:
    """The customer with the most votes, so the signed-in board shows "voted" marks."""
    with app.app_context():
        email = db.session.scalar(
            db.select(User.email)
            .join(Vote, Vote.user_id == User.id)
            .group_by(User.id)
            .order_by(func.count(Vote.id).desc())
            .limit(1)
        )
        db.session.remove()
    return email


def timed(client, method, path, **kwargs) -> tuple[float, float]:
    """Wall and CPU milliseconds of one in-process request."""
    wall, cpu = time.perf_counter(), time.process_time()
    answer = client.open(path, method=method, **kwargs)
    if answer.status_code != 200:
        print(f"  ! {method} {path} answered {answer.status_code}")
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def in_process(args, env: dict, info: dict, **config) -> dict:
    """Sections a and b; config overrides the app's settings (PAGE_CACHE_SECONDS=0, say)."""
    app = make_app(env, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False, **config)
    clients = {
        "visitor": app.test_client(),
        "customer": signed_in_client(app, busiest_customer(app)),
    }
    pages = [(name, path.format(showcase=info["showcase"])) for name, path in PAGES]
    figures = {"sql": {}, "time": {}, "sql_samples": {}, "sql_cached": 0}
    cache = app.extensions["pagecache"]
    # A new database's first request makes the page cache's version rows and cannot keep
    # the configuration under a version yet: let that happen before anything is counted.
    clients["visitor"].get("/")
    for per_page in (20, 100):
        app.config["PER_PAGE"] = per_page
        for who, client in clients.items():
            for name, path in pages:
                client.get(path)  # warm caches
                cache.clear()  # count what rendering the page costs, not the cached copy
                with counting_statements(app) as seen:
                    timed(client, "GET", path)
                figures["sql"][(name, who, per_page)] = len(seen)
                figures["sql_samples"][(name, who, per_page)] = list(seen)
                with counting_statements(app) as seen:
                    timed(client, "GET", path)
                if who == "visitor":
                    figures["sql_cached"] = max(figures["sql_cached"], len(seen))
    app.config["PER_PAGE"] = 20
    for who, client in clients.items():
        for name, path in pages:
            runs = [timed(client, "GET", path) for _ in range(args.requests)]
            walls, cpus = zip(*runs, strict=True)
            figures["time"][(name, who)] = (
                percentile(walls, 0.5),
                percentile(walls, 0.95),
                sum(cpus) / len(cpus),
            )
    figures["vote"] = votes_in_process(app, args)
    with app.app_context():
        db.engine.dispose()
    return figures


def hot_ideas(app) -> list[int]:
    """The 200 most-voted open ideas of the big board: where votes pile up."""
    with app.app_context():
        pool = db.session.scalars(
            db.select(Idea.number)
            .where(Idea.board_id == 1, Idea.status == "open", Idea.is_hidden.is_(False))
            .order_by(Idea.vote_count.desc())
            .limit(200)
        ).all()
        db.session.remove()
    return pool


VOTE_WARM_UP = 10  # votes before the measured ones: the first fill caches


def votes_in_process(app, args) -> dict:
    """One voter, no concurrency: how long a vote takes and how long it holds SQLite's single
    write lock (from BEGIN IMMEDIATE to the commit; its reads come before, without it)."""
    email = f"voter{VOTERS - 1}@bench.example"
    client = signed_in_client(app, email)
    pool = hot_ideas(app)
    opened, held = [], []
    with app.app_context():
        engine = db.engine
        voted = set(
            db.session.scalars(
                db.select(Idea.number)
                .join(Vote, Vote.idea_id == Idea.id)
                .join(User, Vote.user_id == User.id)
                .where(User.email == email)
            )
        )
        db.session.remove()

    def begin(connection, cursor, statement, *_):
        if statement.startswith("BEGIN IMMEDIATE"):
            opened.append(time.perf_counter())

    def end(connection):
        if opened:
            held.append((time.perf_counter() - opened.pop()) * 1000)

    listeners = [("before_cursor_execute", begin), ("commit", end), ("rollback", end)]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    rng, walls, cpus, locks = random.Random(1), [], [], []
    try:
        for n in range(VOTE_WARM_UP + args.requests):  # --requests measured, after the warm-up
            number = rng.choice(pool)
            action = "retract" if number in voted else "vote"
            voted.symmetric_difference_update({number})
            held.clear()
            wall, cpu = timed(client, "POST", f"/ideas/{number}/vote",
                              data={"action": action}, headers={"HX-Request": "true"})  # fmt: skip
            if n >= VOTE_WARM_UP:
                walls.append(wall)
                cpus.append(cpu)
                locks.append(sum(held))
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
    return {
        "p50": percentile(walls, 0.5),
        "p95": percentile(walls, 0.95),
        "cpu": sum(cpus) / len(cpus),
        "held": percentile(locks, 0.5),
    }


# ----------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SERVERS: dict[int, int] = {}  # port -> gunicorn master's pid


def server_cpu_seconds(port) -> float:
    """CPU time used so far by the gunicorn serving port: master and workers (Linux)."""
    master = SERVERS.get(port)
    if master is None:
        return float("nan")
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        total = 0
        for pid in [master, *map(int, children)]:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, ValueError):
        return float("nan")
    return total / os.sysconf("SC_CLK_TCK")


def server_rss_mb(port) -> float:
    """The largest resident set of the gunicorn processes serving port, in MB (Linux)."""
    master = SERVERS.get(port)
    if master is None:
        return float("nan")
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    largest = 0
    for pid in [master, *map(int, children)]:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                largest = max(largest, int(line.split()[1]))
    return largest / 1024


@contextmanager
def gunicorn(target: str, env: dict, log_name: str, cwd: Path = ROOT, ready: str = "/"):
    port = free_port()
    with open(RESULTS / log_name, "wb") as log:
        # The deployment's settings for both apps (gunicorn would read ./gunicorn.conf.py
        # for Stimme only, started from the project folder): the same access log for each.
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"),
             "--workers", "2", "--bind", f"127.0.0.1:{port}", "--timeout", "120", target],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if fetch(port, "GET", ready)[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            else:
                raise SystemExit(f"gunicorn {target} did not start; see {log.name}")
            SERVERS[port] = process.pid
            yield port
        finally:
            SERVERS.pop(port, None)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def fetch(port, method, path, body=None, headers=None) -> tuple[int, list, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        text = answer.read().decode("utf-8", "replace")
        return answer.status, answer.headers.get_all("Set-Cookie") or [], text
    finally:
        connection.close()


@dataclass
class Load:
    """What a run of concurrent clients saw."""

    seconds: float
    latencies: list = field(default_factory=list)  # ms, successful requests only
    errors: int = 0
    client_cpu: float = 0.0  # share of one core the load generator itself used
    server_cpu: float = 0.0  # cores the server (gunicorn master and workers) used

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def add(self, other: Load) -> None:
        total = self.seconds + other.seconds
        cpu = self.client_cpu * self.seconds + other.client_cpu * other.seconds
        server = self.server_cpu * self.seconds + other.server_cpu * other.seconds
        self.client_cpu, self.server_cpu = cpu / total, server / total
        self.seconds = total
        self.latencies += other.latencies
        self.errors += other.errors

    def p(self, share: float) -> float:
        return percentile(self.latencies, share)


def run_load(port, clients: int, seconds: float, make_request) -> Load:
    """clients threads, each with a keep-alive connection (reopened when the server
    closes it, as gunicorn's sync workers do), for `seconds` after a short warm-up."""
    load = Load(seconds)
    lock = threading.Lock()
    warm_until = time.monotonic() + min(1.0, seconds / 5)
    stop_at = warm_until + seconds

    def client(index):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        rng = random.Random(index)
        mine, errors = [], 0
        try:
            while (now := time.monotonic()) < stop_at:
                method, path, body, headers, check = make_request(index, rng)
                started = time.perf_counter()
                try:
                    connection.request(method, path, body=body, headers=headers)
                    answer = connection.getresponse()
                    text = answer.read().decode("utf-8", "replace")
                    ok = answer.status == 200 and check(text)
                except (OSError, http.client.HTTPException):
                    connection.close()
                    ok = False
                if now >= warm_until:
                    if ok:
                        mine.append((time.perf_counter() - started) * 1000)
                    else:
                        errors += 1
        finally:
            connection.close()
        with lock:
            load.latencies.extend(mine)
            load.errors += errors

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    cpu, server, wall = time.process_time(), server_cpu_seconds(port), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - wall
    load.client_cpu = (time.process_time() - cpu) / wall
    load.server_cpu = (server_cpu_seconds(port) - server) / wall
    return load


def page_weight(port, path) -> dict[str, tuple[int, int]]:
    """What a first visit to path downloads: the page, its stylesheet and its script, each
    as (bytes, bytes gzip-compressed at level 6, as a proxy would send them)."""

    def get(url) -> bytes:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", url)
            return connection.getresponse().read()
        finally:
            connection.close()

    html = get(path)
    parts = {"HTML": [html], "CSS": [], "JS": []}
    for url in ASSET.findall(html.decode()):
        parts["CSS" if url.endswith(".css") else "JS"].append(get(url))  # htmx and our own
    return {
        name: (sum(map(len, bodies)), sum(len(gzip.compress(body, 6)) for body in bodies))
        for name, bodies in parts.items()
    }


def page_load(port, path, args, headers=None) -> Load:
    def make_request(index, rng):
        return "GET", path, None, headers or {}, lambda text: True

    return run_load(port, args.clients, args.duration, make_request)


class Voter:
    """A signed-in customer on the real server: the form's CSRF token and the session."""

    def __init__(self, port, email):
        status, cookies, page = fetch(port, "GET", "/signin")
        jar = self._jar({}, cookies)
        form = {"csrf_token": CSRF_INPUT.search(page).group(1), "email": email,
                "password": PASSWORD}  # fmt: skip
        status, cookies, page = fetch(
            port, "POST", "/signin", urllib.parse.urlencode(form), self._headers(jar, form=True)
        )
        if status != 303:
            raise SystemExit(f"Could not sign in {email} on the server: HTTP {status}")
        jar = self._jar(jar, cookies)
        status, cookies, page = fetch(port, "GET", "/", headers=self._headers(jar))
        self.jar = self._jar(jar, cookies)
        self.csrf = CSRF_INPUT.search(page).group(1)
        self.voted: set[int] = set()

    @staticmethod
    def _jar(jar, cookies) -> dict:
        jar = dict(jar)
        for cookie in cookies:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            jar[name.strip()] = value
        return jar

    @staticmethod
    def _headers(jar, form=False) -> dict:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items() if v)}
        if form:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return headers

    def request(self, number: int):
        action = "retract" if number in self.voted else "vote"
        self.voted.symmetric_difference_update({number})
        body = urllib.parse.urlencode({"csrf_token": self.csrf, "action": action})
        headers = self._headers(self.jar, form=True) | {"HX-Request": "true"}
        return "POST", f"/ideas/{number}/vote", body, headers, VOTE_COUNT.search


def vote_load(port, env, args) -> tuple[Load, bool]:
    """Signed-in voters toggle their votes on the board's 200 most-voted open ideas."""
    app = make_app(env)
    pool = hot_ideas(app)
    emails = [f"voter{v}@bench.example" for v in range(args.vote_clients)]
    with app.app_context():
        existing = db.session.execute(
            db.select(User.email, Idea.number)
            .join(Vote, Vote.user_id == User.id)
            .join(Idea, Vote.idea_id == Idea.id)
            .where(User.email.in_(emails))
        ).all()
        db.session.remove()
    voters = [Voter(port, email) for email in emails]
    for email, number in existing:
        voters[emails.index(email)].voted.add(number)

    def make_request(index, rng):
        return voters[index].request(rng.choice(pool))

    load = run_load(port, args.vote_clients, args.duration, make_request)
    with app.app_context():
        drift = db.session.scalar(
            db.select(func.count())
            .select_from(Idea)
            .where(
                Idea.number.in_(pool),
                Idea.vote_count
                != db.select(func.coalesce(func.sum(Vote.weight), 0))
                .where(Vote.idea_id == Idea.id)
                .scalar_subquery(),
            )
        )
        db.session.remove()
        db.engine.dispose()
    return load, drift == 0


def under_load(args, env) -> dict:
    """Hello world and the board page in alternating slices, so that a neighbour's burst
    of CPU use on this machine hits both alike; then the votes."""
    hello_env = {k: v for k, v in env.items() if not k.startswith(("PORTAL_", "DATABASE"))}
    hello, board, signed = Load(0.0), Load(0.0), Load(0.0)
    slices = 4
    piece = argparse.Namespace(**{**vars(args), "duration": args.duration / slices})
    with (
        gunicorn("hello:app", hello_env, "gunicorn-hello.log", cwd=BENCH) as hello_port,
        gunicorn("wsgi:app", env, "gunicorn-stimme.log", ready="/healthz") as port,
    ):
        customer = Voter(port, "voter0@bench.example")  # a signed-in session: never cached
        version = page_version(env)
        for _ in range(slices):
            hello.add(page_load(hello_port, "/", piece))
            board.add(page_load(port, "/b/features", piece))
            signed.add(page_load(port, "/b/features", piece, Voter._headers(customer.jar)))
        writes = page_version(env) - version if version is not None else None
        weight = page_weight(port, "/b/features")
        votes, consistent = vote_load(port, env, args)
        rss = server_rss_mb(port)
    return {"hello": hello, "board": board, "signed": signed, "votes": votes,
            "consistent": consistent, "weight": weight, "writes": writes,
            "rss": rss}  # fmt: skip


def page_version(env) -> int | None:
    """The page cache's version: it moves with every write that visitors could see."""
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    connection = sqlite3.connect(path)
    try:
        row = connection.execute("SELECT value FROM counter WHERE name = 'page_version'")
        found = row.fetchone()
    finally:
        connection.close()
    return found[0] if found else None


# ----------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(args, info, figures, load) -> None:
    line = "-" * 96
    print(f"\n{line}\nStimme benchmark: {info['ideas']:,} ideas, {info['votes']:,} votes, "
          f"{info['comments']:,} comments, {info['users']:,} users, 3 boards (SQLite)")  # fmt: skip
    print(f"board = /b/features (~half the ideas); budget board = /b/mobile (10 votes each);\n"
          f"idea page = /ideas/{info['showcase']} (30+ comments, status timeline)"
          f"\n{line}")  # fmt: skip

    print("a. SQL statements per request (BEGIN/PRAGMA not counted)")
    print(f"   {'page':<20}{'visitor 20':>12}{'visitor 100':>13}{'customer 20':>13}"
          f"{'customer 100':>14}")  # fmt: skip
    worst, grows = 0, False
    for name, _ in PAGES:
        cells = [figures["sql"][(name, who, pp)] for who in ("visitor", "customer")
                 for pp in (20, 100)]  # fmt: skip
        worst = max(worst, *cells)
        grows = grows or cells[1] > cells[0] or cells[3] > cells[2]
        print(f"   {name:<20}{cells[0]:>12}{cells[1]:>13}{cells[2]:>13}{cells[3]:>14}")
    print("   (each page rendered: the visitors' page cache emptied first; the visitor's count\n"
          "   includes the cache's version read)")  # fmt: skip
    print(f"   a visitor's page from the cache: {figures['sql_cached']} statement(s) at most, "
          "the version read")  # fmt: skip

    print(f"\nb. Server time in-process, {args.requests} requests each, 20 per page (ms; CPU is"
          " the mean CPU time per request)")  # fmt: skip
    print(f"   {'page':<20}{'visitor p50':>12}{'p95':>8}{'CPU':>7}{'customer p50':>14}"
          f"{'p95':>8}{'CPU':>7}")  # fmt: skip
    for name, _ in PAGES:
        v50, v95, vcpu = figures["time"][(name, "visitor")]
        c50, c95, ccpu = figures["time"][(name, "customer")]
        print(f"   {name:<20}{v50:>12.1f}{v95:>8.1f}{vcpu:>7.1f}{c50:>14.1f}{c95:>8.1f}"
              f"{ccpu:>7.1f}")  # fmt: skip
    vote = figures["vote"]
    print(f"   {'vote (htmx POST)':<20}{'':>27}{vote['p50']:>14.1f}{vote['p95']:>8.1f}"
          f"{vote['cpu']:>7.1f}")  # fmt: skip
    print(f"   a vote holds SQLite's write lock {vote['held']:.1f} ms of its {vote['p50']:.1f} ms "
          "(p50)")  # fmt: skip
    idea_p95 = max(figures["time"][("idea page", who)][1] for who in ("visitor", "customer"))

    hello, board, votes = load["hello"], load["board"], load["votes"]
    ratio = board.rate / hello.rate if hello.rate else 0.0
    signed_ratio = load["signed"].rate / hello.rate if hello.rate else 0.0
    print(f"\nc. gunicorn, 2 sync workers, {args.clients} keep-alive clients, "
          f"{args.duration:g} s each")  # fmt: skip
    for name, run in (("hello world", hello), ("board (visitor)", board),
                      ("board (signed in)", load["signed"])):  # fmt: skip
        print(f"   {name:<20}{run.rate:>9.0f} req/s   p50 {run.p(0.5):6.1f} ms   "
              f"p95 {run.p(0.95):6.1f} ms   errors {run.errors}")  # fmt: skip
        print(f"   {'':<20}CPU used: server {run.server_cpu:.2f} cores, load generator "
              f"{run.client_cpu:.2f} cores")  # fmt: skip
    print(f"   ratio board / hello: {ratio:.1%} for visitors, {signed_ratio:.1%} signed in")
    if load["writes"]:  # a vote anywhere makes every visitor's page render again
        print(f"   ! {load['writes']} writes by other processes during the board runs: "
              "visitors' pages were rendered again after each")  # fmt: skip
    weight = load["weight"]
    total = sum(gzipped for _, gzipped in weight.values())
    print("   page weight of /b/features, gzip (raw): " + ", ".join(
        f"{name} {gzipped / 1024:.1f} KB ({raw / 1024:.1f})"
        for name, (raw, gzipped) in weight.items()) + f"; total {total / 1024:.1f} KB")  # fmt: skip

    print(f"\nd. Votes: {args.vote_clients} signed-in clients toggling votes on 200 hot ideas, "
          f"{args.duration:g} s")  # fmt: skip
    print(f"   {votes.rate:.0f} votes/s   p50 {votes.p(0.5):.1f} ms   p95 {votes.p(0.95):.1f} ms"
          f"   errors {votes.errors}   counters consistent afterwards: "
          f"{'yes' if load['consistent'] else 'NO'}")  # fmt: skip
    print(f"   CPU used: server {votes.server_cpu:.2f} cores, load generator "
          f"{votes.client_cpu:.2f} cores")  # fmt: skip
    print(f"   largest web process after all runs: {load['rss']:.0f} MB resident")

    results = [
        ("ratio", f"{ratio:.1%}", ratio >= TARGETS["ratio"][1]),
        ("signed_ratio", f"{signed_ratio:.1%}", signed_ratio >= TARGETS["signed_ratio"][1]),
        ("sql", f"max {worst}{', grows with page size' if grows else ''}",
         worst <= TARGETS["sql"][1] and not grows),
        ("idea_p95", f"{idea_p95:.1f} ms", idea_p95 <= TARGETS["idea_p95"][1]),
        ("vote_p95", f"{votes.p(0.95):.1f} ms", votes.p(0.95) <= TARGETS["vote_p95"][1]),
        ("votes_per_s", f"{votes.rate:.0f} votes/s", votes.rate >= TARGETS["votes_per_s"][1]),
        ("weight", f"{total / 1024:.1f} KB", total <= TARGETS["weight"][1]),
        ("rss", f"{load['rss']:.0f} MB", load["rss"] <= TARGETS["rss"][1]),
    ]  # fmt: skip
    print(f"\n{line}\n{'target':<62}{'measured':<26}result\n{line}")
    for key, measured, ok in results:
        print(f"{TARGETS[key][0]:<62}{measured:<26}{verdict(ok)}")
    print(line)
    save(args, info, figures, load, results)


def save(args, info, figures, load, results) -> None:
    data = {
        "args": vars(args),
        "database": info,
        "sql": {" | ".join(map(str, key)): value for key, value in figures["sql"].items()},
        "time_ms": {" | ".join(key): value for key, value in figures["time"].items()},
        "vote_in_process_ms": figures["vote"],
        "load": {
            name: {
                "rate": run.rate,
                "p50": run.p(0.5),
                "p95": run.p(0.95),
                "errors": run.errors,
                "server_cpu_cores": run.server_cpu,
                "client_cpu_cores": run.client_cpu,
            }
            for name, run in load.items()
            if isinstance(run, Load)
        },
        "page_weight_bytes": {
            name: {"raw": raw, "gzip": gz} for name, (raw, gz) in load["weight"].items()
        },  # fmt: skip
        "sql_cached_visitor": figures["sql_cached"],
        "targets": {key: {"measured": measured, "pass": ok} for key, measured, ok in results},
        "sql_samples": {
            " | ".join(map(str, key)): value for key, value in figures["sql_samples"].items()
        },
    }
    (RESULTS / "last.json").write_text(json.dumps(data, indent=1, default=str))
    print(f"Figures and the SQL statements seen: {(RESULTS / 'last.json').relative_to(ROOT)}")


def load_average_before() -> float:
    """The load average now, with a warning when other work will slow the figures down."""
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        print(f"Note: load average {load:.1f} before starting: the figures will be low.")
    return load


def main(argv=None) -> int:
    args = parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_before = load_average_before()
    env, info = ensure_database(args)
    print("Measuring in-process (SQL statements, server time) ...", flush=True)
    figures = in_process(args, env, info)
    print("Measuring under gunicorn (hello world, board page, votes) ...", flush=True)
    load = under_load(args, env)
    report(args, info, figures, load)
    print(
        f"Benchmark took {time.perf_counter() - started:.0f} s. Load average before and after: "
        f"{load_before:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(other busy processes lower every figure)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
