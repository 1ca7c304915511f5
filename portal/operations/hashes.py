"""How the tokens and codes we hand out are stored: as a digest, never as themselves."""

import hashlib


def digest(secret: str) -> str:
    # A fast hash is enough: tokens and codes are random, not passwords to be guessed.
    return hashlib.sha256(secret.encode()).hexdigest()
