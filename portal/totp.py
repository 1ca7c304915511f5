"""Time-based one-time passwords (RFC 6238, as authenticator apps make them); no Flask."""

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

import segno

STEP_SECONDS = 30
DIGITS = 6
# Codes from one step before and after are accepted too: clocks drift and people are slow.
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends


def new_secret() -> str:
    """A random shared secret in unpadded base32, the form authenticator apps take."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def is_secret(value: str) -> bool:
    return len(value) == 32 and all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in value)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def code_at(secret: str, step: int, digits: int = DIGITS, digest=hashlib.sha1) -> str:
    """The code for one time step (RFC 4226's HOTP with the step as the counter)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), digest).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def matching_step(secret: str, code: str, after: int, now: float | None = None) -> int | None:
    """The time step near now whose code this is, if later than `after` (so a code that was
    used already is refused); None when the code does not match."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    step = current_step(now)
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if candidate > after and hmac.compare_digest(code_at(secret, candidate), code):
            return candidate
    return None


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// address that an authenticator app reads from the QR code."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode({"secret": secret, "issuer": issuer, "digits": DIGITS,
                       "period": STEP_SECONDS})  # fmt: skip
    return f"otpauth://totp/{label}?{query}"


def qr_data_uri(uri: str) -> str:
    """The QR code of uri as an SVG data: URI, for an <img> (nothing from another origin)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
