"""Named rate limits (SPEC section 10): the decorators; their sizes are read from the
configuration (portal/config.py) at request time."""

from flask import current_app
from flask_limiter.util import get_remote_address
from flask_login import current_user

from portal.extensions import limiter


def named_limit(name: str, **options):
    """The decorator for one of the site's named limits, counted once per person (or
    address) over every route that carries it: votes by page and by API share one count.
    Options are Flask-Limiter's (methods, key_func; rate_key by default)."""
    options.setdefault("key_func", rate_key)
    return limiter.shared_limit(limit_for(name), scope=name, **options)


def limit_for(name: str):
    """A limit that Flask-Limiter reads from the config at request time."""
    return lambda: current_app.config["RATE_LIMITS"][name]


def rate_key() -> str:
    """Signed-in people are limited per account, visitors per address."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return get_remote_address()
