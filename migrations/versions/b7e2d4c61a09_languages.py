"""Each person's language, and the language each idea is written in

Revision ID: b7e2d4c61a09
Revises: a4c9e7b21d30
Create Date: 2026-11-27 16:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e2d4c61a09'
down_revision = 'a4c9e7b21d30'
branch_labels = None
depends_on = None


def upgrade():
    # "" follows the browser's Accept-Language.
    op.add_column('user', sa.Column('locale', sa.String(length=5), nullable=False,
                                    server_default=''))
    op.add_column('idea', sa.Column('language', sa.String(length=5), nullable=False,
                                    server_default='en'))


def downgrade():
    # Plain ALTER TABLE (SQLite 3.35+): a batch copy would drop a table others refer to.
    op.drop_column('idea', 'language')
    op.drop_column('user', 'locale')
