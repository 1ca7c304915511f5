"""site settings: name, accent colour, community guidelines

Revision ID: c7a1e5f3b820
Revises: b4e8c2a9d153
Create Date: 2026-11-27 08:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c7a1e5f3b820"
down_revision = "b4e8c2a9d153"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "site_setting",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_site_setting")),
    )


def downgrade():
    op.drop_table("site_setting")
