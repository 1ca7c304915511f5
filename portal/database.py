"""Engine settings and transaction helpers that make concurrent writes safe on SQLite, and
keep the time a write holds its one write lock short."""

import logging

from flask import current_app, has_request_context, request
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


def commit_keeping_objects() -> None:
    """Commit without expiring the loaded objects, for an answer rendered from what the
    transaction just wrote: nothing is read back in a second transaction."""
    session = db.session()  # this context's Session, behind the scoped_session
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


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
