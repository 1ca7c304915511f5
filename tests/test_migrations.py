"""The schema only changes through migrations: they build the models' schema exactly."""

import os
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from conftest import PASSWORD, PASSWORD_HASH
from portal import create_app, totp
from portal.extensions import db
from portal.search.schema import include_object

# One per test process, so two suites running at once never drop each other's database.
SCRATCH_DATABASE = f"stimme_migrations_test_{os.getpid()}"


@contextmanager
def scratch_postgres():
    """A database of its own, so the suite's tables in `test` are never touched."""
    server = os.environ["TEST_DATABASE_URL"]
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {SCRATCH_DATABASE}")
    base = server.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0]
    try:
        yield f"{base}/{SCRATCH_DATABASE}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)")


@contextmanager
def scratch_sqlite(tmp_path):
    yield f"sqlite:///{tmp_path / 'migrated.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    if request.param == "postgresql":
        if not os.environ.get("TEST_DATABASE_URL"):
            pytest.skip("set TEST_DATABASE_URL to check the migrations on PostgreSQL")
        scratch = scratch_postgres()
    else:
        scratch = scratch_sqlite(tmp_path)
    with scratch as url:
        yield url


@pytest.fixture
def migrated_app(empty_database, tmp_path):
    app = create_app(
        {
            "ENV": {"PORTAL_ENV": "development"},
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": empty_database,
            # The backends whose search state the migrations make (FTS5, pg_trgm).
            "SEARCH_BACKEND": "sqlite" if empty_database.startswith("sqlite") else "postgres",
        }
    )
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def table_names(app) -> set[str]:
    with app.app_context():
        return set(inspect(db.engine).get_table_names())


def schema_differences(app) -> list:
    """What alembic autogenerate would put into a new migration."""
    with app.app_context(), db.engine.connect() as connection:
        opts = {"compare_type": True, "include_object": include_object}
        context = MigrationContext.configure(connection, opts=opts)
        return compare_metadata(context, db.metadata)


def flask_db(app, *args):
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def test_upgrade_builds_the_models_schema_and_the_app_is_ready(migrated_app):
    assert table_names(migrated_app) == set()
    client = migrated_app.test_client()
    assert client.get("/readyz").status_code == 503

    flask_db(migrated_app, "upgrade")

    tables = table_names(migrated_app)
    search_tables = {name for name in tables if name.startswith("idea_fts")}
    assert tables - search_tables == {t.name for t in db.metadata.sorted_tables} | {
        "alembic_version"
    }
    # On SQLite the FTS5 search table (and its shadow tables) come with the schema.
    on_sqlite = migrated_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    assert ("idea_fts" in search_tables) == on_sqlite
    assert schema_differences(migrated_app) == []
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "search": "ok"},
        "search_backend": "sqlite" if on_sqlite else "postgres",
    }
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/").status_code == 200


def test_downgrade_to_base_and_upgrade_again(migrated_app):
    flask_db(migrated_app, "upgrade")
    flask_db(migrated_app, "downgrade", "base")
    assert table_names(migrated_app) <= {"alembic_version"}
    assert migrated_app.test_client().get("/readyz").status_code == 503
    flask_db(migrated_app, "upgrade")
    assert schema_differences(migrated_app) == []


def test_two_factor_secrets_are_encrypted_on_upgrade_and_codes_keep_working(migrated_app):
    """A secret stored in plain text before secrets were encrypted at rest is encrypted by
    the upgrade (its owner signs in with their app as before) and decrypted by the downgrade."""
    flask_db(migrated_app, "upgrade", "3e6d9b2f8a14")
    secret = totp.new_secret()
    people = sa.table("user", *(sa.column(name) for name in [*PLAIN_USER, "totp_secret"]))
    with migrated_app.app_context():
        db.session.execute(people.insert().values(**PLAIN_USER, totp_secret=secret))
        db.session.commit()

    flask_db(migrated_app, "upgrade")
    stored = stored_secrets(migrated_app)
    assert len(stored) == 1 and secret not in stored[0]
    migrated_app.config["WTF_CSRF_ENABLED"] = False  # this test's own app
    client = migrated_app.test_client()
    signin = {"email": PLAIN_USER["email"], "password": PASSWORD}
    assert client.post("/signin", data=signin).headers["Location"] == "/signin/code"
    code = totp.code_at(secret, totp.current_step())
    assert client.post("/signin/code", data={"code": code}).status_code == 303
    assert client.get("/me").status_code == 200

    flask_db(migrated_app, "downgrade", "3e6d9b2f8a14")
    assert stored_secrets(migrated_app) == [secret]


PLAIN_USER = {
    "email": "ada@example.com", "name": "Ada", "password_hash": PASSWORD_HASH, "role": 1,
    "is_blocked": False, "is_trusted": True, "totp_last_step": 0, "email_preference": "all",
    "email_frequency": "instant", "locale": "", "created_at": datetime(2026, 11, 1, tzinfo=UTC),
    "email_verified_at": datetime(2026, 11, 1, tzinfo=UTC),
}  # fmt: skip


def stored_secrets(app) -> list[str]:
    with app.app_context():
        return db.session.scalars(sa.text('SELECT totp_secret FROM "user"')).all()
