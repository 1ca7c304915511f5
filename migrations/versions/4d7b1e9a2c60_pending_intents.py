"""Pending intents: what a visitor pressed before signing in (SPEC section 12)

Revision ID: 4d7b1e9a2c60
Revises: 1c5e8a7d3b92
Create Date: 2026-12-10 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4d7b1e9a2c60'
down_revision = '1c5e8a7d3b92'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pending_intent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('idea_number', sa.Integer(), nullable=True),
    sa.Column('board_slug', sa.String(length=60), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('kept_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_pending_intent_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_intent')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_pending_intent_key_hash'))
    )
    with op.batch_alter_table('pending_intent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_intent_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('pending_intent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_intent_user_id'))
    op.drop_table('pending_intent')
