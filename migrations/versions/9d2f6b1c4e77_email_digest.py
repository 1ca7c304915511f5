"""weekly email digest: users.email_frequency and users.digest_sent_at

Revision ID: 9d2f6b1c4e77
Revises: 7c3e9a4f2b18
Create Date: 2026-11-27 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "9d2f6b1c4e77"
down_revision = "7c3e9a4f2b18"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user") as batch:
        batch.add_column(
            sa.Column("email_frequency", sa.String(10), nullable=False, server_default="instant")
        )
        batch.add_column(sa.Column("digest_sent_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("user") as batch:
        batch.drop_column("digest_sent_at")
        batch.drop_column("email_frequency")
