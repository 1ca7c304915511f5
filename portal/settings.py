"""Site-wide settings an admin changes on /admin/site, with their defaults."""

from flask import current_app, g, has_request_context

from portal.extensions import db
from portal.models import SiteSetting
from portal.pagecache import configuration_changed, shared_configuration

DEFAULTS = {
    "site_name": "Stimme",
    "accent": "#1f6feb",
    "header": "#f6f8fa",  # the header's background
    # One "Label | https://…" a line (portal/operations/admin.py footer_links).
    "footer_links": "",
    # The uploaded logo's and favicon's file names, "logo-<digest>.png"; "" for the defaults.
    "logo": "",
    "favicon": "",
    "guidelines": "",
    # "1": moderators, owners and admins must use two-factor sign-in.
    "require_staff_two_factor": "",
    # The signed sign-on's secret when an admin made one (sealed; SSO_JWT_SECRET wins).
    "sso_jwt_secret": "",
    # Who may sign in with a password: "everyone", "staff" (customers use single sign-on),
    # "customers" (staff use single sign-on) or "nobody" (portal/operations/sign_in_modes.py).
    "password_sign_in": "everyone",
}


def site_settings() -> dict[str, str]:
    """Every setting, read once per request; the configured SITE_NAME is the name's default."""
    if has_request_context() and "site_settings" in g:
        return g.site_settings
    values = default_settings()
    values.update(shared_configuration("site_settings", stored_settings))
    if has_request_context():
        g.site_settings = values
    return values


def stored_settings() -> dict[str, str]:
    return dict(db.session.execute(db.select(SiteSetting.key, SiteSetting.value)).all())


def default_settings() -> dict[str, str]:
    """The settings before an admin changes any: what pages show when the database is down."""
    return {**DEFAULTS, "site_name": current_app.config.get("SITE_NAME", DEFAULTS["site_name"])}


def save_settings(values: dict[str, str]) -> None:
    for key, value in values.items():
        setting = db.session.get(SiteSetting, key) or SiteSetting(key=key)
        setting.value = value
        db.session.add(setting)
    configuration_changed()
    if has_request_context():
        g.pop("site_settings", None)
