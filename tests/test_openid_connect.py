"""Signing in with an OpenID Connect provider (SPEC section 12, issue 20 point 1), against a
real provider on loopback: panva's certified oidc-provider (tests/identity_provider.py),
with a person signing in on its own login page.
"""

import os
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hostile import assert_inert, corpus
from identity_provider import (
    CALLBACK,
    CLIENT_ID,
    ForgingProvider,
    local_part,
    sign_in_at_provider,
)
from test_intents import following, press, votes_of
from test_single_sign_on import person
from test_totp import with_two_factor

from conftest import free_port
from portal import create_app
from portal.config import ConfigError
from portal.extensions import db
from portal.models import Role, SignInLink, User

NOT_STARTED_HERE = "This sign-in was not started in this browser"


def start(client, next=None):
    query = {"next": next} if next else {}
    response = client.get("/signin/oidc/company", query_string=query)
    assert response.status_code == 303, response.text
    return response.headers["Location"]


def sign_in_with_provider(client, login, next=None):
    back = sign_in_at_provider(start(client, next), login, CALLBACK)
    return client.get(local_part(back))


def test_a_new_person_signs_in_and_lands_on_next(app, client, company):
    response = sign_in_with_provider(client, "ada@example.com", next="/b/features")
    assert response.status_code == 303, response.text
    assert response.headers["Location"] == "/b/features"
    assert "Ada" in client.get("/me").text
    ada = person(app, email="ada@example.com")
    assert ada.email_verified_at is not None
    assert not ada.has_password


def test_a_second_sign_in_finds_the_account_by_its_subject(app, client, company):
    sign_in_with_provider(client, "ada@example.com")
    client.post("/signout")
    response = sign_in_with_provider(client, "ada@example.com")
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1
        assert db.session.scalar(db.select(db.func.count()).select_from(SignInLink)) == 1


def test_a_verified_address_links_the_existing_account(app, client, company, make, auth):
    ada = make.user(email="ada@example.com", name="Ada Existing")
    response = sign_in_with_provider(client, "ada@example.com")
    assert response.status_code == 303
    assert "Ada Existing" in client.get("/me").text
    with app.app_context():
        link = db.session.scalar(db.select(SignInLink))
        assert (link.user_id, link.provider, link.subject) == (ada.id, "company", "ada@example.com")
    client.post("/signout")
    auth.login(ada)  # the password still works beside the provider


def test_an_unverified_address_of_an_existing_account_is_not_linked(app, client, company, make):
    make.user(email="ada@example.com", name="Ada Existing")
    response = sign_in_with_provider(client, "unverified:ada@example.com")
    assert response.status_code == 400
    assert "does not say that the address is verified" in response.text
    assert "link Company Login on your account page" in response.text
    assert client.get("/me").status_code != 200
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(SignInLink)) == 0


def test_an_unverified_new_address_makes_an_account_that_must_confirm_it(
    app, client, company, mailbox
):
    response = sign_in_with_provider(client, "unverified:bo@example.com")
    assert response.status_code == 303
    bo = person(app, email="bo@example.com")
    assert bo.email_verified_at is None
    [mail] = mailbox.receive()
    assert mail["To"] == "bo@example.com"
    assert "/verify/" in mail.get_body(preferencelist=("plain",)).get_content()


def test_a_next_that_points_elsewhere_lands_on_the_home_page(client, company):
    response = sign_in_with_provider(client, "ada@example.com", next="https://evil.example/")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_a_wrong_state_changes_nothing(app, client, company):
    back = sign_in_at_provider(start(client), "ada@example.com", CALLBACK)
    query = parse_qs(urlsplit(back).query)
    query["state"] = ["not-the-state-we-sent"]
    response = client.get("/signin/oidc/company/callback?" + urlencode(query, doseq=True))
    assert response.status_code == 400
    assert NOT_STARTED_HERE in response.text
    assert person(app, email="ada@example.com") is None


def test_a_callback_from_another_browser_is_refused(app, client, company):
    back = sign_in_at_provider(start(client), "ada@example.com", CALLBACK)
    stranger = app.test_client()  # has no state of this sign-in in its session
    response = stranger.get(local_part(back))
    assert response.status_code == 400
    assert NOT_STARTED_HERE in response.text


def test_a_replayed_code_is_refused(app, client, company):
    back = sign_in_at_provider(start(client), "ada@example.com", CALLBACK)
    assert client.get(local_part(back)).status_code == 303
    client.post("/signout")
    assert client.get(local_part(back)).status_code == 400  # that state is spent
    # With a fresh state of this browser the provider itself refuses the used code.
    fresh_state = parse_qs(urlsplit(start(client)).query)["state"][0]
    code = parse_qs(urlsplit(back).query)["code"][0]
    response = client.get(f"/signin/oidc/company/callback?code={code}&state={fresh_state}")
    assert response.status_code == 400
    assert "Company Login did not sign you in" in response.text
    assert client.get("/me").status_code != 200


def test_an_id_token_for_another_nonce_is_refused(app, client, company):
    """The authorization request altered on its way (another nonce): the ID token the
    provider then issues does not belong to the sign-in this browser started."""
    url = urlsplit(start(client))
    query = parse_qs(url.query)
    query["nonce"] = ["a-nonce-of-someone-else"]
    altered = url._replace(query=urlencode(query, doseq=True)).geturl()
    back = sign_in_at_provider(altered, "ada@example.com", CALLBACK)
    response = client.get(local_part(back))
    assert response.status_code == 400
    assert "its nonce claim is wrong or missing" in response.text
    assert person(app, email="ada@example.com") is None


def test_the_providers_own_error_is_shown_readably(client, company):
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    response = client.get(
        "/signin/oidc/company/callback",
        query_string={"error": "access_denied", "error_description": "<b>End-User aborted</b>",
                      "state": state},
    )  # fmt: skip
    assert response.status_code == 400
    assert "Company Login did not sign you in: &lt;b&gt;End-User aborted&lt;/b&gt;" in response.text


def test_a_person_with_two_factor_sign_in_still_gives_their_code(app, client, company, make):
    moderator = make.user(Role.MODERATOR, email="mo@example.com")
    with_two_factor(app, moderator)
    response = sign_in_with_provider(client, "mo@example.com")
    assert response.headers["Location"] == "/signin/code"
    assert client.get("/me").status_code != 200


def test_a_signed_in_person_links_a_provider_to_their_account(app, client, company, make, auth):
    cara = make.user(email="cara@example.com")
    auth.login(cara)
    response = sign_in_with_provider(client, "cara.elsewhere@example.com")
    assert response.status_code == 303
    assert response.headers["Location"] == "/me"
    client.post("/signout")
    sign_in_with_provider(client, "cara.elsewhere@example.com")
    assert cara.name in client.get("/me").text  # the provider now signs in to cara's account


def test_a_provider_account_linked_elsewhere_is_not_linked_twice(app, client, company, make, auth):
    sign_in_with_provider(client, "ada@example.com")
    client.post("/signout")
    cara = make.user(email="cara@example.com")
    auth.login(cara)
    response = sign_in_with_provider(client, "ada@example.com")
    assert response.status_code == 400
    assert "already linked to another account" in response.text


def test_an_unknown_provider_is_not_found(client, company):
    assert client.get("/signin/oidc/nobody").status_code == 404
    assert client.get("/signin/oidc/nobody/callback?code=x&state=y").status_code == 404


def test_a_provider_that_is_down_gets_a_clear_message(app, client, monkeypatch):
    down = {"issuer": f"http://127.0.0.1:{free_port()}", "client_id": "x", "client_secret": "y",
            "label": "Sleepy Login", "scopes": "openid email"}  # fmt: skip
    monkeypatch.setitem(app.config, "OIDC_PROVIDERS", {"sleepy": down})
    response = client.get("/signin/oidc/sleepy")
    assert response.status_code == 502
    assert "Sleepy Login does not answer just now" in response.text


@pytest.fixture
def forger(app, monkeypatch):
    forging = ForgingProvider()
    monkeypatch.setitem(app.config, "OIDC_PROVIDERS", {"forged": forging.settings()})
    yield forging
    forging.stop()


def come_back_from_forger(client, forger, **claims):
    query = parse_qs(urlsplit(client.get("/signin/oidc/forged").headers["Location"]).query)
    forger.claims = {"nonce": query["nonce"][0], **claims}
    return client.get(f"/signin/oidc/forged/callback?code=any&state={query['state'][0]}")


def test_the_forging_provider_signs_in_when_it_behaves(app, client, forger):
    """The control for the two tests below: their refusals come from what they change."""
    assert come_back_from_forger(client, forger).status_code == 303
    assert person(app, email="forged@example.com") is not None


def test_an_id_token_signed_by_another_key_is_refused(app, client, forger):
    forger.signing_key = forger.other_key  # the same key id, another key
    response = come_back_from_forger(client, forger)
    assert response.status_code == 400
    assert "is not signed with Forged Login&#39;s keys" in response.text
    assert person(app, email="forged@example.com") is None


def test_an_expired_id_token_is_refused(app, client, forger):
    response = come_back_from_forger(client, forger, exp=int(time.time()) - 600)
    assert response.status_code == 400
    assert "The identity token from Forged Login has expired" in response.text
    assert person(app, email="forged@example.com") is None


def test_an_id_token_for_another_client_is_refused(app, client, forger):
    response = come_back_from_forger(client, forger, aud="another-client", azp=CLIENT_ID)
    assert response.status_code == 400
    assert "its aud claim is wrong or missing" in response.text


def test_providers_are_read_from_the_environment(tmp_path):
    env = {
        "PORTAL_ENV": "development",
        "OIDC_PROVIDERS": "google, Entra-ID",
        "OIDC_GOOGLE_ISSUER": "https://accounts.google.com",
        "OIDC_GOOGLE_CLIENT_ID": "g-id",
        "OIDC_GOOGLE_CLIENT_SECRET": "g-secret",
        "OIDC_ENTRA_ID_ISSUER": "https://login.microsoftonline.com/tenant/v2.0",
        "OIDC_ENTRA_ID_CLIENT_ID": "m-id",
        "OIDC_ENTRA_ID_CLIENT_SECRET": "m-secret",
        "OIDC_ENTRA_ID_LABEL": "Microsoft",
        "OIDC_ENTRA_ID_SCOPES": "openid email",
    }
    app = create_app({"ENV": env, "INSTANCE_PATH": str(tmp_path)})
    google, entra = app.config["OIDC_PROVIDERS"]["google"], app.config["OIDC_PROVIDERS"]["entra-id"]
    assert (google["label"], google["scopes"]) == ("Google", "openid email profile")
    assert (entra["label"], entra["scopes"], entra["client_id"]) == (
        "Microsoft",
        "openid email",
        "m-id",
    )


def test_a_provider_without_its_settings_stops_the_start(tmp_path):
    env = {"PORTAL_ENV": "development", "OIDC_PROVIDERS": "okta",
           "OIDC_OKTA_ISSUER": "https://example.okta.com"}  # fmt: skip
    with pytest.raises(ConfigError, match="OIDC_OKTA_CLIENT_ID, OIDC_OKTA_CLIENT_SECRET are not"):
        create_app({"ENV": env, "INSTANCE_PATH": str(tmp_path)})


def test_an_id_token_from_another_issuer_is_refused(app, client, forger):
    response = come_back_from_forger(client, forger, iss="https://elsewhere.example")
    assert response.status_code == 400
    assert "its iss claim is wrong or missing" in response.text


def test_hostile_answers_from_a_provider_are_refused_readably(client, forger, roomy_limits):
    """Every 16th string of the hostile corpora (all with HOSTILE_STRIDE=1) as the state,
    and as the provider's error and its description: a 400 page that runs nothing."""
    stride = int(os.environ.get("HOSTILE_STRIDE", "16"))
    for text in corpus()[::stride]:
        response = client.get(
            "/signin/oidc/forged/callback", query_string={"code": text, "state": text}
        )
        assert response.status_code == 400, text
        assert_inert(response, text)
        state = parse_qs(urlsplit(client.get("/signin/oidc/forged").headers["Location"]).query)
        response = client.get(
            "/signin/oidc/forged/callback",
            query_string={"error": text, "error_description": text, "state": state["state"][0]},
        )
        assert response.status_code == 400, text
        assert_inert(response, text)


def test_pressing_the_button_again_and_again_keeps_the_newest_sign_ins(client, company):
    first = start(client)
    for _ in range(20):  # each begun sign-in waits in the session cookie
        latest = start(client)
    back = sign_in_at_provider(first, "ada@example.com", CALLBACK)
    assert NOT_STARTED_HERE in client.get(local_part(back)).text
    back = sign_in_at_provider(latest, "ada@example.com", CALLBACK)
    assert client.get(local_part(back)).status_code == 303


@pytest.mark.parametrize("kind", ["vote", "follow", "idea", "comment"])
def test_what_a_visitor_pressed_is_done_after_signing_in_with_a_provider(
    app, client, company, make, kind
):
    number = make.idea(make.board(), make.user(name="Author"))
    pressed = press(client, kind, number)
    next_page = parse_qs(urlsplit(pressed.headers["Location"]).query)["next"][0]
    answer = sign_in_with_provider(client, "ada@example.com", next=next_page)
    page = client.get(answer.headers["Location"])
    if kind == "vote":
        assert votes_of(app, "ada@example.com") == 1
        assert "Your vote is counted." in page.text
    elif kind == "follow":
        assert following(app, "ada@example.com", number)
    else:
        assert "Your text is kept: check it and post." in page.text
