"""Two-factor sign-in with an authenticator app (RFC 6238): set up on the profile page, asked
for after the password, each code once, recovery codes, and required for staff by admins."""

import base64
import hashlib
import re
import time

import pytest

from conftest import PASSWORD, Auth, text_and_html
from portal import totp
from portal.extensions import db
from portal.models import AuditEntry, RecoveryCode, Role, User, UserSession
from portal.operations import PermissionDenied
from portal.operations.two_factor import enable_two_factor, reset_two_factor
from portal.totp_keys import unseal

WRONG_CODE = "That code is not right. Codes change every 30 seconds, and each works once."
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


def code(secret: str, steps_ahead: int = 0) -> str:
    return totp.code_at(secret, totp.current_step() + steps_ahead)


def with_two_factor(app, user) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on for user as the setup page does; returns the secret and
    the recovery codes."""
    secret = totp.new_secret()
    with app.app_context():
        person = db.session.get(User, user.id)
        codes = enable_two_factor(person, secret, totp.code_at(secret, totp.current_step() - 1))
        db.session.commit()
    return secret, codes


def password_step(client, user, **extra):
    return client.post("/signin", data={"email": user.email, "password": PASSWORD, **extra})


def signed_in(client) -> bool:
    return client.get("/me").status_code == 200


def session_count(app, user) -> int:
    with app.app_context():
        return db.session.scalar(
            db.select(db.func.count(UserSession.id)).filter_by(user_id=user.id)
        )


def stored_user(app, user) -> User:
    with app.app_context():
        person = db.session.get(User, user.id)
        db.session.expunge(person)
        return person


# -- the algorithm ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
     (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")],
)  # fmt: skip
def test_codes_match_the_rfc_6238_test_vectors(moment, expected):
    assert totp.code_at(RFC_SECRET, totp.current_step(moment), digits=8) == expected


def test_a_code_from_the_step_before_or_after_is_accepted_but_not_further():
    secret, now = totp.new_secret(), time.time()
    step = totp.current_step(now)
    for offset in (-1, 0, 1):
        assert (
            totp.matching_step(secret, totp.code_at(secret, step + offset), 0, now) == step + offset
        )
    for offset in (-3, 3):
        assert totp.matching_step(secret, totp.code_at(secret, step + offset), 0, now) is None
    spaced = " ".join(totp.code_at(secret, step)[i : i + 3] for i in (0, 3))
    assert totp.matching_step(secret, spaced, 0, now) == step
    assert totp.matching_step(secret, totp.code_at(secret, step), step, now) is None  # used
    assert totp.matching_step(secret, "12345", 0, now) is None


# -- setting it up ---------------------------------------------------------------------------


def test_setting_up_shows_a_qr_code_and_needs_a_right_code(client, app, make, auth):
    user = make.user(email="ada@example.com")
    auth.login(user)
    assert "Two-factor sign-in is off" in client.get("/me").text
    page = client.get("/me/two-factor")
    assert page.status_code == 200
    secret = re.search(r"<code data-secret>([A-Z2-7]{32})</code>", page.text).group(1)
    qr = re.search(r'<img src="(data:image/svg\+xml[^"]+)" alt="QR code', page.text)
    assert qr and "http" not in qr.group(1).split(",", 1)[0]  # nothing from another origin
    assert ">Code from the app</label>" in page.text
    assert client.get("/me/two-factor").text.count(secret) == 0  # a new secret each visit
    assert not stored_user(app, user).has_two_factor  # looking changes nothing

    wrong = client.post("/me/two-factor", data={"secret": secret, "code": "000000"})
    assert wrong.status_code == 422 and WRONG_CODE in wrong.text
    assert secret in wrong.text  # the same secret, so the app's entry still works
    assert not stored_user(app, user).has_two_factor

    done = client.post("/me/two-factor", data={"secret": secret, "code": code(secret)})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    shown = re.findall(r"<code>([a-z2-7]{4}(?:-[a-z2-7]{4}){3})</code>", done.text)
    assert len(set(shown)) == 10 and "shown only this once" in done.text
    stored = stored_user(app, user).totp_secret
    assert secret not in stored  # encrypted at rest (tests/test_staff_two_factor.py)
    with app.app_context():
        assert unseal(stored) == secret
    with app.app_context():
        hashes = set(db.session.scalars(db.select(RecoveryCode.code_hash)))
    assert hashes == {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in shown}
    assert "Two-factor sign-in is <strong>on</strong>" in client.get("/me").text


def test_a_forged_secret_is_refused(client, app, make, auth):
    user = make.user()
    auth.login(user)
    response = client.post("/me/two-factor", data={"secret": "not base32!", "code": "123456"})
    assert response.status_code == 303
    assert "That setup is not valid any more" in client.get(response.headers["Location"]).text
    assert not stored_user(app, user).has_two_factor


# -- signing in ------------------------------------------------------------------------------


def test_sign_in_asks_for_the_code_after_the_password(client, app, make):
    user = make.user(name="Grace")
    secret, _codes = with_two_factor(app, user)
    response = password_step(client, user, next="/notifications")
    assert response.status_code == 303 and response.headers["Location"] == "/signin/code"
    assert session_count(app, user) == 0 and not signed_in(client)  # no session yet

    page = client.get("/signin/code")
    assert ">Authentication code</label>" in page.text and ">Sign in</button>" in page.text
    wrong = client.post("/signin/code", data={"code": "000000"})
    assert wrong.status_code == 422 and WRONG_CODE in wrong.text
    assert session_count(app, user) == 0

    done = client.post("/signin/code", data={"code": code(secret)})
    assert done.status_code == 303 and done.headers["Location"] == "/notifications"
    assert "Welcome back, Grace." in client.get("/").text
    assert signed_in(client) and session_count(app, user) == 1
    assert client.get("/signin/code").headers["Location"] == "/signin"  # nothing pending


def test_a_code_works_only_once(app, make):
    user = make.user()
    secret, _codes = with_two_factor(app, user)
    first, thief = app.test_client(), app.test_client()
    password_step(first, user)
    password_step(thief, user)
    used = code(secret)
    assert first.post("/signin/code", data={"code": used}).status_code == 303
    replayed = thief.post("/signin/code", data={"code": used})
    assert replayed.status_code == 422 and WRONG_CODE in replayed.text
    assert not signed_in(thief)
    assert thief.post("/signin/code", data={"code": code(secret, 1)}).status_code == 303


def test_a_recovery_code_signs_in_once(app, make):
    user = make.user()
    _secret, codes = with_two_factor(app, user)
    client = app.test_client()
    password_step(client, user)
    typed = codes[0].upper().replace("-", " ")
    assert client.post("/signin/code", data={"code": typed}).status_code == 303
    assert "<strong>9</strong> unused recovery codes" in client.get("/me/two-factor").text

    again = app.test_client()
    password_step(again, user)
    assert again.post("/signin/code", data={"code": codes[0]}).status_code == 422


def test_a_pending_sign_in_expires(app, make):
    user = make.user()
    secret, _codes = with_two_factor(app, user)
    client = app.test_client()
    password_step(client, user)
    with client.session_transaction() as cookie_session:
        cookie_session["second_factor"] = {**cookie_session["second_factor"],
                                           "until": time.time() - 1}  # fmt: skip
    response = client.post("/signin/code", data={"code": code(secret)})
    assert response.status_code == 303 and response.headers["Location"] == "/signin"
    assert "Sign in again" in client.get("/signin").text
    assert not signed_in(client)


def test_wrong_codes_are_rate_limited_per_account(app, make):
    user, other = make.user(), make.user()
    secret, _ = with_two_factor(app, user)
    other_secret, _ = with_two_factor(app, other)
    limit = int(app.config["RATE_LIMITS"].get("two_factor", "5 per 10 minutes").split()[0])
    attacker = app.test_client()
    password_step(attacker, user)
    for _ in range(limit):
        assert attacker.post("/signin/code", data={"code": "000000"}).status_code == 422
    blocked = attacker.post("/signin/code", data={"code": code(secret)})
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    assert not signed_in(attacker)

    # From another address the same account is still limited; another account is not.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    password_step(elsewhere, user)
    assert elsewhere.post("/signin/code", data={"code": code(secret)}).status_code == 429
    someone = app.test_client()
    password_step(someone, other)
    assert someone.post("/signin/code", data={"code": code(other_secret)}).status_code == 303


def test_a_password_reset_still_asks_for_the_code(app, make, mailbox):
    user = make.user()
    secret, _codes = with_two_factor(app, user)
    client = app.test_client()
    client.post("/reset", data={"email": user.email})
    (message,) = mailbox.receive()
    link = re.search(r"http://localhost(/reset/[\w-]+)", message.get_body(("plain",)).get_content())
    response = client.post(link.group(1), data={"password": "a brand new passphrase"})
    assert response.status_code == 303 and response.headers["Location"] == "/signin/code"
    assert "Your password is changed." in client.get("/signin/code").text
    assert not signed_in(client) and session_count(app, user) == 0
    assert client.post("/signin/code", data={"code": code(secret)}).status_code == 303
    assert signed_in(client)


# -- turning it off and new recovery codes ---------------------------------------------------


def test_turning_it_off_needs_a_current_code_or_the_password(client, app, make, auth):
    user = make.user()
    secret, codes = with_two_factor(app, user)
    password_step(client, user)
    client.post("/signin/code", data={"code": code(secret)})
    page = client.get("/me/two-factor")
    assert ">A current code, or your password</label>" in page.text

    refused = client.post("/me/two-factor/disable", data={"proof": "a guess at it"})
    assert refused.status_code == 422 and "Enter a current code or your password." in refused.text
    assert stored_user(app, user).has_two_factor

    done = client.post("/me/two-factor/disable", data={"proof": PASSWORD})
    assert done.status_code == 303
    assert "Two-factor sign-in is off." in client.get("/me").text
    assert not stored_user(app, user).has_two_factor
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(RecoveryCode.id))) == 0
    Auth(app.test_client()).login(user)  # the password alone signs in again


def test_new_recovery_codes_replace_the_old_ones(client, app, make):
    user = make.user()
    secret, old_codes = with_two_factor(app, user)
    password_step(client, user)
    client.post("/signin/code", data={"code": code(secret)})
    response = client.post("/me/two-factor/recovery-codes", data={"proof": code(secret, 1)})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    new_codes = re.findall(r"<code>([a-z2-7-]{19})</code>", response.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    other = app.test_client()
    password_step(other, user)
    assert other.post("/signin/code", data={"code": old_codes[1]}).status_code == 422
    assert other.post("/signin/code", data={"code": new_codes[1]}).status_code == 303


def test_proof_guesses_are_rate_limited(client, app, make):
    user = make.user()
    secret, _ = with_two_factor(app, user)
    password_step(client, user)
    client.post("/signin/code", data={"code": code(secret)})
    limit = int(app.config["RATE_LIMITS"].get("two_factor", "5 per 10 minutes").split()[0])
    for _ in range(limit):
        assert client.post("/me/two-factor/disable", data={"proof": "guess"}).status_code == 422
    assert client.post("/me/two-factor/disable", data={"proof": PASSWORD}).status_code == 429
    assert stored_user(app, user).has_two_factor


# -- required for staff ----------------------------------------------------------------------


def require_for_staff(app, make, on: bool = True):
    """Turn the rule on (or off) as an admin with two-factor sign-in; returns that admin's
    signed-in client."""
    admin = make.user(Role.ADMIN)
    secret, _codes = with_two_factor(app, admin)
    client = app.test_client()
    password_step(client, admin)
    client.post("/signin/code", data={"code": code(secret)})
    form = client.get("/admin/site").text
    assert ">Require two-factor sign-in for staff</label>" in form
    data = {"site_name": "Stimme", "accent": "#1f6feb", "guidelines": ""}
    if on:
        data["require_staff_two_factor"] = "1"
    assert client.post("/admin/site", data=data).status_code == 303
    box = re.search(r'<input type="checkbox" id="require_staff_two_factor"[^>]*>',
                    client.get("/admin/site").text)  # fmt: skip
    assert ("checked" in box.group(0)) is on
    return client


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.OWNER, Role.ADMIN])
def test_staff_without_two_factor_must_set_it_up_first(client, app, make, auth, role):
    require_for_staff(app, make)
    make.board()
    auth.login(make.user(role))
    for path in ("/", "/b/features", "/me", "/moderation", "/admin/site"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"] == "/me/two-factor"
    htmx = client.get("/b/features", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/me/two-factor"
    page = client.get("/me/two-factor")
    assert "asks its staff to use two-factor sign-in" in page.text
    secret = re.search(r"<code data-secret>([A-Z2-7]{32})</code>", page.text).group(1)
    client.post("/me/two-factor", data={"secret": secret, "code": code(secret)})
    assert client.get("/b/features").status_code == 200


def test_customers_are_not_asked_and_staff_may_not_turn_it_off(client, app, make, auth):
    require_for_staff(app, make)
    make.board()
    auth.login(make.user())
    assert client.get("/b/features").status_code == 200
    auth.logout()

    moderator = make.user(Role.MODERATOR)
    secret, _ = with_two_factor(app, moderator)
    password_step(client, moderator)
    client.post("/signin/code", data={"code": code(secret)})
    refused = client.post("/me/two-factor/disable", data={"proof": PASSWORD})
    assert refused.status_code == 303
    assert "requires two-factor sign-in for its staff" in client.get("/me").text
    assert stored_user(app, moderator).has_two_factor


def test_staff_may_go_on_without_it_once_the_rule_is_off(client, app, make, auth):
    require_for_staff(app, make, on=False)
    make.board()
    auth.login(make.user(Role.MODERATOR))
    assert client.get("/b/features").status_code == 200


# -- an admin resets it for someone locked out -----------------------------------------------


def signed_in_with_code(app, user, secret):
    client = app.test_client()
    password_step(client, user)
    assert client.post("/signin/code", data={"code": code(secret)}).status_code == 303
    return client


def reset_entries(app) -> list[AuditEntry]:
    with app.app_context():
        entries = db.session.scalars(
            db.select(AuditEntry).filter_by(action="user.reset_two_factor")
        ).all()
        db.session.expunge_all()
        return entries


def test_an_admin_resets_it_for_someone_who_lost_app_and_codes(app, make, mailbox):
    admin = require_for_staff(app, make)
    moderator = make.user(Role.MODERATOR, name="Mona", locale="de")
    secret, _codes = with_two_factor(app, moderator)
    thief = signed_in_with_code(app, moderator, secret)
    mailbox.receive()
    page = admin.get("/admin/users?q=mona").text
    assert ">Reset two-factor sign-in of Mona</button>" in page

    done = admin.post(f"/admin/users/{moderator.id}/two-factor/reset", data={"proof": PASSWORD})
    assert done.status_code == 303
    assert "Two-factor sign-in of Mona is off" in admin.get(done.headers["Location"]).text
    assert not stored_user(app, moderator).has_two_factor and not signed_in(thief)
    assert session_count(app, moderator) == 0
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(RecoveryCode.id)).filter_by(
            user_id=moderator.id)) == 0  # fmt: skip

    (entry,) = reset_entries(app)
    assert (entry.target_type, entry.target_id) == ("user", moderator.id)
    assert entry.actor_id != moderator.id and entry.actor_id is not None
    assert entry.after == {"two_factor": False, "sessions_ended": 1, "tokens_revoked": 0}
    assert secret not in str(entry.before) + str(entry.after)

    (message,) = mailbox.receive()
    text, html = text_and_html(message)
    assert message["To"] == moderator.email
    assert message["Subject"] == "Die Zwei-Faktor-Anmeldung Ihres Kontos wurde ausgeschaltet"
    assert "Sie überall abgemeldet" in text and "als Erstes gebeten" in text
    link = "http://localhost/me/two-factor"
    assert link in text and f'href="{link}"' in html

    # The password alone signs in; as staff of this site, Mona sets it up before anything else.
    client = app.test_client()
    assert password_step(client, moderator).status_code == 303
    assert client.get("/moderation").headers["Location"] == "/me/two-factor"
    assert client.get("/me/two-factor").status_code == 200


def test_a_customer_is_told_to_set_it_up_again(client, app, make, auth, mailbox):
    admin = make.user(Role.ADMIN)
    customer = make.user(name="Carl")
    with_two_factor(app, customer)
    auth.login(admin)
    client.post(f"/admin/users/{customer.id}/two-factor/reset", data={"proof": PASSWORD})
    (message,) = mailbox.receive()
    text = text_and_html(message)[0]
    assert "set up two-factor sign-in again, with new recovery codes" in text
    Auth(app.test_client()).login(customer)  # the password alone signs in


def test_a_reset_is_refused_for_oneself_and_for_someone_without_it(client, app, make, auth):
    admin = make.user(Role.ADMIN, name="Ada")
    secret, _codes = with_two_factor(app, admin)
    customer = make.user(name="Carl")
    client = signed_in_with_code(app, admin, secret)
    page = client.get("/admin/users").text
    assert "Reset two-factor sign-in of Ada" not in page  # their own is on their profile
    assert "Reset two-factor sign-in of Carl" not in page  # Carl has none to reset

    own = client.post(f"/admin/users/{admin.id}/two-factor/reset", follow_redirects=True)
    assert "Turn off your own two-factor sign-in on your profile." in own.text
    none = client.post(f"/admin/users/{customer.id}/two-factor/reset", data={"proof": PASSWORD},
                       follow_redirects=True)  # fmt: skip
    assert "Carl does not use two-factor sign-in." in none.text
    assert stored_user(app, admin).has_two_factor and signed_in(client)
    assert client.post("/admin/users/999999/two-factor/reset").status_code == 404
    assert reset_entries(app) == []


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.MODERATOR, Role.OWNER])
def test_only_admins_may_reset_it(client, app, make, auth, role):
    target = make.user(name="Carl")
    with_two_factor(app, target)
    actor = make.user(role)
    auth.login(actor)
    assert client.post(f"/admin/users/{target.id}/two-factor/reset").status_code == 403
    with app.app_context(), app.test_request_context():
        with pytest.raises(PermissionDenied):
            reset_two_factor(db.session.get(User, actor.id), db.session.get(User, target.id))
        db.session.rollback()
    assert stored_user(app, target).has_two_factor and reset_entries(app) == []


def test_the_command_line_resets_it_for_the_only_admin(app, make, mailbox):
    admin = make.user(Role.ADMIN, name="Ada", email="ada@example.com")
    secret, _codes = with_two_factor(app, admin)
    signed_in_with_code(app, admin, secret)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["reset-two-factor", "Ada@Example.com"])
    assert result.exit_code == 0, result.output
    said = "Two-factor sign-in of ada@example.com (Administrator) is off; 1 session(s) ended"
    assert said in result.output
    assert not stored_user(app, admin).has_two_factor and session_count(app, admin) == 0
    (entry,) = reset_entries(app)
    assert entry.actor_id is None and entry.after["by"] == "command line"
    (message,) = mailbox.receive()
    assert message["To"] == admin.email and "http://localhost/me/two-factor" in message.as_string()
    Auth(app.test_client()).login(admin)

    again = runner.invoke(args=["reset-two-factor", "ada@example.com"])
    assert again.exit_code != 0 and "Ada does not use two-factor sign-in." in again.output
    unknown = runner.invoke(args=["reset-two-factor", "nobody@example.com"])
    assert unknown.exit_code != 0 and "no account for nobody@example.com." in unknown.output
