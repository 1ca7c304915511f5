"""Settings read from the environment (SPEC section 8 and 11)."""

import os
import secrets
from pathlib import Path

from portal.ratelimits import DEFAULT_RATE_LIMITS


class ConfigError(RuntimeError):
    """Raised when the environment cannot describe a safe configuration."""


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
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Empty: FTS5 in the database where that is SQLite, else Whoosh (decision 0004).
        "SEARCH_BACKEND": env.get("SEARCH_BACKEND", ""),
        "SEARCH_INDEX_DIR": env.get("SEARCH_INDEX_DIR") or str(instance / "search"),
        # 0 leaves every index update to the worker (requests then never touch the index).
        "SEARCH_APPLY_IN_REQUEST": env.get("SEARCH_APPLY_IN_REQUEST", "1") not in ("0", "false"),
        "MAIL_URL": env.get("MAIL_URL") or f"file://{instance / 'mail'}",
        "MAIL_FROM": env.get("MAIL_FROM", "Stimme <no-reply@localhost>"),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_ENABLED": env.get("RATELIMIT_ENABLED", "1") not in ("0", "false"),
        "RATE_LIMITS": dict(DEFAULT_RATE_LIMITS),
        "BASE_URL": env.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not development,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": not development,
        "WTF_CSRF_TIME_LIMIT": None,
        "PER_PAGE": 20,
    }
