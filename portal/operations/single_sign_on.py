"""Signed sign-on from the company's own app (SPEC section 12): its server signs a short-lived
JWT (HS256, with SSO_JWT_SECRET) naming the person, and `/sso?token=` signs them in, making
or updating their account from the claims.

The token is checked with joserfc, the JOSE library Authlib itself builds on. Each token
signs in once: the hash of its `jti` (of the whole token when it has none) is kept until
the token expires (SpentSignOn; housekeeping removes it after).
"""

from datetime import UTC, datetime, timedelta

from flask import current_app
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    JoseError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import OctKey
from sqlalchemy.exc import IntegrityError

from portal.config import SIGNED_SIGN_ON
from portal.extensions import db
from portal.i18n import LANGUAGES
from portal.i18n import lazy_gettext as _l
from portal.models import SignInLink, SpentSignOn, User, utcnow
from portal.operations import OperationError, ValidationError
from portal.operations.accounts import (
    claimed_name_or,
    find_user,
    linked_user,
    normalise_email,
    open_account_from_elsewhere,
)
from portal.operations.hashes import digest
from portal.settings import site_settings
from portal.totp_keys import UnreadableSecret, unseal

PROVIDER = SIGNED_SIGN_ON  # SignInLink.provider of the company's own ids
MAX_LIFETIME = timedelta(hours=1)
# Clocks of two servers differ a little: an expiry this close past still counts.
LEEWAY = timedelta(seconds=30)
COMPANY_FIELDS = ("id", "name", "monthly_spend", "plan")

MALFORMED = _l(
    "This sign-in link is malformed: the app that sent you here made a token we cannot read."
)
WRONGLY_SIGNED = _l("This sign-in link is not signed with this site's key.")
EXPIRED = _l("This sign-in link has expired. Go back to the app and open the portal again.")
TOO_LONG = _l("This sign-in link lives longer than an hour, which this site does not accept.")
NO_EMAIL = _l("This sign-in link names no valid email address.")
USED = _l("This sign-in link was already used. Go back to the app and open the portal again.")


class SignOnRefused(OperationError):
    """A token that signs nobody in; the message says which of the reasons above."""


STORED_SECRET = "sso_jwt_secret"  # the setting of a secret made on /admin/sign-in, sealed


def sign_on_secret_from_environment() -> str:
    return current_app.config["SSO_JWT_SECRET"]


def sign_on_secret() -> str:
    """SSO_JWT_SECRET, else the secret an admin made ("": signed sign-on is off)."""
    stored = site_settings().get(STORED_SECRET, "")
    try:
        return sign_on_secret_from_environment() or (unseal(stored) if stored else "")
    except UnreadableSecret:  # logged; the server's keys are wrong, not the token
        return ""


def sign_on_enabled() -> bool:
    return bool(sign_on_secret())


def sign_on(token: str) -> User:
    """The person the token names, their account made or brought up to date from its claims;
    raises SignOnRefused. The caller signs them in and commits."""
    claims = verified_claims(token)
    email = claims.get("email")
    try:
        email = normalise_email(email if isinstance(email, str) else "")
    except ValidationError:
        raise SignOnRefused(str(NO_EMAIL)) from None
    spend(token, claims)
    try:
        with db.session.begin_nested():
            return account_for(email, claims)
    except IntegrityError:  # a first sign-on of the same person made the account meanwhile
        return account_for(email, claims)


def verified_claims(token: str) -> dict:
    """The claims of a token signed with the site's key, unexpired, with an expiry at most an
    hour ahead; raises SignOnRefused."""
    key = OctKey.import_key(sign_on_secret())
    try:
        claims = jwt.decode(token or "", key, algorithms=["HS256"]).claims
        registry = jwt.JWTClaimsRegistry(
            leeway=int(LEEWAY.total_seconds()), exp={"essential": True}
        )
        registry.validate(claims)
    except (BadSignatureError, UnsupportedAlgorithmError):  # another key, or not HS256
        raise SignOnRefused(str(WRONGLY_SIGNED)) from None
    except ExpiredTokenError:
        raise SignOnRefused(str(EXPIRED)) from None
    # No expiry, not three parts, not base64, not JSON, …
    except (JoseError, ValueError, TypeError):
        raise SignOnRefused(str(MALFORMED)) from None
    if expiry(claims) - utcnow() > MAX_LIFETIME + LEEWAY:
        raise SignOnRefused(str(TOO_LONG))
    return claims


def expiry(claims: dict) -> datetime:
    return datetime.fromtimestamp(claims["exp"], UTC)


def spend(token: str, claims: dict) -> None:
    """Note the token as used, once: a second request with it, even one racing this one,
    fails on the unique hash; raises SignOnRefused."""
    jti = claims.get("jti")
    key = f"jti:{jti}" if isinstance(jti, str) and jti else f"token:{token}"
    try:
        with db.session.begin_nested():
            db.session.add(SpentSignOn(token_hash=digest(key), expires_at=expiry(claims)))
    except IntegrityError:
        raise SignOnRefused(str(USED)) from None


def account_for(email: str, claims: dict) -> User:
    """The account the claims name: by the company's own id first, then by address; made
    (verified, without a password) when there is none. Name, language, the company claim
    and, when it is free, a new address follow the claims."""
    subject = claims.get("id")
    subject = str(subject)[:255] if isinstance(subject, str | int) and subject != "" else None
    user = linked_user(PROVIDER, subject) if subject else None
    if user is None:
        user = find_user(email) or open_account_from_elsewhere(email, claims.get("name"), True)
        if subject:
            db.session.add(SignInLink(user=user, provider=PROVIDER, subject=subject))
    elif user.email != email and find_user(email) is None:
        user.email = email
    update_from_claims(user, claims)
    db.session.flush()
    return user


def update_from_claims(user: User, claims: dict) -> None:
    user.name = claimed_name_or(claims.get("name"), "") or user.name  # "": none claimed
    locale = claims.get("locale")
    if isinstance(locale, str) and locale[:2].lower() in LANGUAGES:
        user.locale = locale[:2].lower()
    company = claims.get("company")
    if isinstance(company, dict):
        user.company_claim = {field: company[field] for field in COMPANY_FIELDS if field in company}
    # The company's app vouches for the address, as a confirmation link would.
    user.email_verified_at = user.email_verified_at or utcnow()
