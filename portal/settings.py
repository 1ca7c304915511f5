"""Site-wide settings an admin changes on /admin/site, with their defaults."""

from flask import current_app, g, has_request_context

from portal.extensions import db
from portal.models import SiteSetting

DEFAULTS = {
    "site_name": "Stimme",
    "accent": "#1f6feb",
    "guidelines": "",
}


def site_settings() -> dict[str, str]:
    """Every setting, read once per request; the configured SITE_NAME is the name's default."""
    if has_request_context() and "site_settings" in g:
        return g.site_settings
    values = {**DEFAULTS, "site_name": current_app.config.get("SITE_NAME", DEFAULTS["site_name"])}
    values.update(db.session.execute(db.select(SiteSetting.key, SiteSetting.value)).all())
    if has_request_context():
        g.site_settings = values
    return values


def save_settings(values: dict[str, str]) -> None:
    for key, value in values.items():
        setting = db.session.get(SiteSetting, key) or SiteSetting(key=key)
        setting.value = value
        db.session.add(setting)
    if has_request_context():
        g.pop("site_settings", None)
