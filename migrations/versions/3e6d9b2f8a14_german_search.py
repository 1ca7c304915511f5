"""search stems German ideas in German: per-language search indexes

Revision ID: 3e6d9b2f8a14
Revises: b7e2d4c61a09
Create Date: 2026-11-27 17:00:00

Guesses the language of the ideas written so far, then rebuilds the search structures:
on PostgreSQL the GIN index on a per-row text search configuration (it must match
portal.search.postgres_backend.search_vector() exactly for the planner to use it); on
SQLite the FTS5 table with German stem columns (it must match
portal.search.sqlite_backend.CREATE). The FTS5 table is created empty, like the first
time: the worker's drift check at start fills it (docs/decisions/0004).
"""

import sqlalchemy as sa
from alembic import op

from portal.search.language import guess_language

revision = "3e6d9b2f8a14"
down_revision = "b7e2d4c61a09"
branch_labels = None
depends_on = None

BATCH = 1000

ENGLISH_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_idea_search ON idea USING GIN (("
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(body, '')), 'B')))"
)
CONFIG = "CASE WHEN language = 'de' THEN 'german'::regconfig ELSE 'english'::regconfig END"
PER_LANGUAGE_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_idea_search ON idea USING GIN (("
    f"setweight(to_tsvector({CONFIG}, coalesce(title, '')), 'A') || "
    f"setweight(to_tsvector({CONFIG}, coalesce(body, '')), 'B')))"
)
FTS_TABLES = ("idea_fts_columns", "idea_fts_terms", "idea_fts")
ENGLISH_FTS = (
    "CREATE VIRTUAL TABLE idea_fts USING fts5(title, body, category, board, status,"
    " stamp UNINDEXED, tokenize='porter unicode61')"
)
PER_LANGUAGE_FTS = (
    "CREATE VIRTUAL TABLE idea_fts USING fts5(title, body, category, board, status,"
    " stamp UNINDEXED, language UNINDEXED, title_de, body_de, tokenize='porter unicode61')"
)
TERMS = "CREATE VIRTUAL TABLE idea_fts_terms USING fts5vocab(idea_fts, row)"
COLUMNS = "CREATE VIRTUAL TABLE idea_fts_columns USING fts5vocab(idea_fts, col)"

idea = sa.table(
    "idea",
    sa.column("id", sa.Integer),
    sa.column("author_id", sa.Integer),
    sa.column("title", sa.String),
    sa.column("body", sa.Text),
    sa.column("language", sa.String),
)
user = sa.table("user", sa.column("id", sa.Integer), sa.column("locale", sa.String))


def guess_languages(connection) -> None:
    """Mark the German ideas among those written before ideas had a language."""
    query = (
        sa.select(idea.c.id, idea.c.title, idea.c.body, user.c.locale)
        .select_from(idea.outerjoin(user, idea.c.author_id == user.c.id))
        .order_by(idea.c.id)
    )
    after = 0
    while rows := connection.execute(query.where(idea.c.id > after).limit(BATCH)).all():
        german = [
            row.id
            for row in rows
            if guess_language(f"{row.title}\n{row.body or ''}", row.locale or "en") == "de"
        ]
        if german:
            connection.execute(idea.update().where(idea.c.id.in_(german)).values(language="de"))
        after = rows[-1].id


def upgrade():
    connection = op.get_bind()
    guess_languages(connection)
    if connection.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_idea_search")
        op.execute(PER_LANGUAGE_INDEX)
    elif connection.dialect.name == "sqlite":
        for table in FTS_TABLES:
            op.execute(f"DROP TABLE IF EXISTS {table}")
        op.execute(PER_LANGUAGE_FTS)
        op.execute(TERMS)
        op.execute(COLUMNS)


def downgrade():
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_idea_search")
        op.execute(ENGLISH_INDEX)
    elif connection.dialect.name == "sqlite":
        for table in FTS_TABLES:
            op.execute(f"DROP TABLE IF EXISTS {table}")
        op.execute(ENGLISH_FTS)
        op.execute(TERMS)
    # Ideas keep their language: the column goes with the migration that added it.
