"""The transaction boundary (docs/decisions/0014), and the engine settings and write-lock
handling that make concurrent writes safe on SQLite while keeping the time a write holds
its one write lock short.

Views and the API never commit or roll back, and operations only flush: a request's view
runs in one transaction that `init_app` puts around it, and outside requests a block of
work runs in `unit_of_work()`. The named ways around that rule are `keep_writes()` (what
must stand whatever the answer) and `all_or_nothing()` (a refusal the view answers itself).
"""

import functools
import logging
from contextlib import contextmanager

from flask import current_app, has_request_context, request
from flask import session as browser_session
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from portal.extensions import db

log = logging.getLogger(__name__)
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _wants_write_lock() -> bool:
    if not has_request_context():
        return True
    if request.method in READ_ONLY_METHODS:
        return False
    view = current_app.view_functions.get(request.endpoint)
    return not getattr(view, "reads_first", False)


def configure_sqlite(engine) -> None:
    """WAL, a busy timeout, and write transactions that take the lock up front.

    Deferred transactions that later write can fail with "database is locked" instead
    of waiting; BEGIN IMMEDIATE waits for the lock at the start, so no vote is lost.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        write_lock = _wants_write_lock()
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write_lock else "BEGIN")
        connection.info["write_lock"] = write_lock


def reads_first(view):
    """Mark a POST view whose reads (the signed-in user, the idea) run before it takes
    SQLite's write lock: it must call begin_writing() before its first write. Put it right
    under the route decorator, so that the registered function carries the mark."""
    view.reads_first = True
    return view


def begin_writing() -> None:
    """On SQLite, trade a read transaction for one holding the write lock (BEGIN IMMEDIATE
    waits for it); a no-op when the transaction holds it already, and on PostgreSQL.

    What was read before is from an older snapshot: check again what the writes depend on.
    The read transaction is committed here, so nothing may be written before this call.
    """
    connection = db.session.connection()
    if connection.dialect.name != "sqlite" or connection.info.get("write_lock"):
        return
    connection.exec_driver_sql("COMMIT")
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    connection.info["write_lock"] = True


# -- the request's transaction ----------------------------------------------------------


def init_app(app) -> None:
    """Put every view registered so far (call it after the blueprints) in one transaction."""
    for endpoint, view in app.view_functions.items():
        app.view_functions[endpoint] = in_one_transaction(view)


def in_one_transaction(view):
    """The boundary around a view: once it has answered (rendered, and before any
    after-request hook or a streamed body runs), a write request (POST, PUT, PATCH, DELETE)
    answered below 400 commits; an answer of 400 or more, or an exception, rolls back.
    Reads (GET, HEAD, OPTIONS) take no write lock on SQLite, so they never commit: what
    one must keep, it keeps with keep_writes(). A failing commit rolls back and raises on
    to the error handlers (errorhandlers.py: a lost or locked database answers 503), taking
    back the messages flashed for the answer that is not sent."""

    @functools.wraps(view)  # keeps the marks others read: reads_first, limits, csrf.exempt
    def run(*args, **kwargs):
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            discard()
            raise
        if response.status_code >= 400:
            discard()
        elif request.method not in READ_ONLY_METHODS:
            try:
                db.session.commit()
            except BaseException:
                discard()
                browser_session.pop("_flashes", None)  # "saved" was not
                raise
        return response

    return run


def keep_writes() -> None:
    """Commit now what the request (or the worker's unit of work) wrote so far, so that it
    stands whatever comes after: an error answer, a failure, a rollback. The one way to
    keep a write apart from the answer, for a session's or a token's last use, noted before
    the view runs; and to hold no lock over what follows: an export's audit entry before
    its rows stream, a vote before its widget renders, a webhook delivery while the
    receiver is waited for.

    On SQLite the write lock is taken first (begin_writing); the loaded objects keep their
    values, so nothing is read back in another transaction."""
    begin_writing()
    current = db.session()  # this context's Session, behind the scoped_session
    expire, current.expire_on_commit = current.expire_on_commit, False
    try:
        current.commit()
    finally:
        current.expire_on_commit = expire


@contextmanager
def all_or_nothing():
    """Run an operation whose refusal the view answers itself (a form with its errors, a
    message and a redirect, a fragment saying why): when the block raises, everything the
    request's transaction wrote is rolled back at once, before the view reads what to
    show, and the exception goes on to the view's `except`."""
    try:
        yield
    except BaseException:
        discard()
        raise


def discard() -> None:
    """Roll back the session's transaction; on a lost connection, close the session (the
    pool makes a new connection), so that an error answer can still be made."""
    try:
        db.session.rollback()
    except Exception:  # the connection is gone
        db.session.close()


@contextmanager
def unit_of_work():
    """Outside requests (the worker, commands, the search index's upkeep): commit what the
    block wrote when it ends, roll back when it raises. A loop commits per batch by running
    one unit per batch; as a decorator (@unit_of_work()), a whole function is one unit."""
    try:
        yield
        db.session.commit()
    except BaseException:
        discard()
        raise


def end_session_safely(session) -> None:
    """Close the request's session even when its connection died (a database restart).

    Runs before Flask-SQLAlchemy's own teardown, whose ROLLBACK on a dead connection would
    raise after the answer was made and turn a clean 503 into a 500.
    """
    try:
        session.remove()
    except DBAPIError as error:
        log.warning("closing a session on a lost connection: %s", error.__class__.__name__)
        session.registry.clear()  # its connection is invalidated; the pool makes a new one
