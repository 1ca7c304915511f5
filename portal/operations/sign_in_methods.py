"""The signed-in person's own ways to sign in (issue 20 point 5): their password, their links
to OpenID Connect providers and to the company's signed sign-on, each of which they may
remove as long as another way in remains.

The one rule of what is a way in is `ways_in`: a password the sign-in mode allows for their
role, or a link to a way that stands in for a password for that role (`ways_in_for`: a
configured OpenID Connect provider, or the signed sign-on while SSO_JWT_SECRET is set).
"""

from dataclasses import dataclass

from werkzeug.security import check_password_hash

from portal.config import SIGNED_SIGN_ON
from portal.extensions import db
from portal.i18n import gettext as _
from portal.models import NO_PASSWORD, SignInLink, User
from portal.operations import Conflict, OperationError, ValidationError
from portal.operations.accounts import password_allowed
from portal.operations.openid_connect import providers
from portal.operations.sessions import end_other_sessions
from portal.operations.sign_in_modes import ways_in_for
from portal.operations.single_sign_on import sign_on_enabled

PASSWORD = "password"  # the password among the ways in; the others are SignInLink rows


class LinkNotFound(OperationError):
    """No link of this person has that id (another person's link is not theirs to see)."""

    status_code = 404


@dataclass(frozen=True)
class ProviderRow:
    """A configured OpenID Connect provider as /me shows it: linked or not."""

    name: str
    label: str
    links: list[SignInLink]


@dataclass(frozen=True)
class Methods:
    """What /me shows under "Ways to sign in", with why each removal is refused (or None)."""

    has_password: bool
    password_allowed: bool
    password_refusal: str | None
    providers: list[ProviderRow]  # every configured provider, linked or not
    signed_sign_on: list[SignInLink]  # the company's app's links ("sso")
    signed_sign_on_enabled: bool
    unconfigured: list[SignInLink]  # links to providers no longer set up
    refusals: dict[int, str | None]  # SignInLink.id: why it cannot be removed, or None


def links_of(user: User) -> list[SignInLink]:
    return list(
        db.session.scalars(
            db.select(SignInLink)
            .where(SignInLink.user_id == user.id)
            .order_by(SignInLink.created_at, SignInLink.id)
        )
    )


def ways_in(user: User, links: list[SignInLink] | None = None) -> list[str | SignInLink]:
    """Every way user can sign in now: PASSWORD when they have one the mode allows for
    their role, then each link to a way that stands in for a password for that role."""
    ways: list[str | SignInLink] = (
        [PASSWORD] if user.has_password and password_allowed(user) else []
    )
    counted = set(ways_in_for(user.role))
    return ways + [link for link in (links_of(user) if links is None else links)
                   if link.provider in counted]  # fmt: skip


def removal_refusal(user: User, way: str | SignInLink, links=None) -> str | None:
    """Why removing way (PASSWORD or one of user's links) would leave user with no way in,
    or None when another way remains (or way is none, so removing it takes nothing)."""
    ways = ways_in(user, links)
    if way not in ways or len(ways) > 1:
        return None
    if way == PASSWORD and providers():
        return _(
            "Your password is your only way to sign in, so it cannot be removed. Link a "
            "provider below first, then remove the password."
        )
    if way == PASSWORD:
        return _("Your password is your only way to sign in, so it cannot be removed.")
    if password_allowed(user):
        return _(
            "This is your only way to sign in, so it cannot be removed. Set a password (with "
            "a reset link) or link another provider first."
        )
    return _(
        "This is your only way to sign in, so it cannot be removed. Link another provider first."
    )


def sign_in_methods(user: User) -> Methods:
    """user's ways to sign in as /me shows them."""
    links = links_of(user)
    configured = providers()
    return Methods(
        has_password=user.has_password,
        password_allowed=password_allowed(user),
        password_refusal=removal_refusal(user, PASSWORD, links),
        providers=[
            ProviderRow(name, provider.label, [link for link in links if link.provider == name])
            for name, provider in configured.items()
        ],
        signed_sign_on=[link for link in links if link.provider == SIGNED_SIGN_ON],
        signed_sign_on_enabled=sign_on_enabled(),
        unconfigured=[
            link
            for link in links
            if link.provider not in configured and link.provider != SIGNED_SIGN_ON
        ],
        refusals={link.id: removal_refusal(user, link, links) for link in links},
    )


def remove_password(user: User, current: str) -> None:
    """Take the signed-in user's password away (they sign in another way from now on) and
    end their other sessions, as changing it does; raises Conflict when it is their only
    way in, ValidationError when current is not their password."""
    lock(user)
    if not user.has_password:
        raise Conflict(_("You have no password to remove."))
    refusal = removal_refusal(user, PASSWORD)
    if refusal:  # asked before the password, so a refusal tells a guesser nothing
        raise Conflict(refusal)
    if not check_password_hash(user.password_hash, current or ""):
        raise ValidationError({"current_password": _("That is not your current password.")})
    user.password_hash = NO_PASSWORD
    end_other_sessions(user, keep_token=user.session_token)


def remove_sign_in_link(user: User, link_id: int) -> SignInLink:
    """Unlink one of the signed-in user's providers; returns the link removed. Raises
    LinkNotFound when user has no link of that id, Conflict when it is their only way in."""
    lock(user)
    link = db.session.get(SignInLink, link_id)
    if link is None or link.user_id != user.id:
        raise LinkNotFound(_("You have no such sign-in link."))
    refusal = removal_refusal(user, link)
    if refusal:
        raise Conflict(refusal)
    db.session.delete(link)
    db.session.flush()
    return link


def lock(user: User) -> None:
    """Hold user's row, read afresh, until the request ends: two removals at once (two tabs)
    must not each leave the other as the last way in and then take it too."""
    db.session.execute(
        db.select(User)
        .where(User.id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def link_label(link: SignInLink, site_name: str) -> str:
    """How a link is named to its person: the provider's label, the company's app, or the
    name of a provider no longer set up."""
    if link.provider == SIGNED_SIGN_ON:
        return _("%(site)s's app", site=site_name)
    provider = providers().get(link.provider)
    return provider.label if provider else link.provider
