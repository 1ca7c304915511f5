"""Stimme: an idea-voting and product-feedback portal."""

import os

from flask import Flask

from portal.config import load_config
from portal.extensions import csrf, db, limiter, login_manager, migrate


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application; raises ConfigError when the environment is unsafe."""
    test_config = test_config or {}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    instance_path = (
        test_config.get("INSTANCE_PATH")
        or os.environ.get("PORTAL_INSTANCE_PATH")
        or os.path.join(root, "instance")
    )
    app = Flask(
        __name__,
        instance_path=instance_path,
        static_folder=os.path.join(root, "static"),
        template_folder=os.path.join(root, "templates"),
    )
    app.config.update(load_config(app.instance_path, env=test_config.get("ENV")))
    app.config.update({k: v for k, v in test_config.items() if k not in ("ENV", "INSTANCE_PATH")})

    register_logging(app)
    register_proxy(app)
    register_extensions(app)
    register_input(app)  # before the blueprints: their routes use its URL converters
    register_blueprints(app)
    register_transaction_boundary(app)  # after the blueprints: it wraps their views
    register_request_hooks(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def register_logging(app: Flask) -> None:
    from portal.logs import configure_logging

    configure_logging(app)


def register_proxy(app: Flask) -> None:
    """Behind PROXY_HOPS proxies, take the client's address and scheme from their headers."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    hops = app.config["PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def register_extensions(app: Flask) -> None:
    # Imported here: once the submodule portal.htmx is loaded, the package attribute
    # `portal.htmx` is that module, so a module-level `htmx` would break a second app.
    from portal import i18n
    from portal.database import configure_sqlite, end_session_safely
    from portal.extensions import htmx

    db.init_app(app)
    # Registered after Flask-SQLAlchemy's, so it runs first (teardowns run in reverse).
    app.teardown_appcontext(lambda _error: end_session_safely(db.session))
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
    migrations = os.path.join(os.path.dirname(app.root_path), "migrations")
    migrate.init_app(app, db, directory=migrations, render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app)

    from portal import auth_loader  # noqa: F401  (registers the user loader)


def register_input(app: Flask) -> None:
    """What every view reads from a request is storable, or refused with a 4xx."""
    from portal import incoming

    incoming.init_app(app)


def register_blueprints(app: Flask) -> None:
    from portal.api import views as api
    from portal.views import (
        account,
        admin,
        auth,
        brand,
        dashboard,
        health,
        language,
        moderation,
        public,
        roadmap,
        search,
    )

    for module in (public, roadmap, search, auth, account, dashboard, moderation, admin, health,
                   language, brand, api):  # fmt: skip
        app.register_blueprint(module.bp)


def register_transaction_boundary(app: Flask) -> None:
    """Each view commits once or rolls back (portal/database.py, docs/decisions/0014)."""
    from portal import database

    database.init_app(app)


def register_request_hooks(app: Flask) -> None:
    from portal import pagecache
    from portal.logs import echo_request_id
    from portal.search.indexing import apply_after_response
    from portal.security import apply_security_headers, prepare_nonce, refuse_cross_site_writes

    app.before_request(refuse_cross_site_writes)  # after Flask-WTF's check, which it extends
    app.before_request(prepare_nonce)
    pagecache.init_app(app)  # after prepare_nonce: a cached page gets this answer's nonce
    app.after_request(echo_request_id)
    app.after_request(apply_security_headers)
    app.after_request(apply_after_response)


def register_errorhandlers(app: Flask) -> None:
    from portal.errorhandlers import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from portal.views.helpers import register

    register(app)


def register_commands(app: Flask) -> None:
    from portal.cli import register

    register(app)
