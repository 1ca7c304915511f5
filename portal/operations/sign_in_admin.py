"""What admins change on /admin/sign-in (SPEC section 12): the OpenID Connect providers they
add beside the environment's, and the signed sign-on's secret when SSO_JWT_SECRET does not
set one. Secrets are sealed at rest and never shown again after they are saved; every
change is in the audit log, without the secret.
"""

import secrets

from portal.config import DEFAULT_SCOPES, SSO_SECRET_MIN, is_provider_name
from portal.extensions import db
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.markup import clean_line
from portal.models import IdentityProvider
from portal.operations import ValidationError
from portal.operations.admin import require_admin
from portal.operations.audit import record_audit
from portal.operations.openid_connect import ProviderRefused, client_for, providers, stored_provider
from portal.operations.sign_in_modes import mode_refusal, password_sign_in
from portal.operations.single_sign_on import STORED_SECRET, sign_on_secret_from_environment
from portal.operations.web_addresses import web_address
from portal.settings import save_settings, site_settings
from portal.totp_keys import seal

LABEL_MAX = 60
TEXT_MAX = 255
ISSUER_MAX = 500
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SET_BY_ENVIRONMENT = _l("SSO_JWT_SECRET sets the secret: change it there.")


def save_provider(actor, row: IdentityProvider | None, form) -> IdentityProvider:
    """Add a provider (row None) or change one; an empty secret keeps the one it has.
    Raises ValidationError naming each field that is wrong."""
    require_admin(actor)
    values = {
        "name": (form.get("name") or "").strip().lower() if row is None else row.name,
        "label": clean_line(form.get("label") or ""),
        "issuer": (form.get("issuer") or "").strip(),
        "client_id": (form.get("client_id") or "").strip(),
        "scopes": " ".join((form.get("scopes") or DEFAULT_SCOPES).split()),
    }
    secret = (form.get("client_secret") or "").strip()
    errors = provider_errors(values, secret, row)
    if errors:
        raise ValidationError(errors)
    before = provider_fields(row)
    if row is None:
        row = IdentityProvider(**values, sealed_client_secret=seal(secret))
        db.session.add(row)
    else:
        for field, value in values.items():
            setattr(row, field, value)
        if secret:
            row.sealed_client_secret = seal(secret)
    db.session.flush()
    after = provider_fields(row) | ({"client_secret": "changed"} if secret and before else {})
    record_audit(actor, "identity_provider.edit" if before else "identity_provider.add", row,
                 before, after)  # fmt: skip
    return row


def provider_errors(values: dict, secret: str, row: IdentityProvider | None) -> dict:
    errors = {}
    name = values["name"]
    if row is None:
        if not is_provider_name(name):
            errors["name"] = _(
                "Lower-case letters, digits and hyphens, at most 32 (not “sso”): it is part "
                "of the address the provider sends people back to."
            )
        elif name in providers():
            errors["name"] = _("A provider with this name exists.")
    if not values["label"] or len(values["label"]) > LABEL_MAX:
        errors["label"] = _("A name for the button, at most %(max)s characters.", max=LABEL_MAX)
    issuer = web_address(values["issuer"])
    secure = issuer and (issuer.scheme == "https" or issuer.hostname in LOOPBACK_HOSTS)
    if not secure or len(values["issuer"]) > ISSUER_MAX:
        errors["issuer"] = _(
            "The issuer's https address, such as https://accounts.google.com (its "
            "/.well-known/openid-configuration is read from there)."
        )
    if not values["client_id"] or len(values["client_id"]) > TEXT_MAX:
        errors["client_id"] = _("The client id the provider gave this site.")
    if (row is None and not secret) or len(secret) > TEXT_MAX:
        errors["client_secret"] = _("The client secret the provider gave this site.")
    if "openid" not in values["scopes"].split() or len(values["scopes"]) > TEXT_MAX:
        errors["scopes"] = _("Scopes separated by spaces, “openid” among them.")
    return errors


# What a provider's form shows and the audit log records: all but the secret.
PROVIDER_FIELDS = ("name", "label", "issuer", "client_id", "scopes")


def provider_fields(row: IdentityProvider | None) -> dict | None:
    if row is None:
        return None
    return {field: getattr(row, field) for field in PROVIDER_FIELDS}


def delete_provider(actor, row: IdentityProvider) -> None:
    """Remove a provider the admins added; refused while the sign-in mode needs it as the
    way in of customers or staff. Accounts keep their links, which work again if a
    provider of the same name comes back."""
    require_admin(actor)
    record_audit(actor, "identity_provider.remove", row, provider_fields(row), None)
    db.session.delete(row)
    db.session.flush()
    if refusal := mode_refusal(password_sign_in()):
        raise ValidationError({"provider": refusal})


def check_provider(row: IdentityProvider) -> str | None:
    """Why the provider's discovery document cannot be used now, or None when it can."""
    try:
        client_for(stored_provider(row))
    except ProviderRefused as refused:
        return refused.message
    return None


def make_sign_on_secret(actor) -> str:
    """A new secret for the signed sign-on, returned to be shown once; the one before stops
    working at once. Refused while SSO_JWT_SECRET sets the secret."""
    require_admin(actor)
    if sign_on_secret_from_environment():
        raise ValidationError({"sso": str(SET_BY_ENVIRONMENT)})
    secret = secrets.token_urlsafe(max(SSO_SECRET_MIN, 32))
    renewed = bool(site_settings().get(STORED_SECRET))
    save_settings({STORED_SECRET: seal(secret)})
    record_audit(
        actor, "site.sign_on_secret", None, None, {"secret": "renewed" if renewed else "made"}
    )
    return secret


def remove_sign_on_secret(actor) -> None:
    """Turn the signed sign-on off; refused while the sign-in mode needs it."""
    require_admin(actor)
    if sign_on_secret_from_environment():
        raise ValidationError({"sso": str(SET_BY_ENVIRONMENT)})
    save_settings({STORED_SECRET: ""})
    record_audit(actor, "site.sign_on_secret", None, None, {"secret": "removed"})
    if refusal := mode_refusal(password_sign_in()):
        raise ValidationError({"sso": refusal})
