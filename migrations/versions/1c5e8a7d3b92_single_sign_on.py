"""Single sign-on: links to ways in from elsewhere, spent sign-on tokens, the company claim

Revision ID: 1c5e8a7d3b92
Revises: 8f4a2c6e1d93
Create Date: 2026-12-07 21:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1c5e8a7d3b92'
down_revision = '8f4a2c6e1d93'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sign_in_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_sign_in_link_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_link')),
    sa.UniqueConstraint('provider', 'subject', name=op.f('uq_sign_in_link_provider'))
    )
    with op.batch_alter_table('sign_in_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_link_user_id'), ['user_id'], unique=False)

    op.create_table('spent_sign_on',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spent_sign_on')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_spent_sign_on_token_hash'))
    )
    # Plain ALTER TABLE (SQLite 3.35+): a batch copy would drop a table others refer to.
    op.add_column('user', sa.Column('company_claim', sa.JSON(), nullable=True))


def downgrade():
    op.drop_column('user', 'company_claim')
    op.drop_table('spent_sign_on')
    with op.batch_alter_table('sign_in_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_link_user_id'))
    op.drop_table('sign_in_link')
