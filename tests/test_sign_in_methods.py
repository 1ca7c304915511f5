"""The ways to sign in on /me (issue 20 point 5): a person sees their password, their links to
OpenID Connect providers and to the company's app, and removes any of them while another way
in remains; the provider legs run against a real provider on loopback
(tests/identity_provider.py), as tests/test_openid_connect.py does.
"""

import re

import lxml.html
from identity_provider import CALLBACK, local_part, sign_in_at_provider
from test_openid_connect import sign_in_with_provider

from conftest import PASSWORD, SSO_SECRET, signed_sign_on
from portal.extensions import db
from portal.models import NO_PASSWORD, Role, SignInLink, User
from portal.settings import save_settings

ONLY_WAY = "only way to sign in, so it cannot be removed"


def way(page: str, name: str) -> str:
    """The text of one row of "Ways to sign in" (way-password, way-company, way-sso, …)."""
    [row] = lxml.html.fromstring(page).xpath(f'//li[@id="way-{name}"]')
    return " ".join(row.text_content().split())


def removable(page: str, name: str) -> bool:
    """Whether the row offers a working Remove (a form or a link, not a disabled button)."""
    [row] = lxml.html.fromstring(page).xpath(f'//li[@id="way-{name}"]')
    return bool(
        row.xpath('.//form[contains(@action, "/remove")] | .//a[contains(@href, "/remove")]')
    )


def links(app, **where) -> list[SignInLink]:
    with app.app_context():
        found = db.session.scalars(db.select(SignInLink).filter_by(**where)).all()
        db.session.expunge_all()
        return found


def password_hash(app, email: str) -> str:
    with app.app_context():
        return db.session.scalar(db.select(User.password_hash).filter_by(email=email))


def add_link(app, user, provider: str, subject: str) -> int:
    with app.app_context():
        row = SignInLink(user_id=user.id, provider=provider, subject=subject)
        db.session.add(row)
        db.session.commit()
        return row.id


def set_mode(app, mode: str) -> None:
    with app.app_context():
        save_settings({"password_sign_in": mode})
        db.session.commit()


def flash_of(response) -> str:
    found = re.search(r'class="flash flash-\w+"[^>]*>([^<]*)<', response.text)
    assert found, response.text
    return found.group(1)


def remove_link(client, link_id: int, follow=True):
    return client.post(f"/me/sign-in-links/{link_id}/remove", follow_redirects=follow)


# -- what /me shows --------------------------------------------------------------------------


def test_a_password_only_account_sees_its_password_and_a_provider_to_link(
    client, make, auth, company
):
    auth.login(make.user(email="pat@example.com"))
    page = client.get("/me").text
    assert "Ways to sign in" in page
    assert "Password Set" in way(page, "password")
    assert 'href="/me/password"' in page
    assert ONLY_WAY in way(page, "password") and "Link a provider below first" in page
    assert not removable(page, "password")
    assert "Company Login Not linked" in way(page, "company")
    assert 'href="/signin/oidc/company"' in page
    assert 'id="way-sso"' not in page


def test_without_providers_the_only_password_stays_and_nothing_else_shows(client, make, auth):
    auth.login(make.user())
    page = client.get("/me").text
    assert "Your password is your only way to sign in, so it cannot be removed." in page
    assert "Link a provider" not in page
    assert lxml.html.fromstring(page).xpath('//li[starts-with(@id, "way-")]/@id') == [
        "way-password"
    ]


def test_a_provider_only_account_sees_its_link_and_no_password(app, client, company):
    assert sign_in_with_provider(client, "ada@example.com").status_code == 303
    page = client.get("/me").text
    assert "Password Not set" in way(page, "password")
    assert "No password: set one with a reset link." in way(page, "password")
    assert 'href="/reset"' in page
    assert 'href="/me/password"' not in page
    assert "Company Login Linked" in way(page, "company")
    assert ONLY_WAY in way(page, "company")
    assert "Set a password (with a reset link) or link another provider first" in page
    assert not removable(page, "company")
    [link] = links(app, provider="company")
    refused = remove_link(client, link.id)
    assert ONLY_WAY in flash_of(refused)
    assert links(app, provider="company")  # still there
    assert client.get("/me/password/remove").status_code == 200  # says there is none
    assert "You have no password to remove." in client.get("/me/password/remove").text


def test_linking_from_me_lands_back_on_me_with_both_ways(app, client, make, auth, company):
    auth.login(make.user(email="cara@example.com"))
    page = client.get("/me").text
    [href] = lxml.html.fromstring(page).xpath('//li[@id="way-company"]//a/@href')
    started = client.get(href)
    assert started.status_code == 303
    back = sign_in_at_provider(started.headers["Location"], "cara.sso@example.com", CALLBACK)
    landed = client.get(local_part(back), follow_redirects=True)
    assert landed.request.path == "/me"
    assert "Company Login is linked" in landed.text
    assert "Password Set" in way(landed.text, "password")
    assert "Company Login Linked" in way(landed.text, "company")
    assert removable(landed.text, "password") and removable(landed.text, "company")


def test_an_account_made_by_the_companys_app_shows_it(app, client):
    client.get("/sso", query_string={"token": signed_sign_on(email="sam@example.com", id="u-7")})
    page = client.get("/me").text
    assert "Through Stimme's app Linked" in way(page, "sso")
    assert "Managed by Stimme's app" in way(page, "sso")
    assert "the app can still sign you in by your email address" in way(page, "sso")
    assert ONLY_WAY in way(page, "sso") and not removable(page, "sso")
    assert "No password: set one with a reset link." in way(page, "password")


def test_a_link_to_a_provider_no_longer_set_up_is_shown_as_such_and_removable(
    app, client, make, auth
):
    me = make.user()
    gone = add_link(app, me, "retired-idp", "me-at-retired")
    auth.login(me)
    page = client.get("/me").text
    assert "retired-idp No longer set up" in way(page, f"gone-{gone}")
    assert removable(page, f"gone-{gone}")
    # It signs nobody in: the password is still the only way in.
    assert ONLY_WAY in way(page, "password")
    response = remove_link(client, gone)
    assert "retired-idp is no longer linked to your account." in flash_of(response)
    assert links(app) == []


# -- removing the password -------------------------------------------------------------------


def both_ways(app, client, make, auth, email="cara@example.com"):
    """A person with a password who has linked the company's provider, signed in."""
    person = make.user(email=email)
    auth.login(person)
    assert sign_in_with_provider(client, f"elsewhere-{email}").headers["Location"] == "/me"
    return person


def test_removing_the_password_works_when_a_provider_is_linked(app, client, make, auth, company):
    cara = both_ways(app, client, make, auth)
    elsewhere = app.test_client()
    elsewhere.post("/signin", data={"email": cara.email, "password": PASSWORD})
    assert elsewhere.get("/me").status_code == 200
    assert "Remove my password" in client.get("/me/password/remove").text
    wrong = client.post("/me/password/remove", data={"current_password": "not my password"})
    assert wrong.status_code == 422
    assert "That is not your current password." in wrong.text
    assert password_hash(app, cara.email) != NO_PASSWORD
    right = client.post("/me/password/remove", data={"current_password": PASSWORD})
    assert right.status_code == 303 and right.headers["Location"] == "/me#ways-in"
    assert password_hash(app, cara.email) == NO_PASSWORD
    page = client.get("/me")  # this session stays; the other one, as with a change, ends
    assert "Your password is removed, and your other sessions are signed out." in page.text
    assert elsewhere.get("/me").status_code != 200
    assert "Password Not set" in way(page.text, "password")
    assert ONLY_WAY in way(page.text, "company")  # now the last way in
    client.post("/signout")
    refused = client.post("/signin", data={"email": cara.email, "password": PASSWORD})
    assert refused.status_code == 422
    sign_in_with_provider(client, f"elsewhere-{cara.email}")
    assert cara.name in client.get("/me").text


def test_removing_the_only_way_in_is_refused_even_with_the_right_password(app, client, make, auth):
    pat = make.user(email="pat@example.com")
    auth.login(pat)
    page = client.get("/me/password/remove")
    assert ONLY_WAY in page.text and "Remove my password" not in page.text
    response = client.post("/me/password/remove", data={"current_password": PASSWORD})
    assert response.status_code == 303
    assert ONLY_WAY in flash_of(client.get(response.headers["Location"]))
    assert password_hash(app, pat.email) == pat.password_hash
    # Refused before the password is looked at: a wrong one is not even a guess here.
    wrong = client.post("/me/password/remove", data={"current_password": "wrong"})
    assert wrong.status_code == 303


def test_the_companys_app_counts_only_while_its_key_is_set(app, client, make, auth, monkeypatch):
    cara = make.user(email="cara@example.com")
    client.get("/sso", query_string={"token": signed_sign_on(email=cara.email, id="u-1")})
    page = client.get("/me").text
    assert removable(page, "password") and removable(page, "sso")
    monkeypatch.setitem(app.config, "SSO_JWT_SECRET", "")
    page = client.get("/me").text
    assert "This site no longer signs anyone in through Stimme's app" in way(page, "sso")
    assert ONLY_WAY in way(page, "password") and removable(page, "sso")
    monkeypatch.setitem(app.config, "SSO_JWT_SECRET", SSO_SECRET)
    response = client.post("/me/password/remove", data={"current_password": PASSWORD})
    assert response.status_code == 303
    assert password_hash(app, cara.email) == NO_PASSWORD
    page = client.get("/me").text
    assert ONLY_WAY in way(page, "sso")


def test_the_companys_app_does_not_stand_in_for_a_staff_password(app, client, make):
    mo = make.user(Role.MODERATOR, email="mo@example.com")
    client.get("/sso", query_string={"token": signed_sign_on(email=mo.email, id="u-2")})
    page = client.get("/me").text
    assert ONLY_WAY in way(page, "password")
    assert removable(page, "sso")  # it does not count for staff, so it takes nothing away
    response = client.post("/me/password/remove", data={"current_password": PASSWORD})
    assert response.status_code == 303
    assert password_hash(app, mo.email) == mo.password_hash


# -- removing a provider link ----------------------------------------------------------------


def test_removing_a_provider_works_while_the_password_remains(app, client, make, auth, company):
    cara = both_ways(app, client, make, auth)
    [link] = links(app, user_id=cara.id)
    response = remove_link(client, link.id, follow=False)
    assert response.status_code == 303 and response.headers["Location"] == "/me#ways-in"
    page = client.get("/me").text
    assert "Company Login is no longer linked to your account." in page
    assert "Company Login Not linked" in way(page, "company")
    assert links(app) == []
    # Now the password is the last way in.
    refused = client.post("/me/password/remove", data={"current_password": PASSWORD})
    assert refused.status_code == 303
    assert password_hash(app, cara.email) != NO_PASSWORD


def test_a_mode_without_passwords_makes_the_password_not_count(app, client, make, auth, company):
    cara = both_ways(app, client, make, auth)
    set_mode(app, "staff")  # customers sign in by single sign-on only
    page = client.get("/me").text
    assert 'id="passwords-off"' in page and 'href="/me/password"' not in page
    assert "Password Set, but off" in way(page, "password")
    assert ONLY_WAY in way(page, "company") and not removable(page, "company")
    [link] = links(app, user_id=cara.id)
    assert ONLY_WAY in flash_of(remove_link(client, link.id))
    assert links(app, user_id=cara.id)
    # The password that signs nobody in may go: that leaves the provider.
    assert removable(page, "password")
    assert (
        client.post("/me/password/remove", data={"current_password": PASSWORD}).status_code == 303
    )
    assert password_hash(app, cara.email) == NO_PASSWORD


def test_nobody_removes_another_persons_link(app, client, make, auth):
    owner = make.user(email="owner-of-link@example.com")
    theirs = add_link(app, owner, "sso", "their-id")
    auth.login(make.user(Role.ADMIN, email="admin@example.com"))
    assert remove_link(client, theirs, follow=False).status_code == 404
    assert remove_link(client, 999999, follow=False).status_code == 404
    assert [link.id for link in links(app)] == [theirs]
