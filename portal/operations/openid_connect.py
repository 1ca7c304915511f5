"""Sign-in through OpenID Connect providers (SPEC section 12), by Authlib's Flask client: the
authorization code flow with PKCE, `state` and `nonce` (kept in the session cookie until
the callback), endpoints and keys from the issuer's discovery document, and the ID token
checked by Authlib against those keys, the issuer, the client id and the nonce.

Providers come from the environment (OIDC_PROVIDERS, portal/config.py) and from admins
(IdentityProvider rows, their client secrets sealed). An account is found by (provider,
`sub`), linked to an account with the same address only when the provider says the
address is verified, or made.
"""

import time
from dataclasses import dataclass

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from flask import current_app, session
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.i18n import gettext as _
from portal.models import IdentityProvider, SignInLink, User, utcnow
from portal.operations import OperationError, ValidationError
from portal.operations.accounts import (
    find_user,
    linked_user,
    normalise_email,
    open_account_from_elsewhere,
)
from portal.totp_keys import UnreadableSecret, unseal

# Seconds a sign-in may wait for a provider: a sync worker waits with it.
PROVIDER_TIMEOUT = 5
# Discovery documents are read again after a day (keys are read again when one is new).
METADATA_MAX_AGE = 24 * 3600
SUBJECT_MAX = 255
CLIENT_PREFIX = "oidc-"  # of our names for Authlib's clients, one per provider
# Authlib keeps each begun sign-in in the session under "_state_<client name>_<state>".
STATE_PREFIX = f"_state_{CLIENT_PREFIX}"
PENDING_SIGN_INS = 3


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    from_environment: bool = False

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


class ProviderRefused(OperationError):
    """A sign-in through a provider that ends without a person; the message says why."""


class ProviderDown(ProviderRefused):
    """The provider did not answer, or not as a provider does."""

    status_code = 502


def providers() -> dict[str, Provider]:
    """Every configured provider by name: the environment's first, then the admins'."""
    found = {
        name: Provider(name=name, from_environment=True, **settings)
        for name, settings in current_app.config["OIDC_PROVIDERS"].items()
    }
    for row in db.session.scalars(db.select(IdentityProvider).order_by(IdentityProvider.label)):
        try:
            found.setdefault(row.name, stored_provider(row))
        except UnreadableSecret:  # logged: the server's keys are wrong; no button for it
            continue
    return found


def stored_provider(row: IdentityProvider) -> Provider:
    return Provider(
        name=row.name,
        label=row.label,
        issuer=row.issuer,
        client_id=row.client_id,
        client_secret=unseal(row.sealed_client_secret),
        scopes=row.scopes,
    )


def provider_named(name: str) -> Provider | None:
    if name in current_app.config["OIDC_PROVIDERS"]:
        return providers()[name]
    row = db.session.scalar(db.select(IdentityProvider).where(IdentityProvider.name == name))
    return stored_provider(row) if row else None


# Authlib clients by everything they are made from: a changed provider gets a new one.
_clients: dict[Provider, FlaskOAuth2App] = {}


def client_for(provider: Provider) -> FlaskOAuth2App:
    """Authlib's client for the provider, with its discovery document loaded and checked;
    raises ProviderDown."""
    client = _clients.get(provider)
    loaded_at = client.server_metadata.get("_loaded_at", 0) if client else 0
    if client is None or time.time() - loaded_at > METADATA_MAX_AGE:
        name = CLIENT_PREFIX + provider.name
        client = FlaskOAuth2App(
            FlaskIntegration(name),
            name,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            server_metadata_url=provider.discovery_url,
            client_kwargs={
                "scope": provider.scopes,
                "code_challenge_method": "S256",
                "default_timeout": PROVIDER_TIMEOUT,
            },
        )
        metadata = ask(provider, client.load_server_metadata)
        # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer asked.
        if str(metadata.get("issuer", "")).rstrip("/") != provider.issuer.rstrip("/"):
            raise ProviderDown(
                _(
                    "%(label)s's discovery document names another issuer than %(issuer)s; "
                    "the site's administrators must correct the provider's settings.",
                    label=provider.label,
                    issuer=provider.issuer,
                )
            )
        _clients[provider] = client
    return client


def ask(provider: Provider, call, *args, **kwargs):
    """call(*args, **kwargs), a request to the provider; raises ProviderDown when it does
    not answer, answers with an error status or with something other than JSON."""
    try:
        return call(*args, **kwargs)
    except requests.RequestException:  # requests' JSONDecodeError is one too
        raise ProviderDown(
            _(
                "%(label)s does not answer just now, so signing in with it is not possible. "
                "Try again in a few minutes.",
                label=provider.label,
            )
        ) from None


def authorization_url(provider: Provider, redirect_uri: str) -> str:
    """Where to send the person to sign in at the provider; the state, nonce and PKCE
    verifier wait in the session for the callback. Raises ProviderDown."""
    client = client_for(provider)
    found = client.create_authorization_url(redirect_uri)
    forget_older_sign_ins()
    client.save_authorize_data(
        redirect_uri=redirect_uri,
        state=found["state"],
        nonce=found["nonce"],
        code_verifier=found["code_verifier"],
    )
    return found["url"]


def forget_older_sign_ins() -> None:
    """Keep the newest few sign-ins begun in this browser (a tab or two may be open): the
    session is a cookie, and one pressed button after another would overfill it."""
    begun = sorted(
        (key for key in session if key.startswith(STATE_PREFIX)),
        key=lambda key: session[key].get("exp", 0),
    )
    for key in begun[: -(PENDING_SIGN_INS - 1)]:
        session.pop(key)


def signed_in_person(provider: Provider) -> User:
    """The person the provider's answer to this request names, their account found, linked
    or made; raises ProviderRefused. The caller signs them in and commits."""
    claims = identity(provider)
    try:
        with db.session.begin_nested():
            return account_for(provider, claims)
    except IntegrityError:  # a first sign-in of the same person made the account meanwhile
        return account_for(provider, claims)


def link_provider(user: User, provider: Provider) -> None:
    """Link the person the provider's answer names to user's account (from /me); raises
    ProviderRefused when that person is linked to another account."""
    subject = subject_of(identity(provider))
    owner = linked_user(provider.name, subject)
    if owner is None:
        link(user, provider, subject)
    elif owner.id != user.id:
        raise ProviderRefused(
            _(
                "That %(label)s account is already linked to another account here.",
                label=provider.label,
            )
        )


def identity(provider: Provider) -> dict:
    """The claims of the ID token in the provider's answer to this request, checked by
    Authlib; raises ProviderRefused saying what is wrong."""
    client = client_for(provider)
    try:
        token = ask(provider, client.authorize_access_token, claims_options=checks(client))
    except MismatchingStateError:
        raise ProviderRefused(
            _(
                "This sign-in was not started in this browser, or it is already finished. "
                "Start again with the button on the sign-in page."
            )
        ) from None
    # The provider's own error, a code it does not take, an answer without a code, …
    except AuthlibBaseError as refused:
        reason = refused.description or refused.error or ""
        raise ProviderRefused(
            _("%(label)s did not sign you in: %(reason)s", label=provider.label, reason=reason)
        ) from None
    except ExpiredTokenError:
        raise ProviderRefused(
            _("The identity token from %(label)s has expired. Start again.", label=provider.label)
        ) from None
    except ClaimError as wrong:
        raise ProviderRefused(
            _(
                "The identity token from %(label)s does not belong to this sign-in "
                "(its %(claim)s claim is wrong or missing).",
                label=provider.label,
                claim=wrong.claim,
            )
        ) from None
    except (JoseError, ValueError):  # another key, not a JWT, …
        raise ProviderRefused(
            _(
                "The identity token from %(label)s is not signed with %(label)s's keys.",
                label=provider.label,
            )
        ) from None
    if "userinfo" not in token:
        raise ProviderRefused(_("%(label)s sent no identity token.", label=provider.label))
    claims = dict(token["userinfo"])
    if "email" not in claims and "userinfo_endpoint" in client.server_metadata:
        # Many providers put the address only in their userinfo answer (OpenID Connect
        # Core 5.4), which counts only for the same subject (5.3.2).
        extra = ask(provider, client.userinfo, token=token)
        if extra.get("sub") == claims["sub"]:
            claims.update(
                {k: v for k, v in extra.items() if k in ("email", "email_verified", "name")}
            )
    return claims


def account_for(provider: Provider, claims: dict) -> User:
    """The account of (provider, sub); else the one with the address when the provider
    vouches for it; else a new one. Raises ProviderRefused."""
    subject = subject_of(claims)
    user = linked_user(provider.name, subject)
    if user is not None:
        return user
    email = claims.get("email")
    try:
        email = normalise_email(email if isinstance(email, str) else "")
    except ValidationError:
        raise ProviderRefused(
            _(
                "%(label)s did not tell us a valid email address, which an account here "
                "needs. Sign in another way, or ask the site's administrators.",
                label=provider.label,
            )
        ) from None
    verified = claims.get("email_verified") is True
    user = find_user(email)
    if user is not None and not verified:
        raise ProviderRefused(
            _(
                "An account with the address %(email)s exists, but %(label)s does not say "
                "that the address is verified, so it cannot be linked. Sign in as before, "
                "then link %(label)s on your account page.",
                email=email,
                label=provider.label,
            )
        )
    if user is None:
        user = open_account_from_elsewhere(email, claims.get("name"), verified)
    elif verified:
        user.email_verified_at = user.email_verified_at or utcnow()
    link(user, provider, subject)
    return user


def subject_of(claims: dict) -> str:
    return str(claims["sub"])[:SUBJECT_MAX]  # Authlib refuses an ID token without one


def checks(client: FlaskOAuth2App) -> dict:
    """What the ID token's issuer and audience must be (OpenID Connect Core 3.1.3.7: the
    audience must hold this client), which Authlib leaves to its caller."""
    return {
        "iss": {"essential": True, "values": [client.server_metadata["issuer"]]},
        "aud": {"essential": True, "values": [client.client_id]},
    }


def link(user: User, provider: Provider, subject: str) -> None:
    db.session.add(SignInLink(user=user, provider=provider.name, subject=subject))
    db.session.flush()
