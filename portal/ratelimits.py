"""Named rate limits (SPEC section 10), configurable per deployment and in tests."""

from flask import current_app
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import parse_many

from portal.extensions import limiter

DEFAULT_RATE_LIMITS = {
    "vote": "120 per minute",
    "comment": "20 per 10 minutes",
    "post": "10 per hour",
    "flag": "20 per hour",
    "signin": "10 per minute",
    "signup": "10 per hour",
    "reset": "5 per 15 minutes",
    "two_factor": "5 per 10 minutes",  # wrong second-factor codes, per account
    "api": "300 per minute",
}


def rate_limits_from(env) -> dict[str, str]:
    """The named limits, each replaced by RATE_LIMIT_<NAME> when set (RATE_LIMIT_SIGNIN="5 per
    minute", in Flask-Limiter's notation); raises ConfigError for one it cannot read."""
    from portal.config import ConfigError

    limits = dict(DEFAULT_RATE_LIMITS)
    for name in limits:
        value = env.get(f"RATE_LIMIT_{name.upper()}", "").strip()
        if not value:
            continue
        try:
            parse_many(value)
        except ValueError:
            raise ConfigError(
                f"RATE_LIMIT_{name.upper()} must read like '10 per minute', not {value!r}"
            ) from None
        limits[name] = value
    return limits


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
