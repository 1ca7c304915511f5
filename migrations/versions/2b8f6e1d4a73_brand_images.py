"""The logo and favicon admins upload

Revision ID: 2b8f6e1d4a73
Revises: 5d2e9b7a4c10
Create Date: 2026-12-08 00:25:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2b8f6e1d4a73'
down_revision = '5d2e9b7a4c10'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('brand_image',
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('kind', name=op.f('pk_brand_image'))
    )


def downgrade():
    op.drop_table('brand_image')
