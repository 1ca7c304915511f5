"""Two-factor secrets encrypted at rest (Fernet: AES-128-CBC and HMAC-SHA256) under keys
only the server holds, TWO_FACTOR_KEYS (portal/config.py): the first encrypts, every one
decrypts, so keys are rotated by adding a new one first and re-encrypting. The database, a
dump or a backup alone no longer tells anyone a code."""

import logging
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from portal.errors import OperationError
from portal.extensions import db
from portal.i18n import gettext as _
from portal.models import User

log = logging.getLogger(__name__)


class UnreadableSecret(OperationError):
    """A stored secret none of the server's keys opens: the keys are wrong, not the person."""

    status_code = 503


@cache
def _keys(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _box() -> MultiFernet:
    return _keys(tuple(current_app.config["TWO_FACTOR_KEYS"]))


def seal(secret: str) -> str:
    """The secret as it is stored: encrypted with the first key."""
    return _box().encrypt(secret.encode()).decode()


def unseal(stored: str) -> str:
    """The secret an authenticator app holds; raises UnreadableSecret."""
    try:
        return _box().decrypt(stored.encode()).decode()
    except InvalidToken:
        raise _unreadable() from None


def _unreadable() -> UnreadableSecret:
    log.error("a two-factor secret cannot be decrypted: TWO_FACTOR_KEYS (or SECRET_KEY) "
              "lacks the key it was encrypted with")  # fmt: skip
    return UnreadableSecret(
        _(
            "Two-factor sign-in cannot be checked just now: the server's key for it is wrong. "
            "Please tell the site's administrators."
        )  # fmt: skip
    )


def rotate_secrets() -> int:
    """Encrypt every stored secret again with the first key; returns how many. Raises
    UnreadableSecret, changing nothing, when a key is missing. The caller commits."""
    box = _box()
    rows = db.session.execute(db.select(User.id, User.totp_secret).where(
        User.totp_secret.is_not(None))).all()  # fmt: skip
    try:
        sealed = [
            (user_id, stored, box.rotate(stored.encode()).decode()) for user_id, stored in rows
        ]
    except InvalidToken:
        raise _unreadable() from None
    for user_id, stored, new in sealed:
        # Only if unchanged meanwhile: a secret set up since is sealed with the new key anyway.
        db.session.execute(db.update(User).where(User.id == user_id, User.totp_secret == stored)
                           .values(totp_secret=new))  # fmt: skip
    return len(sealed)
