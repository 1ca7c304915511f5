"""Boards can make their voter lists public

Revision ID: a4c9e7b21d30
Revises: f3b7d2a91c05
Create Date: 2026-11-27 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4c9e7b21d30'
down_revision = 'f3b7d2a91c05'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('board', sa.Column('voters_public', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))


def downgrade():
    # Plain ALTER TABLE (SQLite 3.35+): a batch copy would drop a table others refer to.
    op.drop_column('board', 'voters_public')
