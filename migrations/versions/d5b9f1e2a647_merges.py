"""merges of duplicate ideas, kept so they can be undone

Revision ID: d5b9f1e2a647
Revises: c7a1e5f3b820
Create Date: 2026-11-27 08:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "d5b9f1e2a647"
down_revision = "c7a1e5f3b820"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "merge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("undone_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], name=op.f("fk_merge_actor_id_user")),
        sa.ForeignKeyConstraint(["source_id"], ["idea.id"], name=op.f("fk_merge_source_id_idea")),
        sa.ForeignKeyConstraint(["target_id"], ["idea.id"], name=op.f("fk_merge_target_id_idea")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merge")),
    )
    op.create_index(op.f("ix_merge_source_id"), "merge", ["source_id"], unique=False)
    op.create_index(op.f("ix_merge_target_id"), "merge", ["target_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_merge_target_id"), table_name="merge")
    op.drop_index(op.f("ix_merge_source_id"), table_name="merge")
    op.drop_table("merge")
