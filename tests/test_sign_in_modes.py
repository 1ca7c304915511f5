"""Sign-in modes (SPEC section 12, issue 20 point 3): admins turn password sign-in off for
customers, for staff or for both, and every path that takes a password follows: sign-in,
sign-up, reset, the password change on /me. Single sign-on keeps working in every mode,
the operator keeps `sign-in-link` and `create-user`, and the audit log records each change.

The suite's site has the signed sign-on on; staff need an OpenID Connect provider, which a
test provides by filling the hook `oidc_provider_names`.
"""

import re
from datetime import timedelta

import pytest
from test_totp import with_two_factor

from conftest import PASSWORD, signed_sign_on
from portal.extensions import db
from portal.models import AccountToken, AuditEntry, Role, User, utcnow
from portal.operations import sign_in_modes
from portal.settings import save_settings, site_settings

# Who may use a password in each mode: (customers, staff), written out here, not read from
# the code under test.
MODES = {
    "everyone": (True, True),
    "staff": (False, True),
    "customers": (True, False),
    "nobody": (False, False),
}
ROLES = {"customer": Role.CUSTOMER, "moderator": Role.MODERATOR, "admin": Role.ADMIN}
CASES = [(mode, role) for mode in MODES for role in ROLES]


def allowed(mode: str, role: str) -> bool:
    customers, staff = MODES[mode]
    return customers if role == "customer" else staff


def set_mode(app, mode: str) -> None:
    with app.app_context():
        save_settings({"password_sign_in": mode})
        db.session.commit()


def mode_now(app) -> str:
    with app.app_context():
        return site_settings()["password_sign_in"]


@pytest.fixture
def provider(monkeypatch):
    """An OpenID Connect provider is set up (what the OIDC sign-in will report)."""
    monkeypatch.setattr(sign_in_modes, "oidc_provider_names", lambda: ["acme"])


def signed_in(client) -> bool:
    return client.get("/me").status_code == 200


def error_of(page: str) -> str:
    found = re.search(r'class="(?:field-error|flash flash-error)"[^>]*>([^<]*)<', page)
    assert found, page
    return found.group(1)


# -- sign-in -------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "role"), CASES)
def test_sign_in_with_a_password_follows_the_mode(app, client, make, mode, role):
    person = make.user(ROLES[role])
    set_mode(app, mode)
    right = client.post("/signin", data={"email": person.email, "password": PASSWORD})
    if allowed(mode, role):
        assert right.status_code == 303
        assert signed_in(client)
        return
    assert right.status_code == 422
    assert not signed_in(client)
    wrong = client.post("/signin", data={"email": person.email, "password": "not it at all"})
    unknown = client.post("/signin", data={"email": "nobody@example.com", "password": PASSWORD})
    # The same answer whether the password was right, wrong, or the address unknown.
    assert wrong.status_code == unknown.status_code == 422
    assert error_of(right.text) == error_of(wrong.text) == error_of(unknown.text)
    assert "single sign-on" in error_of(right.text)
    assert not signed_in(client)


def test_sign_in_page_hides_the_password_form_when_nobody_may_use_it(app, client):
    assert 'name="password"' in client.get("/signin").text
    set_mode(app, "nobody")
    page = client.get("/signin").text
    assert 'name="password"' not in page
    assert 'id="passwords-off"' in page
    assert "/signup" not in page.split("<main", 1)[-1]


def test_sign_in_page_tells_customers_when_only_staff_use_passwords(app, client):
    assert 'id="sign-in-mode"' not in client.get("/signin").text
    set_mode(app, "staff")
    page = client.get("/signin").text
    assert 'id="sign-in-mode"' in page
    assert "Customers sign in by single sign-on" in page
    assert 'name="password"' in page  # staff still sign in here


# -- sign-up -------------------------------------------------------------------------------

NEWCOMER = {"email": "new@example.com", "name": "Newt Newcomer", "password": "a long passphrase"}


@pytest.mark.parametrize("mode", MODES)
def test_sign_up_is_closed_when_customers_may_not_use_passwords(app, client, mailbox, mode):
    set_mode(app, mode)
    page = client.get("/signup")
    response = client.post("/signup", data=NEWCOMER)
    with app.app_context():
        made = db.session.scalar(db.select(User).filter_by(email=NEWCOMER["email"]))
    sent = mailbox.receive()
    if MODES[mode][0]:
        assert page.status_code == 200 and 'name="password"' in page.text
        assert response.status_code == 303
        assert made is not None and len(sent) == 1
    else:
        assert page.status_code == 200 and 'id="signup-closed"' in page.text
        assert 'name="password"' not in page.text
        assert response.status_code == 403
        assert made is None and sent == []


def test_the_header_offers_sign_up_only_while_it_is_open(app, client, make):
    make.board("features")
    assert 'href="/signup"' in client.get("/b/features").text
    set_mode(app, "staff")
    assert 'href="/signup"' not in client.get("/b/features").text


# -- reset ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "role"), CASES)
def test_reset_sends_a_link_only_to_those_who_may_use_a_password(
    app, client, make, mailbox, mode, role
):
    person = make.user(ROLES[role])
    set_mode(app, mode)
    response = client.post("/reset", data={"email": person.email}, follow_redirects=True)
    unknown = client.post("/reset", data={"email": "nobody@example.com"}, follow_redirects=True)
    sent = mailbox.receive()
    assert response.status_code == unknown.status_code == 200
    assert "If that address has an account, a reset link is on its way." in response.text
    assert "If that address has an account, a reset link is on its way." in unknown.text
    if allowed(mode, role):
        assert [message["To"] for message in sent] == [person.email]
    else:
        assert sent == []
        with app.app_context():
            assert db.session.scalar(db.select(db.func.count(AccountToken.id))) == 0


def test_a_reset_link_mailed_before_passwords_went_off_sets_no_password(
    app, client, make, mailbox, provider
):
    person = make.user(Role.MODERATOR)
    client.post("/reset", data={"email": person.email})
    link = re.search(r"http://localhost(/reset/\S+)", mailbox.receive()[0].get_body(("plain",))
                     .get_content()).group(1)  # fmt: skip
    set_mode(app, "customers")
    assert client.get(link).status_code == 303
    answer = client.post(link, data={"password": "a brand new passphrase"})
    assert answer.status_code == 303 and "/reset" in answer.location
    assert not signed_in(client)
    with app.app_context():
        stored = db.session.get(User, person.id).password_hash
    assert stored == person.password_hash
    set_mode(app, "everyone")  # the link was not used up by the refusal
    assert client.post(link, data={"password": "a brand new passphrase"}).status_code == 303
    assert signed_in(client)


# -- /me -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "role"), CASES)
def test_me_offers_a_password_change_only_to_those_who_may_use_one(
    app, client, make, auth, mode, role
):
    person = make.user(ROLES[role])
    auth.login(person)  # signed in before the mode changed: the session stays
    set_mode(app, mode)
    profile = client.get("/me")
    assert profile.status_code == 200
    form = {"current_password": PASSWORD, "new_password": "another long passphrase"}
    change = client.post("/me/password", data=form)
    with app.app_context():
        changed = db.session.get(User, person.id).password_hash != person.password_hash
    if allowed(mode, role):
        assert 'href="/me/password"' in profile.text
        assert change.status_code == 303 and changed
    else:
        assert 'href="/me/password"' not in profile.text
        assert 'id="passwords-off"' in profile.text
        assert client.get("/me/password").status_code == 403
        assert change.status_code == 403 and not changed


# -- the admins' setting -------------------------------------------------------------------

SITE = {"site_name": "Acme Ideas", "accent": "#1f6feb", "guidelines": ""}


def test_an_admin_changes_the_mode_and_the_audit_log_records_it(app, client, make, auth):
    admin = make.user(Role.ADMIN)
    auth.login(admin)
    page = client.get("/admin/site").text
    assert 'name="password_sign_in" value="staff"' in page
    response = client.post("/admin/site", data={**SITE, "password_sign_in": "staff"})
    assert response.status_code == 303
    assert mode_now(app) == "staff"
    with app.app_context():
        entry = db.session.scalar(db.select(AuditEntry).filter_by(action="site.password_sign_in"))
        assert (entry.actor_id, entry.before, entry.after) == (
            admin.id,
            {"password_sign_in": "everyone"},
            {"password_sign_in": "staff"},
        )
    # Saving the other settings again neither changes the mode nor records it again.
    assert client.post("/admin/site", data=SITE).status_code == 303
    assert mode_now(app) == "staff"
    with app.app_context():
        assert (
            db.session.scalar(
                db.select(db.func.count(AuditEntry.id)).filter_by(action="site.password_sign_in")
            )
            == 1
        )


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.MODERATOR, Role.OWNER])
def test_only_admins_change_the_mode(app, client, make, auth, provider, role):
    auth.login(make.user(role))
    response = client.post("/admin/site", data={**SITE, "password_sign_in": "nobody"})
    assert response.status_code == 403
    assert mode_now(app) == "everyone"


def test_the_operation_refuses_anyone_but_an_admin(app, make, provider):
    from portal.operations import PermissionDenied
    from portal.operations.admin import save_site

    owner = make.user(Role.OWNER)
    with app.app_context(), pytest.raises(PermissionDenied):
        save_site(db.session.get(User, owner.id), {**SITE, "password_sign_in": "nobody"})
    assert mode_now(app) == "everyone"


@pytest.mark.parametrize("mode", ["customers", "nobody"])
def test_passwords_stay_on_for_staff_until_a_provider_lets_them_in(
    app, client, make, auth, monkeypatch, mode
):
    auth.login(make.user(Role.ADMIN))
    refused = client.post("/admin/site", data={**SITE, "password_sign_in": mode})
    assert refused.status_code == 422
    assert "no OpenID Connect provider" in refused.text
    assert mode_now(app) == "everyone"
    monkeypatch.setattr(sign_in_modes, "oidc_provider_names", lambda: ["acme"])
    assert client.post("/admin/site", data={**SITE, "password_sign_in": mode}).status_code == 303
    assert mode_now(app) == mode


def test_passwords_stay_on_for_customers_until_a_way_in_exists(app, client, make, auth):
    auth.login(make.user(Role.ADMIN))
    app.config["SSO_JWT_SECRET"], secret = "", app.config["SSO_JWT_SECRET"]
    try:
        refused = client.post("/admin/site", data={**SITE, "password_sign_in": "staff"})
        assert refused.status_code == 422
        assert "Customers cannot lose their passwords yet" in refused.text
        assert mode_now(app) == "everyone"
    finally:
        app.config["SSO_JWT_SECRET"] = secret
    assert client.post("/admin/site", data={**SITE, "password_sign_in": "staff"}).status_code == 303


def test_an_unknown_mode_is_refused(app, client, make, auth, provider):
    auth.login(make.user(Role.ADMIN))
    response = client.post("/admin/site", data={**SITE, "password_sign_in": "robots"})
    assert response.status_code == 422
    assert mode_now(app) == "everyone"


# -- the ways in that stay -----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_signed_sign_on_works_in_every_mode(app, client, make, mode):
    customer = make.user(Role.CUSTOMER)
    set_mode(app, mode)
    assert client.get("/sso", query_string={"token": signed_sign_on(email=customer.email)}
                      ).status_code == 303  # fmt: skip
    assert signed_in(client)
    newcomer = app.test_client()
    assert newcomer.get("/sso", query_string={"token": signed_sign_on(email="new@example.com")}
                        ).status_code == 303  # fmt: skip
    assert signed_in(newcomer)


def sign_in_link(app, email: str):
    result = app.test_cli_runner().invoke(args=["sign-in-link", email])
    return result, result.output.strip().splitlines()[-1]


def path_of(link: str) -> str:
    assert link.startswith("http://localhost/signin/link/"), link
    return link.removeprefix("http://localhost")


@pytest.mark.parametrize("mode", MODES)
def test_the_operators_sign_in_link_signs_in_once_in_every_mode(app, client, make, mode):
    admin = make.user(Role.ADMIN)
    set_mode(app, mode)
    result, link = sign_in_link(app, admin.email)
    assert result.exit_code == 0, result.output
    asked = client.get(path_of(link))
    assert asked.status_code == 200 and "Sign me in" in asked.text
    assert not signed_in(client)  # opening the link only asks
    assert client.post(path_of(link)).status_code == 303
    assert signed_in(client)
    client.post("/signout")
    assert client.get(path_of(link)).status_code == 404
    assert client.post(path_of(link)).status_code == 404
    assert not signed_in(client)
    with app.app_context():
        entry = db.session.scalar(db.select(AuditEntry).filter_by(action="user.sign_in_link"))
        assert (entry.actor_id, entry.target_id) == (None, admin.id)


def test_the_sign_in_link_expires_after_fifteen_minutes(app, client, make):
    person = make.user(Role.MODERATOR)
    _result, link = sign_in_link(app, person.email)
    with app.app_context():
        row = db.session.scalar(db.select(AccountToken).filter_by(purpose="signin"))
        lifetime = row.expires_at - row.created_at
        assert timedelta(minutes=14) < lifetime <= timedelta(minutes=15, seconds=1)
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert client.get(path_of(link)).status_code == 404
    assert client.post(path_of(link)).status_code == 404
    assert not signed_in(client)


def test_the_sign_in_link_still_asks_for_the_second_factor(app, client, make):
    person = make.user(Role.ADMIN)
    with_two_factor(app, person)
    set_mode(app, "nobody")
    _result, link = sign_in_link(app, person.email)
    answer = client.post(path_of(link))
    assert answer.status_code == 303 and answer.location.endswith("/signin/code")
    assert not signed_in(client)


def test_the_sign_in_link_is_stored_only_as_a_hash(app, make):
    person = make.user()
    _result, link = sign_in_link(app, person.email)
    token = link.rsplit("/", 1)[-1]
    with app.app_context():
        hashes = db.session.scalars(db.select(AccountToken.token_hash)).all()
    assert len(hashes) == 1 and token not in hashes[0]


def test_sign_in_link_for_an_unknown_address_fails(app):
    result = app.test_cli_runner().invoke(args=["sign-in-link", "nobody@example.com"])
    assert result.exit_code != 0
    assert "There is no account for nobody@example.com." in result.output


def test_create_user_works_with_passwords_off(app, client, provider):
    set_mode(app, "nobody")
    result = app.test_cli_runner().invoke(
        args=["create-user", "ops@example.com", "--name", "Ops", "--role", "admin",
              "--password", "a long passphrase"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    _result, link = sign_in_link(app, "ops@example.com")
    assert client.post(path_of(link)).status_code == 303
    assert signed_in(client)


def test_create_user_says_it_works_in_every_mode(app):
    help_text = app.test_cli_runner().invoke(args=["create-user", "--help"]).output
    assert "every sign-in mode" in help_text


def test_api_tokens_keep_working_with_passwords_off(app, make):
    person = make.user()
    with app.app_context():
        from portal.operations.tokens import create_token

        _row, token = create_token(db.session.get(User, person.id), "script")
        db.session.commit()
    set_mode(app, "nobody")
    client = app.test_client()
    answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert person.email in answer.text
