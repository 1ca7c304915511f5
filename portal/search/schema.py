"""Search structures the database holds but the models do not describe, for Alembic."""

from portal.search import postgres_backend, sqlite_backend


def include_object(*args) -> bool:
    """Autogenerate leaves the PostgreSQL search indexes and the FTS5 tables alone."""
    return postgres_backend.include_object(*args) and sqlite_backend.include_object(*args)
