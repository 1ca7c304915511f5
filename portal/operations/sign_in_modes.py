"""Sign-in modes (SPEC section 12, issue 20 point 3): admins make single sign-on the only
way in for customers, for staff or for both, but only while such a way in exists; the
operator keeps a one-time sign-in link from the command line for emergencies.

The rule itself, who may use a password, is `accounts.password_allowed`; this module
chooses the mode and names the ways in that stand in for passwords.
"""

from portal.config import SIGNED_SIGN_ON
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.models import Role, User
from portal.operations.accounts import PASSWORD_SIGN_IN, absolute_url, issue_token, redeem_token
from portal.operations.audit import record_audit
from portal.operations.openid_connect import providers
from portal.operations.single_sign_on import sign_on_enabled
from portal.settings import site_settings

MODES = {
    "everyone": _l("Everyone may sign in with a password (and by single sign-on)"),
    "staff": _l("Only staff may use a password: customers sign in by single sign-on"),
    "customers": _l("Only customers may use a password: staff sign in by single sign-on"),
    "nobody": _l("Nobody uses a password: everyone signs in by single sign-on"),
}


def oidc_provider_names() -> list[str]:
    """The names of the configured OpenID Connect providers (environment and admin page)."""
    return list(providers())


def single_sign_on_ways() -> list[str]:
    """Every configured way in without a password: the signed sign-on ("sso") when
    SSO_JWT_SECRET is set, then each OpenID Connect provider by name."""
    return ([SIGNED_SIGN_ON] if sign_on_enabled() else []) + oidc_provider_names()


def ways_in_for(role: Role) -> list[str]:
    """The ways in that stand in for a password for this role. Staff need an OpenID Connect
    provider: the company's signed sign-on vouches for its customers, not for our staff."""
    if role >= Role.MODERATOR:
        return oidc_provider_names()
    return single_sign_on_ways()


def password_sign_in() -> str:
    """The mode in force: a key of MODES."""
    mode = site_settings()["password_sign_in"]
    return mode if mode in PASSWORD_SIGN_IN else "everyone"


def mode_refusal(mode: str) -> str | None:
    """Why the mode cannot be chosen now (unknown, or a role would be left without a way
    in), or None when it can."""
    if mode not in PASSWORD_SIGN_IN:
        return _("Choose one of the options.")
    customers, staff = PASSWORD_SIGN_IN[mode]
    if not staff and not ways_in_for(Role.MODERATOR):
        return _(
            "Staff cannot lose their passwords yet: no OpenID Connect provider is set up for "
            "them to sign in with. Add one first."
        )
    if not customers and not ways_in_for(Role.CUSTOMER):
        return _(
            "Customers cannot lose their passwords yet: neither the signed sign-on "
            "(SSO_JWT_SECRET) nor an OpenID Connect provider is set up. Set one up first."
        )
    return None


# -- the operator's way in ----------------------------------------------------------------


def issue_sign_in_link(user: User) -> str:
    """A link that signs user in once within 15 minutes, whatever the mode (the operator's
    emergency way in; only its hash is stored), recorded in the audit log as the system's."""
    link = absolute_url("auth.sign_in_link", token=issue_token(user, "signin"))
    record_audit(None, "user.sign_in_link", user)
    return link


def use_sign_in_link(token: str) -> User:
    """The person an operator's sign-in link names, the link used up; raises
    OperationError."""
    return redeem_token(token, "signin")
