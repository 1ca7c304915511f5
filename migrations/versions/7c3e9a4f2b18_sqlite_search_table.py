"""FTS5 search table for SEARCH_BACKEND=sqlite

Revision ID: 7c3e9a4f2b18
Revises: 5a1c0e2b7d41
Create Date: 2026-11-27 09:00:00

SQLite only, and empty: the worker's drift check at start fills it from the ideas
(docs/decisions/0004). Must match portal.search.sqlite_backend.CREATE.
"""

from alembic import op

revision = "7c3e9a4f2b18"
down_revision = "5a1c0e2b7d41"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS idea_fts USING fts5(title, body, category, board,"
        " status, stamp UNINDEXED, tokenize='porter unicode61')"
    )
    op.execute("CREATE VIRTUAL TABLE IF NOT EXISTS idea_fts_terms USING fts5vocab(idea_fts, row)")


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TABLE IF EXISTS idea_fts_terms")
    op.execute("DROP TABLE IF EXISTS idea_fts")
