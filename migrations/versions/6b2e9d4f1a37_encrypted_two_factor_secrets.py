"""two-factor secrets encrypted at rest

Revision ID: 6b2e9d4f1a37
Revises: 3e6d9b2f8a14
Create Date: 2026-12-07 08:00:00

Encrypts every stored two-factor secret with the first of the app's TWO_FACTOR_KEYS
(portal/config.py; portal/totp_keys.py reads them), in a column wide enough for the
ciphertext; the downgrade decrypts them again. The column is replaced rather than altered:
SQLite would copy the whole "user" table to change a type, and dropping the old table
fails (or cascades) while other tables refer to it with foreign keys switched on.
"""

import sqlalchemy as sa
from alembic import op
from cryptography.fernet import Fernet, MultiFernet
from flask import current_app

revision = "6b2e9d4f1a37"
down_revision = "3e6d9b2f8a14"
branch_labels = None
depends_on = None

user = sa.table(
    "user",
    sa.column("id", sa.Integer),
    sa.column("totp_secret", sa.String),
    sa.column("totp_sealed", sa.String),
)


def keys() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in current_app.config["TWO_FACTOR_KEYS"]])


def replace_column(length: int, convert) -> None:
    """Move every secret through convert into a new column of this length, named as before.

    Every secret is converted before the schema changes: a key that cannot open one stops
    the migration with nothing changed (SQLite does not undo a half-made schema change)."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(user.c.id, user.c.totp_secret).where(user.c.totp_secret.is_not(None))
    ).all()
    converted = [(user_id, convert(secret)) for user_id, secret in rows]
    op.add_column("user", sa.Column("totp_sealed", sa.String(length=length), nullable=True))
    for user_id, value in converted:
        connection.execute(user.update().where(user.c.id == user_id).values(totp_sealed=value))
    op.drop_column("user", "totp_secret")
    op.alter_column("user", "totp_sealed", new_column_name="totp_secret")


def upgrade():
    box = keys()
    replace_column(255, lambda secret: box.encrypt(secret.encode()).decode())


def downgrade():
    box = keys()
    replace_column(64, lambda sealed: box.decrypt(sealed.encode()).decode())
