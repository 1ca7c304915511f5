"""Visitors' pages from memory (issue 7): the home, board and idea pages rendered for people
who are not signed in are kept a few seconds in each process, and every committed change
that visitors could see makes them stale at once, in every process and on every machine.

Processes share only the database, so it holds the shared state: two version numbers,
rows of Counter. `page_version` moves with every committed change visitors could see;
`config_version` only when an admin changes site settings, statuses or transitions. A
cached page is served while the version it was rendered under is still current, which
costs a visitor's request one read of both numbers instead of the page's queries and its
rendering. Every page, signed-in ones too, also keeps the configuration it reads on every
request (statuses, settings) in memory until `config_version` moves.
"""

import logging
import os
import random
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from itertools import chain

from flask import current_app, g, has_request_context, request, session
from flask_login import current_user
from flask_sqlalchemy.session import Session
from sqlalchemy import case, event, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import TextClause

from portal.extensions import db
from portal.htmx import wants_fragment
from portal.i18n import visitor_language
from portal.models import Counter
from portal.security import csp_nonce

log = logging.getLogger(__name__)

CACHED_ENDPOINTS = frozenset({"public.index", "public.board", "public.idea"})
# The site's configuration: read by every page, changed by admins now and then.
CONFIGURATION = frozenset({"site_setting", "custom_status", "blocked_transition"})
# Tables whose rows the cached pages show to visitors (authors' names come from user).
SEEN_BY_VISITORS = CONFIGURATION | {
    "board", "category", "idea", "vote", "comment", "status_change", "merge", "user",
}  # fmt: skip
WRITE_SQL = re.compile(r'\s*(?:insert\s+(?:or\s+\w+\s+)?into|update|delete\s+from)\s+"?(\w+)', re.I)

PAGES, SETTINGS = "page_version", "config_version"
COUNTER = Counter.__table__  # Core statements: a fifth of the ORM's cost inside a vote
VERSIONS_QUERY = db.select(COUNTER.c.name, COUNTER.c.value).where(
    COUNTER.c.name.in_((PAGES, SETTINGS))
)
# Counter.value is a 32-bit integer on PostgreSQL: wrap before it overflows.
NEXT_VERSION = case((COUNTER.c.value >= 2**31 - 2, 1), else_=COUNTER.c.value + 1)
CHANGED = "pagecache_changed"  # Session.info key: the versions this transaction moves


@dataclass(frozen=True, slots=True)
class Versions:
    pages: int | None
    configuration: int | None


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered answer, its body split where the CSP nonce it was rendered with stood."""

    version: int
    expires: float
    parts: tuple[bytes, ...]
    mimetype: str

    def body(self, nonce: str) -> bytes:
        return nonce.encode().join(self.parts)


class PageCache:
    """A bounded LRU of rendered pages, each good for one version and a few seconds; and
    the configuration, good for one configuration version."""

    def __init__(self, seconds: float, size: int):
        self.seconds, self.size = seconds, size
        # Nothing personal is in these pages; Vary: Cookie (the session's) keeps a browser
        # from showing its visitor's copy once its person has signed in.
        self.cache_control = f"public, max-age={seconds}"
        self._pages: OrderedDict[tuple, Page] = OrderedDict()
        self._lock = threading.Lock()  # the development server answers in threads
        self.versions = VersionReader()
        self.configuration: dict[str, tuple[int, object]] = {}

    def get(self, key: tuple, version: int) -> Page | None:
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                return None
            if page.version != version or page.expires < time.monotonic():
                del self._pages[key]
                return None
            self._pages.move_to_end(key)
            return page

    def put(self, key: tuple, page: Page) -> None:
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)

    def clear(self) -> None:
        """Forget every page (the configuration stays: it is never stale)."""
        with self._lock:
            self._pages.clear()


def init_app(app) -> None:
    app.extensions["pagecache"] = PageCache(
        app.config["PAGE_CACHE_SECONDS"], app.config["PAGE_CACHE_SIZE"]
    )
    app.before_request(serve_cached)
    app.after_request(keep_page)


# ----------------------------------------------------------------------------- requests


def is_visitor_request() -> bool:
    """A GET of a cached page by someone not signed in, with no message waiting for them."""
    return (
        request.method == "GET"
        and request.endpoint in CACHED_ENDPOINTS
        and "_user_id" not in session
        and "_flashes" not in session
        and current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") not in request.cookies
    )


def serve_cached():
    """before_request: a visitor's page from memory while its version is still current."""
    g.pop("versions", None)  # each request reads them afresh
    cache = current_app.extensions["pagecache"]
    if cache.seconds <= 0 or not is_visitor_request():
        return None
    version = shared_versions().pages
    if version is None:
        return None
    key = (request.path, request.query_string, wants_fragment(), visitor_language())
    page = cache.get(key, version)
    if page is None:
        g.page_slot = key, version
        return None
    g.page_from_cache = True
    return current_app.response_class(page.body(csp_nonce()), mimetype=page.mimetype)


def keep_page(response):
    """after_request: keep a visitor's page that holds nothing personal; say who may cache."""
    if request.endpoint not in CACHED_ENDPOINTS:
        return response
    # The same address answers in English or German (portal/i18n.py).
    response.vary.update(("Accept-Language", "Cookie"))
    cache = current_app.extensions["pagecache"]
    slot = g.pop("page_slot", None)
    if g.pop("page_from_cache", False):
        response.headers["Cache-Control"] = cache.cache_control
    elif slot and is_anonymous_page(response):
        key, version = slot
        nonce = g.get("csp_nonce")
        body = response.get_data()
        parts = tuple(body.split(nonce.encode())) if nonce else (body,)
        cache.put(key, Page(version, time.monotonic() + cache.seconds, parts, response.mimetype))
        response.headers["Cache-Control"] = cache.cache_control
    elif current_user.is_authenticated:
        response.headers["Cache-Control"] = "private, no-cache"
    return response


def is_anonymous_page(response) -> bool:
    """The same page for every visitor: a 200 that sets no cookie and shows no message."""
    return (
        response.status_code == 200
        and not response.direct_passthrough
        and not response.is_streamed
        and "Set-Cookie" not in response.headers
        and not session.modified
        and "_flashes" not in session
        and not current_user.is_authenticated
    )


def shared_configuration(name: str, load):
    """load()'s answer (the statuses, the site settings), kept in this process until an
    admin changes the configuration in any process; outside requests, load() each time."""
    if not has_request_context() or g.get("configuration_changed"):
        return load()
    version = shared_versions().configuration
    if version is None:
        return load()
    kept = current_app.extensions["pagecache"].configuration
    if name in kept and kept[name][0] == version:
        return kept[name][1]
    value = load()
    kept[name] = version, value
    return value


def configuration_changed() -> None:
    """This request changes the configuration: it reads it from the database from now on."""
    if has_request_context():
        g.configuration_changed = True


# ----------------------------------------------------------------------------- the versions


class VersionReader:
    """Reads the versions on connections of its own, kept out of the pool in autocommit
    mode: a pooled one costs a checkout, a ping and a transaction, 40 times the read.

    Read before the page's own queries, a version can only be older than what the page
    shows, never newer, so nothing is kept under a version its content predates.
    """

    def __init__(self):
        self._idle: deque = deque()  # append and pop are atomic: threads share it unlocked
        self._pid = os.getpid()
        self._sql = {}
        self.reads = 0  # statements sent, for tests and the benchmark to count

    def read(self, engine) -> dict[str, int]:
        """Each version by name (missing rows left out); raises the driver's errors."""
        if self._pid != os.getpid():  # forked: the parent's connections are not ours to use
            self._inherited, self._idle, self._pid = self._idle, deque(), os.getpid()
        try:
            connection = self._idle.pop()
        except IndexError:
            connection = self._connect(engine)
        try:
            cursor = connection.cursor()
            self.reads += 1
            cursor.execute(self._query(engine))
            rows = cursor.fetchall()
            cursor.close()
        except Exception:
            connection.close()
            raise
        self._idle.append(connection)
        return dict(rows)

    def _query(self, engine) -> str:
        if engine.dialect.name not in self._sql:
            compiled = VERSIONS_QUERY.compile(
                dialect=engine.dialect, compile_kwargs={"literal_binds": True}
            )
            self._sql[engine.dialect.name] = str(compiled)
        return self._sql[engine.dialect.name]

    def _connect(self, engine):
        if not event.contains(engine, "engine_disposed", self.close):
            event.listen(engine, "engine_disposed", self.close)
        pooled = engine.raw_connection()  # made by the engine, with its connect hooks
        pooled.detach()
        connection = pooled.dbapi_connection
        if engine.dialect.name == "sqlite":
            connection.isolation_level = None
        else:
            connection.rollback()  # whatever the engine's first use left open
            connection.autocommit = True
        return connection

    def close(self, _engine=None) -> None:
        """Close the connections, with the engine's pool (engine.dispose())."""
        while self._idle:
            self._idle.pop().close()


def shared_versions() -> Versions:
    """Both versions, read once per request; None for one the database cannot give (it
    does not answer: the page then meets the same trouble; or the row is new: it is made)."""
    if "versions" not in g:
        engine = db.engine
        try:
            found = current_app.extensions["pagecache"].versions.read(engine)
        except engine.dialect.loaded_dbapi.Error as error:
            log.warning("cannot read the page versions (%s): nothing from memory", error)
            found = {PAGES: None, SETTINGS: None}
        if len(found) < 2 and not db.session().in_transaction():
            # Only before the request's own transaction, which on SQLite may hold the
            # write lock that the rows' insert would wait for.
            _make_rows([name for name in (PAGES, SETTINGS) if name not in found])
        g.versions = Versions(found.get(PAGES), found.get(SETTINGS))
    return g.versions


def random_start() -> int:
    # Random: what was kept before a row was lost (a restore, a test's TRUNCATE) must not
    # match the numbers the new row counts up to.
    return random.randint(1, 2**30)


def _make_rows(names) -> None:
    try:
        with db.engine.begin() as connection:
            for name in names:
                connection.execute(insert(COUNTER).values(name=name, value=random_start()))
    except IntegrityError:
        pass  # another process made them first


BUMPS = {  # made once: building a statement costs more than running it
    names: update(COUNTER).where(COUNTER.c.name.in_(names)).values(value=NEXT_VERSION)
    for names in ((PAGES,), (PAGES, SETTINGS))
}


def _bump(connection, names: tuple[str, ...]) -> None:
    bumped = connection.execute(BUMPS[names])
    if bumped.rowcount < len(names):  # a new database: make both rows
        both = (PAGES, SETTINGS)
        found = set(connection.scalars(db.select(COUNTER.c.name).where(COUNTER.c.name.in_(both))))
        for name in set(both) - found:
            connection.execute(insert(COUNTER).values(name=name, value=random_start()))


def _bump_after_commit(engine, names: tuple[str, ...]) -> None:
    """Its own tiny transaction, after the change committed: whoever reads the new version
    finds the change. Only the bump waits on the rows' lock, never the change."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Losing a bump in a crash only leaves visitors' pages to their few seconds.
            connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        _bump(connection, names)


def _note(session, table_name: str) -> None:
    if table_name in CONFIGURATION:
        session.info[CHANGED] = (PAGES, SETTINGS)
    elif table_name in SEEN_BY_VISITORS:
        session.info.setdefault(CHANGED, (PAGES,))


@event.listens_for(Session, "after_flush")
def _note_flushed_changes(session, _flush_context) -> None:
    for instance in chain(session.new, session.dirty, session.deleted):
        if session.info.get(CHANGED) == (PAGES, SETTINGS):
            return
        _note(session, instance.__table__.name)


@event.listens_for(Session, "do_orm_execute")
def _note_statement_changes(state) -> None:
    """Bulk INSERT, UPDATE and DELETE statements (and textual ones) never reach a flush."""
    if state.is_select:
        return
    statement = state.statement
    if state.is_insert or state.is_update or state.is_delete:
        _note(state.session, getattr(getattr(statement, "table", None), "name", ""))
    elif isinstance(statement, TextClause) and (match := WRITE_SQL.match(statement.text)):
        _note(state.session, match.group(1).lower())


@event.listens_for(Session, "before_commit")
def _bump_with_sqlite_commit(session) -> None:
    """On SQLite the transaction already holds the database's one write lock: the bump
    costs one UPDATE there and commits with the change, never a second transaction."""
    if session.in_nested_transaction() or session.get_bind().dialect.name != "sqlite":
        return
    session.flush()
    if names := session.info.pop(CHANGED, None):
        _bump(session.connection(), names)


@event.listens_for(Session, "after_commit")
def _bump_after(session) -> None:
    if session.in_nested_transaction() or not (names := session.info.pop(CHANGED, None)):
        return
    try:
        _bump_after_commit(session.get_bind(), names)
    except Exception:  # the change is committed; visitors see it within a few seconds
        log.exception("could not move the page versions; visitors' pages expire by time")


@event.listens_for(Session, "after_rollback")
def _forget_changes(session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(CHANGED, None)
