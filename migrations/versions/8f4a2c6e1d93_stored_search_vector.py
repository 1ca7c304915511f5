"""search reads a stored tsvector column instead of recomputing an expression

Revision ID: 8f4a2c6e1d93
Revises: 6b2e9d4f1a37
Create Date: 2026-12-07 12:00:00

PostgreSQL only (SQLite searches with FTS5 and has nothing to change). The GIN index
`ix_idea_search` was on an expression, so PostgreSQL had to compute every matching idea's
`tsvector` again to rank it and every candidate's to recheck a phrase. Now the vector is a
generated column PostgreSQL keeps itself (same expression: each idea in its language's
text search configuration, title weighing most), and the GIN index is on that column.
portal.search.postgres_backend reads the column; the models do not describe it
(portal.search.postgres_backend.UNMODELLED_COLUMNS).

Adding a stored generated column rewrites the idea table under an exclusive lock.
"""

from alembic import op

revision = "8f4a2c6e1d93"
down_revision = "6b2e9d4f1a37"
branch_labels = None
depends_on = None

CONFIG = "CASE WHEN language = 'de' THEN 'german'::regconfig ELSE 'english'::regconfig END"
VECTOR = (
    f"setweight(to_tsvector({CONFIG}, coalesce(title, '')), 'A') || "
    f"setweight(to_tsvector({CONFIG}, coalesce(body, '')), 'B')"
)
SEARCH_COLUMN = (
    "ALTER TABLE idea ADD COLUMN IF NOT EXISTS search_vector tsvector"
    f" GENERATED ALWAYS AS ({VECTOR}) STORED"
)
SEARCH_INDEX = "CREATE INDEX IF NOT EXISTS ix_idea_search ON idea USING GIN (search_vector)"
# What 3e6d9b2f8a14 built: the GIN index on the expression itself.
EXPRESSION_INDEX = f"CREATE INDEX IF NOT EXISTS ix_idea_search ON idea USING GIN (({VECTOR}))"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_idea_search")
    op.execute(SEARCH_COLUMN)
    op.execute(SEARCH_INDEX)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_idea_search")
    op.execute("ALTER TABLE idea DROP COLUMN IF EXISTS search_vector")
    op.execute(EXPRESSION_INDEX)
