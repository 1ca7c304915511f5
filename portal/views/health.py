"""Liveness and readiness for load balancers and monitoring (SPEC section 11).

Both answer 503 with JSON naming each failing part; neither ever raises.
"""

import logging

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from portal.database import discard
from portal.extensions import db
from portal.search import default_backend, ping

bp = Blueprint("health", __name__)
# Alembic names its dialect at INFO each time it looks: two lines per probe would be noise.
# (`flask db upgrade` configures Alembic's loggers afresh, so its own lines still show.)
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)


def _database() -> str:
    db.session.execute(text("SELECT 1"))
    return "ok"


def _search() -> str:
    ping()
    return "ok"


def _migrations() -> str:
    migrate = current_app.extensions["migrate"]
    script = ScriptDirectory(migrate.directory)
    with db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return "ok" if current == set(script.get_heads()) else "pending"


def _run(checks) -> dict[str, str]:
    results = {}
    for name, check in checks:
        try:
            results[name] = check()
        except Exception as error:  # report, never raise: these pages are for monitors
            discard()  # so that the next check starts afresh
            results[name] = f"error: {error.__class__.__name__}"
    return results


@bp.get("/healthz")
def healthz():
    checks = _run([("database", _database), ("search", _search)])
    if all(value == "ok" for value in checks.values()):
        return jsonify(status="ok")
    return jsonify(status="error", checks=checks), 503


@bp.get("/readyz")
def readyz():
    checks = _run([("database", _database), ("migrations", _migrations), ("search", _search)])
    ready = all(value == "ok" for value in checks.values())
    backend = current_app.config["SEARCH_BACKEND"] or default_backend()
    body = {"status": "ok" if ready else "unavailable", "checks": checks, "search_backend": backend}
    return jsonify(body), 200 if ready else 503
