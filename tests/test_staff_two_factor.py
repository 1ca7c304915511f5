"""Two-factor sign-in holds on every channel (issue 18, points 4 and 8): staff who must set
it up cannot act through API tokens either; secrets are stored encrypted under the server's
keys, which rotate; an admin's reset revokes the person's API tokens and needs the admin's
own password or code."""

import re

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from test_totp import (
    code,
    password_step,
    require_for_staff,
    reset_entries,
    session_count,
    signed_in,
    signed_in_with_code,
    stored_user,
    with_two_factor,
)

from conftest import PASSWORD, text_and_html
from portal.config import ConfigError, load_config
from portal.extensions import db
from portal.models import ApiToken, AuditEntry, Comment, Idea, Role, User
from portal.operations.tokens import create_token
from portal.operations.two_factor import enable_two_factor
from portal.totp_keys import unseal


def stored_secret(app, user) -> str:
    """The column as the database holds it, past the model."""
    with app.app_context():
        query = text('SELECT totp_secret FROM "user" WHERE id = :id')
        return db.session.execute(query, {"id": user.id}).scalar_one()


def comments_on(app, number) -> list[Comment]:
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        found = db.session.scalars(db.select(Comment).filter_by(idea_id=idea.id)).all()
        db.session.expunge_all()
        return found


def status_of(app, number) -> str:
    with app.app_context():
        return db.session.scalar(db.select(Idea.status).filter_by(number=number))


# -- point 4: a staff token without two-factor sign-in, where the site requires it ----------


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.OWNER, Role.ADMIN])
def test_a_staff_token_acts_on_nothing_until_two_factor_is_set_up(api, app, make, role):
    require_for_staff(app, make)
    board = make.board()
    number = make.idea(board, make.user())
    staff = make.user(role)
    token = api.token(staff)

    for method, path, body in [
        ("POST", f"/api/v1/ideas/{number}/comments", {"body": "Shipped.", "official": True}),
        ("POST", f"/api/v1/ideas/{number}/status", {"status": "planned", "response": "Soon"}),
        ("GET", "/api/v1/me", None),
        ("GET", "/api/v1/ideas", None),
    ]:
        refused = api.call(method, path, token, json=body)
        assert refused.status_code == 403, path
        error = refused.json["error"]
        assert error["code"] == "two_factor_required", path
        assert "set it up on your profile page" in error["message"]
        assert "http://localhost/me/two-factor" in error["message"]
    assert comments_on(app, number) == [] and status_of(app, number) == "open"
    # Public data still reads without a token.
    assert api.get(f"/api/v1/ideas/{number}").status_code == 200

    secret, _codes = with_two_factor(app, staff)  # as the setup page does
    assert api.get("/api/v1/me", token).json["role"] == staff.role.slug


def test_owners_answer_through_the_api_once_they_use_two_factor(api, app, make):
    require_for_staff(app, make)
    number = make.idea(make.board(), make.user())
    owner = make.user(Role.OWNER)
    with_two_factor(app, owner)
    token = api.token(owner)
    answered = api.post(f"/api/v1/ideas/{number}/comments", token,
                        json={"body": "Shipped in 2.4.", "official": True})  # fmt: skip
    assert answered.status_code == 201
    moved = api.post(f"/api/v1/ideas/{number}/status", token, json={"status": "planned"})
    assert moved.status_code == 200 and status_of(app, number) == "planned"
    (comment,) = comments_on(app, number)
    assert comment.is_official


def test_customers_and_staff_of_sites_without_the_rule_are_not_asked(api, app, make):
    number = make.idea(make.board(), make.user())
    owner = api.token(make.user(Role.OWNER))
    assert api.post(f"/api/v1/ideas/{number}/status", owner,
                    json={"status": "planned"}).status_code == 200  # fmt: skip
    require_for_staff(app, make)
    customer = api.token(make.user())
    assert api.put(f"/api/v1/ideas/{number}/vote", customer).status_code == 200
    assert api.get("/api/v1/me", customer).status_code == 200


def test_the_command_line_warns_that_a_staff_token_waits_for_two_factor(app, make):
    require_for_staff(app, make)
    moderator = make.user(Role.MODERATOR, email="mo@example.com")
    result = app.test_cli_runner().invoke(args=["create-token", "mo@example.com"])
    assert result.exit_code == 0, result.output
    assert "must set up two-factor sign-in before this token works" in result.output
    token = result.output.strip().splitlines()[-1]
    refused = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    with_two_factor(app, moderator)
    working = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert working.status_code == 200


# -- point 8a: secrets encrypted at rest, under keys that rotate -----------------------------


def test_the_stored_secret_is_never_the_secret_and_codes_still_sign_in(client, app, make, auth):
    user = make.user()
    auth.login(user)
    page = client.get("/me/two-factor")
    secret = re.search(r"<code data-secret>([A-Z2-7]{32})</code>", page.text).group(1)
    done = client.post("/me/two-factor", data={"secret": secret, "code": code(secret)})
    assert done.status_code == 200
    stored = stored_secret(app, user)
    assert stored != secret and secret not in stored and secret.lower() not in stored.lower()
    with app.app_context():
        assert unseal(stored) == secret
    auth.logout()

    password_step(client, user)
    assert client.post("/signin/code", data={"code": code(secret, 1)}).status_code == 303
    assert signed_in(client)
    # Two people with the same secret (say, one app entry scanned twice) store different text.
    other = make.user()
    with app.app_context():
        person = db.session.get(User, other.id)
        enable_two_factor(person, secret, code(secret, -1))
        db.session.commit()
    assert stored_secret(app, other) != stored


def test_rotation_keeps_codes_working_after_the_old_key_goes(app, make, monkeypatch):
    user = make.user()
    secret, _codes = with_two_factor(app, user)
    before = stored_secret(app, user)
    old_keys = list(app.config["TWO_FACTOR_KEYS"])
    new_key = Fernet.generate_key().decode()
    monkeypatch.setitem(app.config, "TWO_FACTOR_KEYS", [new_key, *old_keys])

    result = app.test_cli_runner().invoke(args=["rotate-two-factor-key"])
    assert result.exit_code == 0, result.output
    assert "Encrypted 1 two-factor secret(s) again with the first key." in result.output
    after = stored_secret(app, user)
    assert after != before and Fernet(new_key).decrypt(after.encode()).decode() == secret

    monkeypatch.setitem(app.config, "TWO_FACTOR_KEYS", [new_key])  # the old key is gone
    client = signed_in_with_code(app, user, secret)
    assert signed_in(client)


def test_a_wrong_key_gives_a_clear_error_and_changes_nothing(app, make, monkeypatch):
    user = make.user()
    secret, _codes = with_two_factor(app, user)
    before = stored_secret(app, user)
    monkeypatch.setitem(app.config, "TWO_FACTOR_KEYS", [Fernet.generate_key().decode()])

    client = app.test_client()
    password_step(client, user)
    answer = client.post("/signin/code", data={"code": code(secret)})
    assert answer.status_code == 503
    assert "Two-factor sign-in cannot be checked just now" in answer.text
    assert "key for it is wrong. Please tell the site" in answer.text
    assert not signed_in(client) and session_count(app, user) == 0

    result = app.test_cli_runner().invoke(args=["rotate-two-factor-key"])
    assert result.exit_code != 0
    assert "cannot be decrypted with TWO_FACTOR_KEYS" in result.output
    assert "nothing was changed" in result.output
    assert stored_secret(app, user) == before


def test_keys_come_from_the_environment_or_from_the_secret_key(tmp_path):
    given = Fernet.generate_key().decode()
    env = {"PORTAL_ENV": "production", "SECRET_KEY": "s" * 64}
    derived = load_config(str(tmp_path), env)["TWO_FACTOR_KEYS"]
    assert len(derived) == 1 and derived == load_config(str(tmp_path), env)["TWO_FACTOR_KEYS"]
    assert derived != load_config(str(tmp_path), {**env, "SECRET_KEY": "t" * 64})["TWO_FACTOR_KEYS"]
    # The derived key stays last, so secrets sealed before TWO_FACTOR_KEYS still open.
    keys = load_config(str(tmp_path), {**env, "TWO_FACTOR_KEYS": f" {given} ,"})["TWO_FACTOR_KEYS"]
    assert keys == [given, *derived]
    with pytest.raises(ConfigError, match="TWO_FACTOR_KEYS: key 2 is not a Fernet key"):
        load_config(str(tmp_path), {**env, "TWO_FACTOR_KEYS": f"{given},not-a-key"})


# -- point 8b: an admin's reset revokes tokens and needs the admin's own proof ---------------


def test_a_reset_revokes_the_persons_api_tokens(api, app, make, mailbox):
    admin = require_for_staff(app, make)
    moderator = make.user(Role.MODERATOR, name="Mona")
    with_two_factor(app, moderator)
    tokens = [api.token(moderator, "laptop"), api.token(moderator, "script")]
    bystander = api.token(make.user())
    assert api.get("/api/v1/me", tokens[0]).status_code == 200
    mailbox.receive()

    done = admin.post(f"/admin/users/{moderator.id}/two-factor/reset", data={"proof": PASSWORD})
    assert done.status_code == 303
    page = admin.get(done.headers["Location"]).text
    assert "Two-factor sign-in of Mona is off, their sessions are ended and their API tokens " \
           "revoked" in page  # fmt: skip
    for token in tokens:
        assert api.get("/api/v1/me", token).status_code == 401
    assert api.get("/api/v1/me", bystander).status_code == 200
    (entry,) = reset_entries(app)
    assert entry.after["tokens_revoked"] == 2
    (message,) = mailbox.receive()
    assert "Your API tokens were revoked as well" in text_and_html(message)[0]


def test_a_wrong_proof_changes_nothing_and_counts_as_a_wrong_code(api, app, make, mailbox):
    limit = int(app.config["RATE_LIMITS"].get("two_factor", "5 per 10 minutes").split()[0])
    admin_user = make.user(Role.ADMIN, name="Ada")
    admin_secret, _ = with_two_factor(app, admin_user)
    admin = signed_in_with_code(app, admin_user, admin_secret)
    person = make.user(name="Carl")
    secret, _ = with_two_factor(app, person)
    person_client = signed_in_with_code(app, person, secret)
    token = api.token(person)
    mailbox.receive()
    page = admin.get("/admin/users?q=carl").text
    assert f'for="reset-{person.id}-proof">A current code, or your password</label>' in page

    for proof in ["", "not my password", "000000"][: limit - 1]:
        wrong = admin.post(f"/admin/users/{person.id}/two-factor/reset", data={"proof": proof})
        assert wrong.status_code == 422
        assert "Enter a current code or your password." in wrong.text
        form = re.search(r'<details class="reset-two-factor" open>.*?</details>', wrong.text, re.S)
        assert form and f"/admin/users/{person.id}/two-factor/reset" in form.group(0)
        assert 'aria-invalid="true"' in form.group(0)
    assert stored_user(app, person).has_two_factor and signed_in(person_client)
    assert api.get("/api/v1/me", token).status_code == 200
    assert reset_entries(app) == [] and mailbox.receive() == []

    # Wrong proofs here and wrong codes elsewhere are one count for the admin's account.
    for _attempt in range(limit - 3):
        assert admin.post("/me/two-factor/disable", data={"proof": "guess"}).status_code == 422
    blocked = admin.post(f"/admin/users/{person.id}/two-factor/reset", data={"proof": PASSWORD})
    assert blocked.status_code == 429
    assert stored_user(app, person).has_two_factor and reset_entries(app) == []


def test_an_admin_confirms_with_a_current_code_once(app, make):
    admin_user = make.user(Role.ADMIN)
    admin_secret, _ = with_two_factor(app, admin_user)
    admin = signed_in_with_code(app, admin_user, admin_secret)
    first, second = make.user(name="Carl"), make.user(name="Cleo")
    with_two_factor(app, first)
    with_two_factor(app, second)
    used = code(admin_secret, 1)
    done = admin.post(f"/admin/users/{first.id}/two-factor/reset", data={"proof": used})
    assert done.status_code == 303 and not stored_user(app, first).has_two_factor
    replayed = admin.post(f"/admin/users/{second.id}/two-factor/reset", data={"proof": used})
    assert replayed.status_code == 422 and stored_user(app, second).has_two_factor


def test_an_admin_without_two_factor_confirms_with_the_password(client, app, make, auth):
    admin = make.user(Role.ADMIN)
    person = make.user(name="Carl")
    secret, _ = with_two_factor(app, person)
    auth.login(admin)
    page = client.get("/admin/users?q=carl").text
    assert f'for="reset-{person.id}-proof">Your password</label>' in page
    wrong = client.post(f"/admin/users/{person.id}/two-factor/reset",
                        data={"proof": code(secret)})  # fmt: skip
    assert wrong.status_code == 422 and "That is not your password." in wrong.text
    assert stored_user(app, person).has_two_factor
    done = client.post(f"/admin/users/{person.id}/two-factor/reset", data={"proof": PASSWORD})
    assert done.status_code == 303 and not stored_user(app, person).has_two_factor


def test_the_command_line_reset_needs_no_proof_and_revokes_tokens(app, make):
    person = make.user(email="carl@example.com")
    with_two_factor(app, person)
    with app.app_context():
        create_token(db.session.get(User, person.id), "script")
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["reset-two-factor", "carl@example.com"])
    assert result.exit_code == 0, result.output
    assert "0 session(s) ended, 1 API token(s) revoked" in result.output
    with app.app_context():
        revoked = db.session.scalars(db.select(ApiToken.revoked_at)).all()
        entry = db.session.scalar(db.select(AuditEntry).filter_by(action="user.reset_two_factor"))
        assert entry.after["tokens_revoked"] == 1
    assert all(moment is not None for moment in revoked)
