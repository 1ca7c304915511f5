"""Admins add OpenID Connect providers and make the signed sign-on's secret on /admin/sign-in
(SPEC section 12, issue 20 points 1, 2 and 5): secrets are kept sealed and never shown
again, every change is in the audit log without them, and a provider the sign-in mode
needs cannot be removed. Sign-ins go through the real provider on loopback."""

import pytest
from identity_provider import (
    CALLBACK,
    CLIENT_SECRET,
    local_part,
    sign_in_at_provider,
)
from test_openid_connect import person
from test_sign_in_modes import set_mode

from conftest import free_port
from conftest import signed_sign_on as token
from portal.extensions import db
from portal.models import AuditEntry, Role
from portal.models import IdentityProvider as StoredProvider

SIGN_IN_BUTTON = "Sign in with Company Login"


@pytest.fixture
def admin(make, auth):
    person = make.user(Role.ADMIN, email="admin@example.com", name="Ada Admin")
    auth.login(person)
    return person


def form_for(provider, **changes) -> dict:
    return {"name": "company", "label": "Company Login", "issuer": provider.issuer,
            "client_id": "stimme-portal", "client_secret": CLIENT_SECRET,
            "scopes": "openid email profile", **changes}  # fmt: skip


def audit_entries(app, action) -> list[AuditEntry]:
    with app.app_context():
        entries = db.session.scalars(db.select(AuditEntry).filter_by(action=action)).all()
        db.session.expunge_all()
        return entries


def stored_count(app) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(StoredProvider))


def test_an_added_provider_signs_people_in_and_its_secret_is_never_shown(
    app, client, admin, provider
):
    response = client.post("/admin/sign-in/providers", data=form_for(provider))
    assert response.status_code == 303
    page = client.get("/admin/sign-in").text
    assert "Company Login" in page and "/signin/oidc/company/callback" in page
    assert CLIENT_SECRET not in page
    assert CLIENT_SECRET not in client.get("/admin/sign-in/providers/company").text
    with app.app_context():
        row = db.session.scalar(db.select(StoredProvider))
        assert CLIENT_SECRET not in row.sealed_client_secret  # sealed at rest
    [entry] = audit_entries(app, "identity_provider.add")
    assert entry.after["issuer"] == provider.issuer
    assert CLIENT_SECRET not in str(entry.after)

    client.post("/signout")
    assert SIGN_IN_BUTTON in client.get("/signin").text
    start = client.get("/signin/oidc/company").headers["Location"]
    back = sign_in_at_provider(start, "ben@example.com", CALLBACK)
    assert client.get(local_part(back)).status_code == 303
    assert person(app, email="ben@example.com") is not None


def test_an_edit_without_a_secret_keeps_it_and_is_audited(app, client, admin, provider):
    client.post("/admin/sign-in/providers", data=form_for(provider))
    response = client.post(
        "/admin/sign-in/providers/company",
        data=form_for(provider, label="Acme Staff", client_secret=""),
    )
    assert response.status_code == 303
    [entry] = audit_entries(app, "identity_provider.edit")
    assert (entry.before["label"], entry.after["label"]) == ("Company Login", "Acme Staff")
    assert "client_secret" not in entry.after  # the secret was kept
    client.post("/signout")
    assert "Sign in with Acme Staff" in client.get("/signin").text
    back = sign_in_at_provider(
        client.get("/signin/oidc/company").headers["Location"], "ben@example.com", CALLBACK
    )
    assert client.get(local_part(back)).status_code == 303  # the kept secret still works


@pytest.mark.parametrize(
    "changes, field_error",
    [
        ({"name": "sso"}, "not “sso”"),
        ({"name": "Not A Name!"}, "Lower-case letters"),
        ({"issuer": "http://idp.example.com"}, "The issuer&#39;s https address"),
        ({"issuer": "javascript:alert(1)"}, "The issuer&#39;s https address"),
        ({"client_secret": ""}, "The client secret the provider gave this site."),
        ({"scopes": "email profile"}, "“openid” among them"),
        ({"label": ""}, "A name for the button"),
    ],
)
def test_a_wrong_provider_form_says_why_and_saves_nothing(
    app, client, admin, provider, changes, field_error
):
    response = client.post("/admin/sign-in/providers", data=form_for(provider, **changes))
    assert response.status_code == 422
    assert field_error in response.text
    assert CLIENT_SECRET not in response.text  # not even typed back
    assert stored_count(app) == 0


def test_a_name_the_environment_uses_cannot_be_added(app, client, admin, provider, monkeypatch):
    monkeypatch.setitem(app.config, "OIDC_PROVIDERS", {"company": provider.settings()})
    response = client.post("/admin/sign-in/providers", data=form_for(provider))
    assert response.status_code == 422
    assert "A provider with this name exists." in response.text
    page = client.get("/admin/sign-in").text
    assert "the environment" in page


def test_a_provider_that_does_not_answer_is_saved_with_a_warning(app, client, admin):
    issuer = f"http://127.0.0.1:{free_port()}"
    response = client.post(
        "/admin/sign-in/providers",
        data={"name": "sleepy", "label": "Sleepy", "issuer": issuer, "client_id": "x",
              "client_secret": "y", "scopes": "openid email"},
    )  # fmt: skip
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).text
    assert "signing in with it will not work yet: Sleepy does not answer just now" in page


def test_the_provider_the_mode_needs_cannot_be_removed(app, client, admin, provider):
    client.post("/admin/sign-in/providers", data=form_for(provider))
    set_mode(app, "customers")  # staff sign in only through the provider
    response = client.post("/admin/sign-in/providers/company/delete")
    assert "Staff cannot lose their passwords yet" in client.get(response.headers["Location"]).text
    assert stored_count(app) == 1
    set_mode(app, "everyone")
    client.post("/admin/sign-in/providers/company/delete")
    assert stored_count(app) == 0
    assert len(audit_entries(app, "identity_provider.remove")) == 1


def test_others_cannot_touch_providers(app, client, make, auth, provider):
    auth.login(make.user(Role.OWNER))
    assert client.post("/admin/sign-in/providers", data=form_for(provider)).status_code == 403
    assert client.get("/admin/sign-in").status_code == 403
    assert stored_count(app) == 0


def test_an_admin_makes_a_sign_on_secret_shown_once(app, client, admin, monkeypatch):
    monkeypatch.setitem(app.config, "SSO_JWT_SECRET", "")
    assert client.get("/sso", query_string={"token": token()}).status_code == 404
    page = client.post("/admin/sign-in/secret").text
    secret = page.split('id="sso-secret" type="text" value="')[1].split('"')[0]
    assert len(secret) >= 32
    assert secret not in client.get("/admin/sign-in").text  # shown once
    client.post("/signout")
    answer = client.get("/sso", query_string={"token": token(secret=secret)})
    assert answer.status_code == 303
    client.post("/signout")
    [entry] = audit_entries(app, "site.sign_on_secret")
    assert secret not in str(entry.after)


def test_a_new_secret_replaces_the_old_and_off_is_off(app, client, admin, monkeypatch):
    monkeypatch.setitem(app.config, "SSO_JWT_SECRET", "")
    first = client.post("/admin/sign-in/secret").text
    first = first.split('id="sso-secret" type="text" value="')[1].split('"')[0]
    client.post("/admin/sign-in/secret")
    refused = client.get("/sso", query_string={"token": token(secret=first)})
    assert refused.status_code == 400
    client.post("/admin/sign-in/secret/delete")
    assert client.get("/sso", query_string={"token": token(secret=first)}).status_code == 404


def test_the_environments_secret_is_changed_only_there(client, admin):
    response = client.post("/admin/sign-in/secret")
    assert response.status_code == 422
    assert "SSO_JWT_SECRET sets the secret: change it there." in response.text


def test_no_secret_reaches_the_logs(app, client, admin, provider, caplog, monkeypatch):
    """Everything logged, down to DEBUG (requests and Authlib included), while an admin saves
    a provider and makes a sign-on secret and people sign in with both."""
    monkeypatch.setitem(app.config, "SSO_JWT_SECRET", "")
    caplog.set_level("DEBUG")
    client.post("/admin/sign-in/providers", data=form_for(provider))
    page = client.post("/admin/sign-in/secret").text
    secret = page.split('id="sso-secret" type="text" value="')[1].split('"')[0]
    client.post("/signout")
    back = sign_in_at_provider(
        client.get("/signin/oidc/company").headers["Location"], "ben@example.com", CALLBACK
    )
    assert client.get(local_part(back)).status_code == 303
    client.post("/signout")
    assert client.get("/sso", query_string={"token": token(secret=secret)}).status_code == 303
    logged = caplog.text
    assert "POST /token" in logged  # the token exchange itself was logged (by urllib3)
    assert CLIENT_SECRET not in logged
    assert secret not in logged
