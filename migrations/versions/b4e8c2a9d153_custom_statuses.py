"""custom statuses and turned-off transitions

Revision ID: b4e8c2a9d153
Revises: 9d2f6b1c4e77
Create Date: 2026-11-27 08:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b4e8c2a9d153"
down_revision = "9d2f6b1c4e77"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "custom_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.Column("phase", sa.String(length=10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_status")),
        sa.UniqueConstraint("slug", name=op.f("uq_custom_status_slug")),
    )
    op.create_table(
        "blocked_transition",
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("source", "target", name=op.f("pk_blocked_transition")),
    )


def downgrade():
    op.drop_table("blocked_transition")
    op.drop_table("custom_status")
