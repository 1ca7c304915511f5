"""Settings read from the environment (SPEC section 8 and 11)."""

import base64
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from limits import parse_many

from portal.logs import choose_log_format


class ConfigError(RuntimeError):
    """Raised when the environment cannot describe a safe configuration."""


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


def _instance_secret(instance_path: Path) -> str:
    """Return the development secret kept in the instance folder, making it once."""
    path = instance_path / "secret_key"
    try:  # O_EXCL: workers starting together on a new instance agree on one secret
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def _whole_number(env, name: str, default: int) -> int:
    try:
        value = int(env.get(name) or default)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"{name} must be a whole number, not {env.get(name)!r}")
    return value


RETENTION_MAX = 36_500  # a hundred years: "keep it forever" in practice


def _retention_days(env) -> int:
    days = _whole_number(env, "RETENTION_DAYS", 30)
    if days > RETENTION_MAX:  # beyond this, "now minus the retention" is before year 1
        raise ConfigError(f"RETENTION_DAYS can be at most {RETENTION_MAX} (a hundred years)")
    return days


def _switch(env, name: str, default: bool) -> bool:
    """An on/off setting: 1, true, yes or on; 0, false, no or off; default when unset."""
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ConfigError(f"{name} must be 1 or 0, not {env.get(name)!r}")
    return value in ("1", "true", "yes", "on")


def _limit_storage_settings(env) -> dict:
    """Where rate-limit counters live, and what happens when that store is down.

    A Redis outage must not turn into errors: Flask-Limiter then counts in each process's
    memory (limits hold per process) and checks Redis again with growing pauses; any
    other storage error lets the request through and is logged (README, "Production").
    """
    uri = env.get("RATELIMIT_STORAGE_URI", "memory://")
    settings = {
        # Several sites may share one Redis: each counts under its own prefix.
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX", "stimme"),
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
    }
    if uri.startswith(("redis://", "rediss://", "redis+")):
        # A Redis that stops answering costs a request half a second, not minutes.
        settings["RATELIMIT_STORAGE_OPTIONS"] = {
            "socket_connect_timeout": 0.5,
            "socket_timeout": 0.5,
        }
    return settings


def _session_settings(env, development: bool) -> dict:
    """The session cookie, and how long a signed-in session lasts (server-side, per row).

    A browser session ends after SESSION_IDLE_HOURS unused; "remember me" keeps the cookie
    past the browser's close and SESSION_REMEMBER_DAYS unused; no session outlives
    SESSION_MAX_DAYS. __Host- cookies must be Secure, so development (plain http) keeps
    a name without the prefix. flask-login's remember cookie is not used: it would outlive
    a session ended on the server.
    """
    remember = timedelta(days=_whole_number(env, "SESSION_REMEMBER_DAYS", 14))
    return {
        "SESSION_COOKIE_NAME": "stimme_session" if development else "__Host-stimme_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not development,
        "PERMANENT_SESSION_LIFETIME": remember,
        "SESSION_IDLE_TIMEOUT": timedelta(hours=_whole_number(env, "SESSION_IDLE_HOURS", 24)),
        "SESSION_REMEMBER_TIMEOUT": remember,
        "SESSION_MAX_AGE": timedelta(days=_whole_number(env, "SESSION_MAX_DAYS", 30)),
    }


def _two_factor_keys(env, secret_key: str) -> list[str]:
    """The keys two-factor secrets are encrypted with (portal/totp_keys.py): those of
    TWO_FACTOR_KEYS, comma-separated, the first encrypting; then one derived from
    SECRET_KEY, which encrypts only when none are given and decrypts always, so a site
    moves to keys of its own with one rotate-two-factor-key (README, "Two-factor keys")."""
    given = [key.strip() for key in env.get("TWO_FACTOR_KEYS", "").split(",") if key.strip()]
    for number, key in enumerate(given, 1):
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(
                f"TWO_FACTOR_KEYS: key {number} is not a Fernet key (32 bytes in url-safe "
                "base64); make one with python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from None
    derived = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"stimme two-factor secrets")
    return [*given, base64.urlsafe_b64encode(derived.derive(secret_key.encode())).decode()]


def _log_settings(env, portal_env: str) -> dict:
    try:
        log_format = choose_log_format(portal_env, env.get("LOG_FORMAT", ""))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    level = env.get("LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    return {"LOG_FORMAT": log_format, "LOG_LEVEL": level}


SSO_SECRET_MIN = 32  # characters: HS256 wants a key of 256 bits or more (RFC 7518, 3.2)


def _sso_secret(env) -> str:
    """The key the company's server signs sign-on tokens with ("": signed sign-on is off)."""
    secret = env.get("SSO_JWT_SECRET", "")
    if secret and len(secret) < SSO_SECRET_MIN:
        raise ConfigError(
            f"SSO_JWT_SECRET must be at least {SSO_SECRET_MIN} characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return secret


PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
SIGNED_SIGN_ON = "sso"  # the signed sign-on's name among the ways in (SignInLink.provider)


def is_provider_name(name: str) -> bool:
    """Whether name may name an OpenID Connect provider (it is part of the redirect URI)."""
    return bool(PROVIDER_NAME.fullmatch(name)) and name != SIGNED_SIGN_ON


DEFAULT_SCOPES = "openid email profile"


def _oidc_providers(env) -> dict[str, dict]:
    """The OpenID Connect providers OIDC_PROVIDERS names, each from its OIDC_<NAME>_*
    variables (SPEC section 12); raises ConfigError naming what is missing."""
    providers = {}
    for name in filter(None, (n.strip().lower() for n in env.get("OIDC_PROVIDERS", "").split(","))):
        if not is_provider_name(name):
            raise ConfigError(
                f"OIDC_PROVIDERS: {name!r} is not a provider name (letters, digits and "
                "hyphens, at most 32)"
            )
        prefix = f"OIDC_{name.upper().replace('-', '_')}_"
        missing = [
            prefix + part
            for part in ("ISSUER", "CLIENT_ID", "CLIENT_SECRET")
            if not env.get(prefix + part, "").strip()
        ]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            raise ConfigError(
                f"OIDC_PROVIDERS names {name!r}, but {', '.join(missing)} {verb} not set"
            )
        providers[name] = {
            "issuer": env[prefix + "ISSUER"].strip(),
            "client_id": env[prefix + "CLIENT_ID"].strip(),
            "client_secret": env[prefix + "CLIENT_SECRET"].strip(),
            "label": env.get(prefix + "LABEL", "").strip() or name.capitalize(),
            "scopes": env.get(prefix + "SCOPES", "").strip() or DEFAULT_SCOPES,
        }
    return providers


def load_config(instance_path: str, env: dict | None = None) -> dict:
    """Build the Flask config from environment variables; raises ConfigError."""
    env = os.environ if env is None else env
    instance = Path(instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    portal_env = env.get("PORTAL_ENV", "production")
    if portal_env not in ("production", "development"):
        raise ConfigError(f"PORTAL_ENV must be 'production' or 'development', not {portal_env!r}")
    development = portal_env == "development"

    secret = env.get("SECRET_KEY")
    if not secret:
        if not development:
            raise ConfigError(
                "SECRET_KEY is not set. Set it to a long random value "
                "(python -c 'import secrets; print(secrets.token_hex(32))'), "
                "or set PORTAL_ENV=development for a local instance."
            )
        secret = _instance_secret(instance)

    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'stimme.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url.removeprefix("postgres://")
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")

    return {
        "PORTAL_ENV": portal_env,
        "SECRET_KEY": secret,
        # Werkzeug's scrypt; not read from the environment: only the test suite sets a
        # cheaper one (tests/conftest.py), and one test checks the real one.
        "PASSWORD_HASH_METHOD": "scrypt",
        "TWO_FACTOR_KEYS": _two_factor_keys(env, secret),
        "SSO_JWT_SECRET": _sso_secret(env),
        "OIDC_PROVIDERS": _oidc_providers(env),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Empty: FTS5 in the database where that is SQLite, else Whoosh (decision 0004).
        "SEARCH_BACKEND": env.get("SEARCH_BACKEND", ""),
        "SEARCH_INDEX_DIR": env.get("SEARCH_INDEX_DIR") or str(instance / "search"),
        # 0 leaves every index update to the worker (requests then never touch the index).
        "SEARCH_APPLY_IN_REQUEST": env.get("SEARCH_APPLY_IN_REQUEST", "1") not in ("0", "false"),
        "MAIL_URL": env.get("MAIL_URL") or f"file://{instance / 'mail'}",
        "MAIL_FROM": env.get("MAIL_FROM", "Stimme <no-reply@localhost>"),
        # The worker's lease on the rows it sends (longer than any send may take), and the
        # first pause after a failed send (doubling each time).
        "OUTBOX_LEASE_SECONDS": int(env.get("OUTBOX_LEASE_SECONDS", "120")),
        "OUTBOX_BACKOFF_SECONDS": int(env.get("OUTBOX_BACKOFF_SECONDS", "15")),
        # Sent outbox rows and the webhook delivery log are kept this long, then the
        # worker's housekeeping removes them (portal/housekeeping.py).
        "RETENTION_DAYS": _retention_days(env),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_ENABLED": env.get("RATELIMIT_ENABLED", "1") not in ("0", "false"),
        "RATE_LIMITS": rate_limits_from(env),
        **_limit_storage_settings(env),
        **_log_settings(env, portal_env),
        # Proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted (0: none).
        "PROXY_HOPS": _whole_number(env, "PROXY_HOPS", 0),
        "BASE_URL": env.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        **_session_settings(env, development),
        "WTF_CSRF_TIME_LIMIT": None,
        "PER_PAGE": 20,
        # Visitors' home, board and idea pages are kept this many seconds per process (0: off),
        # up to PAGE_CACHE_SIZE pages; every change visitors could see drops them at once.
        "PAGE_CACHE_SECONDS": _whole_number(env, "PAGE_CACHE_SECONDS", 5),
        "PAGE_CACHE_SIZE": _whole_number(env, "PAGE_CACHE_SIZE", 500),
        # Webhooks may reach private, loopback and link-local addresses (an SSRF guard is off):
        # for a receiver on this machine during development, never in production.
        "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": _switch(
            env, "WEBHOOK_ALLOW_PRIVATE_ADDRESSES", development
        ),
    }
