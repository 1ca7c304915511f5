"""Signed sign-on from the company's own app (SPEC section 12, issue 20 point 2): `/sso?token=`
with an HS256 JWT signs the person in, their account made or updated from the claims; a
token that is malformed, wrongly signed, expired or used gets a 400 page saying which, and
changes nothing.

Tokens are signed the way a company's server would, with joserfc (conftest.signed_sign_on);
the suite's site has signed sign-on on.
"""

from datetime import timedelta

import pytest
from test_totp import with_two_factor

from conftest import PASSWORD
from conftest import signed_sign_on as token
from portal import create_app
from portal.config import ConfigError
from portal.extensions import db
from portal.housekeeping import prune
from portal.models import Role, SignInLink, SpentSignOn, User, utcnow

MALFORMED = "This sign-in link is malformed"
WRONGLY_SIGNED = "This sign-in link is not signed with this site&#39;s key."
EXPIRED = "This sign-in link has expired."
TOO_LONG = "This sign-in link lives longer than an hour"
NO_EMAIL = "This sign-in link names no valid email address."
USED = "This sign-in link was already used."


def sso(client, value, next=None):
    query = {"token": value} | ({"next": next} if next is not None else {})
    return client.get("/sso", query_string=query)


def person(app, **where) -> User | None:
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(**where))
        if user is not None:
            db.session.expunge(user)
        return user


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(model))


def signed_in_as(client) -> str | None:
    page = client.get("/me")
    return page.text if page.status_code == 200 else None


def test_a_new_person_arrives_signed_in_on_the_page_named_by_next(app, client, make):
    board = make.board("features")
    response = sso(client, token(name="Cara Customer", id="u-17"), next="/b/features?sort=top")
    assert response.status_code == 303
    assert response.headers["Location"] == "/b/features?sort=top"
    assert "Cara Customer" in signed_in_as(client)
    cara = person(app, email="cara@example.com")
    assert cara.name == "Cara Customer" and cara.email_verified_at is not None
    assert cara.role == Role.CUSTOMER and board
    # No password was made: the address and any password sign nobody in.
    client.post("/signout")
    client.post("/signin", data={"email": "cara@example.com", "password": "!"})
    assert signed_in_as(client) is None


def test_an_existing_account_is_found_by_address_then_by_the_apps_own_id(app, client, make):
    cara = make.user(email="cara@example.com", name="Cara")
    assert sso(client, token(id=17, name="Cara C.")).status_code == 303
    assert person(app, id=cara.id).name == "Cara C."
    client.post("/signout")
    # The app changed her address: its id still names her, and the address follows.
    assert sso(client, token(id=17, email="cara@new.example")).status_code == 303
    moved = person(app, id=cara.id)
    assert moved.email == "cara@new.example"
    assert "Cara C." in signed_in_as(client)
    assert count(app, User) == 1 and count(app, SignInLink) == 1


def test_the_apps_id_wins_over_an_address_that_belongs_to_someone_else(app, client, make):
    cara = make.user(email="cara@example.com", name="Cara")
    otto = make.user(email="otto@example.com", name="Otto")
    sso(client, token(id="u-1"))
    client.post("/signout")
    sso(client, token(id="u-1", email="otto@example.com"))
    assert "Cara" in signed_in_as(client) and "Otto" not in signed_in_as(client)
    assert person(app, id=cara.id).email == "cara@example.com"  # Otto keeps his address
    assert person(app, id=otto.id).email == "otto@example.com"


def test_language_and_company_come_from_the_claims(app, client):
    company = {"id": "acme", "name": "Acme", "monthly_spend": 1200, "plan": "Pro", "x": 1}
    sso(client, token(locale="de-DE", company=company))
    cara = person(app, email="cara@example.com")
    assert cara.locale == "de"
    assert cara.company_claim == {"id": "acme", "name": "Acme", "monthly_spend": 1200,
                                  "plan": "Pro"}  # fmt: skip
    assert "Willkommen" in client.get("/").text


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not-a-token", MALFORMED),
        ("a.b.c", MALFORMED),
        ("", MALFORMED),
        (token(secret="another-secret-of-at-least-32-characters!"), WRONGLY_SIGNED),
        (token(alg="HS512"), WRONGLY_SIGNED),
        (token(lifetime=-120), EXPIRED),
        (token(exp=None), MALFORMED),
        (token(exp="tomorrow"), MALFORMED),
        (token(lifetime=2 * 3600), TOO_LONG),
        (token(email=None), NO_EMAIL),
        (token(email="not an address"), NO_EMAIL),
        (token(email=["cara@example.com"]), NO_EMAIL),
    ],
    ids=[
        "garbage",
        "three-parts",
        "empty",
        "other-key",
        "other-algorithm",
        "expired",
        "no-expiry",
        "expiry-not-a-time",
        "lives-two-hours",
        "no-email",
        "bad-email",
        "email-a-list",
    ],  # fmt: skip
)
def test_a_bad_token_gets_a_400_saying_which_and_changes_nothing(app, client, value, reason):
    response = sso(client, value, next="/roadmap")
    assert response.status_code == 400
    assert reason in response.text
    assert "Nothing was changed." in response.text
    assert signed_in_as(client) is None
    assert count(app, User) == 0 and count(app, SpentSignOn) == 0


def test_an_unsigned_token_is_refused(app, client):
    header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    claims = token().split(".")[1]
    response = sso(client, f"{header}.{claims}.")
    assert response.status_code == 400 and signed_in_as(client) is None


@pytest.mark.parametrize("jti", ["same-jti", None], ids=["by-jti", "without-jti"])
def test_a_token_signs_in_once(app, client, jti):
    value = token(jti=jti)
    assert sso(client, value).status_code == 303
    client.post("/signout")
    again = sso(client, value)
    assert again.status_code == 400 and USED in again.text
    assert signed_in_as(client) is None
    if jti:  # another token with the same jti is the same sign-in
        assert USED in sso(client, token(jti=jti)).text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_next_stays_on_this_site(client, target):
    response = sso(client, token(), next=target)
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_staff_with_two_factor_still_give_their_code(app, client, make):
    moderator = make.user(Role.MODERATOR, email="mo@example.com")
    with_two_factor(app, moderator)
    response = sso(client, token(email="mo@example.com"))
    assert response.headers["Location"] == "/signin/code"
    assert signed_in_as(client) is None


def test_without_a_secret_there_is_no_signed_sign_on(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SSO_JWT_SECRET", "")
    assert sso(client, token()).status_code == 404


def test_a_short_secret_stops_the_start(tmp_path):
    env = {"PORTAL_ENV": "development", "SSO_JWT_SECRET": "short"}
    with pytest.raises(ConfigError, match="SSO_JWT_SECRET must be at least 32"):
        create_app({"ENV": env, "INSTANCE_PATH": str(tmp_path)})


def test_spent_tokens_are_kept_until_they_expire(app, client):
    sso(client, token(lifetime=60))
    with app.app_context():
        assert prune()["spent_sign_ons"] == 0
        assert prune(now=utcnow() + timedelta(minutes=5))["spent_sign_ons"] == 1


def test_a_deleted_account_leaves_no_link_behind(app, client, make):
    make.user(email="cara@example.com")  # with a password, so she can delete the account
    sso(client, token(id="u-9"))
    assert count(app, SignInLink) == 1
    response = client.post("/me/delete", data={"password": PASSWORD})
    assert response.status_code == 303, response.text
    assert count(app, SignInLink) == 0
    # The app's id now names nobody: the next token makes a new account.
    sso(client, token(id="u-9"))
    assert person(app, email="cara@example.com").deleted_at is None


def test_an_account_without_a_password_is_deleted_by_typing_its_address(app, client):
    sso(client, token(id="u-5"))
    assert "No password: set one with" in client.get("/me").text
    assert "type cara@example.com to be sure it is you" in client.get("/me/delete").text
    wrong = client.post("/me/delete", data={"email": "someone@else.example", "password": "!"})
    assert wrong.status_code == 422 and "Type your email address as it is shown." in wrong.text
    assert person(app, email="cara@example.com").deleted_at is None
    right = client.post("/me/delete", data={"email": " Cara@Example.com "})
    assert right.status_code == 303
    assert person(app, email="cara@example.com") is None  # the address is wiped
    assert count(app, SignInLink) == 0 and signed_in_as(client) is None
