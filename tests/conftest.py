"""Fixtures in flaskr's manner: app, client, auth, plus factories for believable data.

The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL names one.
"""

import importlib.util
import os
import socket
import time
import urllib.parse
import uuid
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import psycopg
import pytest
from aiosmtpd.controller import Controller
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import create_engine, text
from werkzeug.security import generate_password_hash

from portal import create_app
from portal.extensions import db, limiter
from portal.models import Board, Category, Idea, Role, User, utcnow
from portal.operations.ideas import submit_idea
from portal.operations.votes import cast_vote
from portal.search import SearchUnavailable, get_backend
from portal.search.indexing import apply_pending, queue_reindex
from portal.search.similarity import forget_frequencies
from portal.worker import drain

# The browser suites' chromium and live server (tests/browser.py), and the OpenID provider
# (tests/identity_provider.py).
pytest_plugins = ["browser", "identity_provider"]

PASSWORD = "correct horse battery"
# The key the suite's site checks signed sign-on tokens with (tests/test_single_sign_on.py).
SSO_SECRET = "a-company-secret-of-at-least-32-characters"
# One round instead of scrypt's 50 ms a check: the suite signs in thousands of times, and
# tests who may, not how hard a hash is to break (test_auth.py checks the real method).
CHEAP_HASH = "pbkdf2:sha256:1"
PASSWORD_HASH = generate_password_hash(PASSWORD, method=CHEAP_HASH)

# Which pytest-xdist worker this is ("main" without xdist), and which run: the workers of
# one run share a PostgreSQL template, a later run builds its own.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
TEST_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups off the marks
def pytest_collection_modifyitems(items):
    """Groups for pytest-xdist's `--dist loadgroup`; each group runs whole, on one worker.

    Browser tests form one group and tests that start server processes another, so a
    browser module's chromium and live server start once and two load runs never compete
    for the same two cores. A module that builds its world once (it replaces
    `_clean_state`) is a group of its own: no other test may empty the tables between its
    tests; where it names tests that begin a part of their own (`WORLD_STARTS`), each part
    is a group and builds the world again on its worker. Everything else is spread test by
    test.

    The longest run first (`--no-loadscope-reorder`: xdist would order groups by how many
    tests they hold, and a 90-second property test, one test, would come last): the browser
    group, the server processes, the worlds built once, long single tests, the rest.
    """
    for item in items:
        if "_clean_state" in vars(item.module):
            group = f"{item.module.__name__}:{world_part(item)}"
        else:
            group = next(
                (name for name in ("browser", "slow") if item.get_closest_marker(name)), None
            )
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lasting)


def lasting(item) -> int:
    """An item's place in the hand-out order: what runs longest first (sort is stable)."""
    if item.get_closest_marker("browser"):
        return 0
    if item.get_closest_marker("slow"):
        return 1
    if "_clean_state" in vars(item.module):
        return 2
    return 3 if item.get_closest_marker("long") else 4


def world_part(item) -> int:
    """How many of its module's WORLD_STARTS come at or before this test, in file order."""
    line = item.function.__code__.co_firstlineno
    starts = getattr(item.module, "WORLD_STARTS", ())
    return sum(getattr(item.module, name).__code__.co_firstlineno <= line for name in starts)


def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return postgres_for_this_worker(url).replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def postgres_for_this_worker(server_url: str) -> str:
    """A database of this test process's own, copied from a template with the schema.

    Each pytest-xdist worker gets `<name>_<worker>`; the first worker of a run builds
    `<name>_template` (marked with the run's id) under an advisory lock, the others wait
    for it. Copying a template takes a fraction of building the schema in each.
    """
    server = urllib.parse.urlsplit(server_url.replace("postgresql+psycopg://", "postgresql://"))
    name = server.path.lstrip("/")
    template, mine = f"{name}_template", f"{name}_{WORKER}"
    with psycopg.connect(server.geturl(), autocommit=True) as admin:
        admin.execute("SELECT pg_advisory_lock(hashtext(%s))", (template,))
        try:
            built_for = admin.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (template,),
            ).fetchone()
            if built_for is None or built_for[0] != TEST_RUN:
                admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                admin.execute(f'CREATE DATABASE "{template}"')
                build_schema(server._replace(path=f"/{template}").geturl())
                admin.execute(f"COMMENT ON DATABASE \"{template}\" IS '{TEST_RUN}'")
            admin.execute(f'DROP DATABASE IF EXISTS "{mine}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{mine}" TEMPLATE "{template}"')
            # A commit need not wait for the disk here (0.6 ms each): no test crashes this
            # server, and what other sessions see is the same either way.
            admin.execute(f'ALTER DATABASE "{mine}" SET synchronous_commit = off')
        finally:
            admin.execute("SELECT pg_advisory_unlock(hashtext(%s))", (template,))
    return server._replace(path=f"/{mine}").geturl()


def build_schema(url: str) -> None:
    """The models' tables, then the search structures the PostgreSQL migrations add and the
    models do not describe: the stored search vector and the GIN indexes the backend reads."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    search = migration("8f4a2c6e1d93_stored_search_vector")
    with engine.begin() as connection:
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        db.metadata.create_all(connection)
        for statement in (search.SEARCH_COLUMN, search.SEARCH_INDEX, TITLE_TRIGRAM_INDEX):
            connection.execute(text(statement))
    engine.dispose()


MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"
TITLE_TRIGRAM_INDEX = (  # migration 5a1c0e2b7d41
    "CREATE INDEX IF NOT EXISTS ix_idea_title_trgm ON idea USING GIN (title gin_trgm_ops)"
)


def migration(name: str):
    """A migration's module, for the statements it runs (migrations are no package)."""
    spec = importlib.util.spec_from_file_location(name, MIGRATIONS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def drop_postgres(url: str) -> None:
    server = urllib.parse.urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    name = server.path.lstrip("/")
    with psycopg.connect(server._replace(path="/postgres").geturl(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    url = database_url(tmp_path_factory)
    app = create_app(
        {
            "ENV": {"PORTAL_ENV": "development"},
            "INSTANCE_PATH": str(instance),
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "WTF_CSRF_ENABLED": False,
            "MAIL_URL": f"file://{instance / 'mail'}",
            "BASE_URL": "http://localhost",
            "PASSWORD_HASH_METHOD": CHEAP_HASH,
            "SSO_JWT_SECRET": SSO_SECRET,
        }
    )
    with app.app_context():
        db.create_all()  # on PostgreSQL the template made them already
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if url.startswith("postgresql"):
        drop_postgres(url)


def empty_tables() -> None:
    """Empty the tables that hold rows and restart the ids a test used; one query finds
    them. (TRUNCATE of every table took 0.2 s a test on PostgreSQL, DELETE of a few rows
    takes a millisecond.)"""
    tables = list(reversed(db.metadata.sorted_tables))
    probe = " UNION ALL ".join(
        f"SELECT '{table.name}' WHERE EXISTS (SELECT 1 FROM \"{table.name}\")" for table in tables
    )
    filled = set(db.session.scalars(text(probe)))
    for table in tables:
        if table.name in filled:
            db.session.execute(table.delete())
    if db.engine.dialect.name == "postgresql":
        used = db.session.scalars(
            text("SELECT sequencename FROM pg_sequences WHERE last_value IS NOT NULL")
        )
        for sequence in used.all():
            db.session.execute(text("SELECT setval(:sequence, 1, false)"), {"sequence": sequence})
    db.session.commit()


def empty_search_index() -> None:
    """An empty search index, as on a new site: rebuilt only when a test left entries in it
    or broke it (a new Whoosh generation costs 4 ms, a look 0.1 ms)."""
    backend = get_backend()
    try:
        if not backend.stamps():
            return
    except SearchUnavailable:
        pass
    backend.rebuild([])


@pytest.fixture(autouse=True)
def _clean_state(app):
    with app.app_context():
        empty_tables()
        empty_search_index()
        forget_frequencies()
    limiter.reset()
    yield


@pytest.fixture
def ctx(app):
    """An application context for tests that call operations directly."""
    with app.app_context():
        yield
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


class Factory:
    """Makes believable rows; every call commits so the app sees them."""

    def __init__(self, app):
        self.app = app
        self.count = 0

    def user(self, role=Role.CUSTOMER, name=None, email=None, **fields) -> User:
        self.count += 1
        with self.app.app_context():
            # Two days old unless a test says otherwise: past the brakes on new accounts.
            fields.setdefault("created_at", utcnow() - timedelta(days=2))
            user = User(
                email=email or f"person{self.count}@example.com",
                name=name or f"Person {self.count}",
                password_hash=PASSWORD_HASH,
                email_verified_at=utcnow(),
                **fields,
            )
            user.role = role
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    def board(self, slug="features", categories=("Reporting", "Integrations"), **fields):
        with self.app.app_context():
            board = Board(slug=slug, name=fields.pop("name", slug.replace("-", " ").title()),
                          description="Ideas for the product.", **fields)  # fmt: skip
            db.session.add(board)
            for name in categories:
                db.session.add(Category(board=board, name=name, slug=name.lower()))
            db.session.commit()
            return board.id

    def idea(self, board_id, author, title="Export reports as CSV", body="We need it.", **fields):
        with self.app.app_context():
            board = db.session.get(Board, board_id)
            author = db.session.get(User, author.id)
            idea = submit_idea(author, board, title, body)
            for name, value in fields.items():
                setattr(idea, name, value)
            if fields:  # as every operation that changes an idea does
                queue_reindex(idea)
            idea.refresh_trending()
            db.session.commit()
            apply_pending()
            return idea.number


@pytest.fixture
def make(app):
    return Factory(app)


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, user):
        """Sign in through the real form, as a person would."""
        response = self.client.post("/signin", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 303, response.text
        return response

    def logout(self):
        return self.client.post("/signout")


@pytest.fixture
def roomy_limits(app):
    """Thousands of requests from one person in a minute are the point of some tests."""
    previous = dict(app.config["RATE_LIMITS"])
    app.config["RATE_LIMITS"].update({name: "100000 per minute" for name in previous})
    yield
    app.config["RATE_LIMITS"].clear()
    app.config["RATE_LIMITS"].update(previous)


@pytest.fixture
def auth(client):
    return Auth(client)


def signed_sign_on(secret=SSO_SECRET, alg="HS256", lifetime=300, **claims) -> str:
    """A sign-on token as the company's server makes it: an email, an expiry and a fresh
    jti, unless the caller says otherwise (None leaves a claim out)."""
    claims = {"email": "cara@example.com", "exp": int(time.time()) + lifetime,
              "jti": uuid.uuid4().hex, **claims}  # fmt: skip
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode({"alg": alg}, claims, OctKey.import_key(secret), algorithms=[alg])


def htmx_headers(**extra) -> dict:
    return {"HX-Request": "true", **extra}


def vote_for(app, number, *users) -> None:
    """Vote as each user, which makes them follow the idea."""
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        for user in users:
            cast_vote(db.session.get(User, user.id), idea)
        db.session.commit()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- mail: a real SMTP server on loopback ------------------------------------------------


class Mailbox:
    """An SMTP server's handler that keeps every message it is given."""

    def __init__(self, app):
        self.app = app
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def receive(self) -> list:
        """Run the outbox worker once and return what arrived since the last call."""
        with self.app.app_context():
            drain()
        received, self.messages = self.messages, []
        return received


@pytest.fixture
def mailbox(app):
    box = Mailbox(app)
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    previous = app.config["MAIL_URL"]
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{controller.port}"
    yield box
    app.config["MAIL_URL"] = previous
    controller.stop()


def text_and_html(message) -> tuple[str, str]:
    """The plain-text and HTML parts every mail must have."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "a mail needs a text and an HTML part"
    return text.get_content(), html.get_content()


@pytest.fixture
def api(app):
    from api_contract import Api

    return Api(app)
