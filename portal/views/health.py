"""Liveness and readiness for load balancers and monitoring (SPEC section 11)."""

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from portal.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as error:  # any database failure means unhealthy, not a 500
        db.session.rollback()
        return jsonify(status="error", database=str(error.__class__.__name__)), 503
    return jsonify(status="ok")


def _migrations_at_head() -> bool:
    migrate = current_app.extensions["migrate"]
    script = ScriptDirectory(migrate.directory)
    with db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == set(script.get_heads())


@bp.get("/readyz")
def readyz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
        checks["migrations"] = "ok" if _migrations_at_head() else "pending"
    except Exception as error:  # report, never raise: this page is for monitors
        db.session.rollback()
        checks["database"] = f"error: {error.__class__.__name__}"
    ready = all(value == "ok" for value in checks.values()) and len(checks) == 2
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
