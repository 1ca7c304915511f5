"""Engine settings that make concurrent writes safe on SQLite."""

from flask import has_request_context, request
from sqlalchemy import event

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _wants_write_lock() -> bool:
    return not has_request_context() or request.method not in READ_ONLY_METHODS


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
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _wants_write_lock() else "BEGIN")
