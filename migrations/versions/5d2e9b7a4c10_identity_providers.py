"""OpenID Connect providers added by admins

Revision ID: 5d2e9b7a4c10
Revises: 4d7b1e9a2c60
Create Date: 2026-12-07 23:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d2e9b7a4c10'
down_revision = '4d7b1e9a2c60'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('identity_provider',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=60), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.Column('sealed_client_secret', sa.Text(), nullable=False),
    sa.Column('scopes', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_provider')),
    sa.UniqueConstraint('name', name=op.f('uq_identity_provider_name'))
    )


def downgrade():
    op.drop_table('identity_provider')
