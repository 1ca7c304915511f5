"""Named rate limits (SPEC section 10), configurable per deployment and in tests."""

from flask import current_app
from flask_limiter.util import get_remote_address
from flask_login import current_user

DEFAULT_RATE_LIMITS = {
    "vote": "120 per minute",
    "comment": "20 per 10 minutes",
    "post": "10 per hour",
    "flag": "20 per hour",
    "signin": "10 per minute",
    "signup": "10 per hour",
    "reset": "5 per 15 minutes",
    "api": "300 per minute",
}


def limit_for(name: str):
    """A limit that Flask-Limiter reads from the config at request time."""
    return lambda: current_app.config["RATE_LIMITS"][name]


def rate_key() -> str:
    """Signed-in people are limited per account, visitors per address."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return get_remote_address()
