"""full-text and trigram indexes for SEARCH_BACKEND=postgres

Revision ID: 5a1c0e2b7d41
Revises: 0f07cdd3c871
Create Date: 2026-11-27 03:45:00

PostgreSQL only: SQLite deployments search with Whoosh. The expression must match
portal.search.postgres_backend.search_vector() exactly for the planner to use it.
"""

from alembic import op

revision = "5a1c0e2b7d41"
down_revision = "0f07cdd3c871"
branch_labels = None
depends_on = None

SEARCH_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_idea_search ON idea USING GIN (("
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(body, '')), 'B')))"
)


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(SEARCH_INDEX)
    op.execute("CREATE INDEX IF NOT EXISTS ix_idea_title_trgm ON idea USING GIN (title gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_idea_title_trgm")
    op.execute("DROP INDEX IF EXISTS ix_idea_search")
