"""Accounts: sign-up with a confirmation mail, sign-in and -out, password reset, throttling.

Mail goes through a real SMTP server on loopback, the way the worker sends it in production.
"""

import hashlib
import re
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from conftest import PASSWORD, Auth, text_and_html
from portal.extensions import db
from portal.models import AccountToken, OutboxMessage, User, utcnow
from portal.worker import drain

CHECK_EMAIL = "Check your email: we sent you a link to confirm your address."
NO_MATCH = "That email and password do not match an account."
RESET_SENT = "If that address has an account, a reset link is on its way."
LINK_USED = "This link has expired or was already used. Ask for a new one."
NEW_PASSWORD = "a brand new passphrase"


def link_in(message, path: str) -> str:
    """The site-relative link starting with path, found in both parts of the mail."""
    text, html = text_and_html(message)
    found = re.search(rf"http://localhost({re.escape(path)}[\w-]*)", text)
    assert found, text
    assert found.group(0) in html
    return found.group(1)


def get_user(app, email) -> User | None:
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=email))
        if user is not None:
            db.session.expunge(user)
        return user


def signed_in(client) -> bool:
    return client.get("/me").status_code == 200


def test_sign_up_page_has_labelled_fields(client):
    page = client.get("/signup")
    assert page.status_code == 200
    for label in ("Email", "Display name", "Password"):
        assert f">{label}</label>" in page.text
    assert ">Sign up</button>" in page.text


def test_sign_up_mails_a_link_that_confirms_the_address_once(client, app, mailbox):
    response = client.post(
        "/signup",
        data={"email": "Ada@Example.com", "name": "  Ada   Lovelace ", "password": PASSWORD},
    )
    assert response.status_code == 303
    assert CHECK_EMAIL in client.get(response.headers["Location"]).text
    user = get_user(app, "ada@example.com")
    assert user.name == "Ada Lovelace"
    assert user.email_verified_at is None

    (message,) = mailbox.receive()
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Confirm your email address"
    assert "Hello Ada Lovelace" in text_and_html(message)[0]
    link = link_in(message, "/verify/")

    # Opening the link only asks (mail scanners open links too); the button confirms.
    for _ in range(2):
        page = client.get(link)
        assert page.status_code == 200 and ">Confirm my email address</button>" in page.text
        assert f'action="{link}"' in page.text
    assert get_user(app, "ada@example.com").email_verified_at is None

    confirmed = client.post(link, follow_redirects=True)
    assert "Thanks, Ada Lovelace: your email address is confirmed." in confirmed.text
    assert get_user(app, "ada@example.com").email_verified_at is not None

    used = client.get(link)
    assert used.status_code == 404 and LINK_USED in used.text
    again = client.post(link, follow_redirects=True)
    assert LINK_USED in again.text


def test_an_expired_confirmation_link_is_refused(client, app, mailbox):
    client.post("/signup", data={"email": "late@example.com", "name": "Late", "password": PASSWORD})
    link = link_in(mailbox.receive()[0], "/verify/")
    with app.app_context():
        token = db.session.scalar(db.select(AccountToken).filter_by(purpose="verify"))
        token.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    assert client.get(link).status_code == 404
    refused = client.post(link, follow_redirects=True)
    assert LINK_USED in refused.text
    assert get_user(app, "late@example.com").email_verified_at is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not an address"}, "Enter a valid email address."),
        ({"name": "   "}, "Your name needs 1 to 80 characters."),
        ({"password": "short"}, "Use at least 10 characters."),
    ],
)
def test_sign_up_errors_are_shown_next_to_the_field(client, app, fields, message):
    data = {"email": "new@example.com", "name": "Newcomer", "password": PASSWORD, **fields}
    response = client.post("/signup", data=data)
    assert response.status_code == 422
    (field,) = fields
    assert re.search(rf'id="{field}-error">{re.escape(message)}</p>', response.text)
    if field != "password":
        assert f'value="{data[field]}"' in response.text  # what was typed stays
    assert f'value="{data["password"]}"' not in response.text  # a password is never echoed
    assert get_user(app, "new@example.com") is None


def test_sign_up_with_a_registered_email_looks_the_same_and_mails_the_owner(app, make, mailbox):
    owner = make.user(email="taken@example.com", name="Original Owner")
    answers = {}
    for email in ("fresh@example.com", "taken@example.com"):
        client = app.test_client()
        response = client.post(
            "/signup", data={"email": email, "name": "Impostor", "password": "other password"}
        )
        page = client.get(response.headers["Location"]).text
        answers[email] = (response.status_code, response.headers["Location"])
        assert CHECK_EMAIL in page
        assert not signed_in(client)  # neither answer reveals whether the account exists
    assert answers["fresh@example.com"] == answers["taken@example.com"]

    mails = {message["To"]: message for message in mailbox.receive()}
    assert mails["fresh@example.com"]["Subject"] == "Confirm your email address"
    notice = mails["taken@example.com"]
    assert notice["Subject"] == "You already have an account"
    assert "Hello Original Owner" in text_and_html(notice)[0]
    assert link_in(notice, "/reset")

    kept = get_user(app, "taken@example.com")
    assert (kept.id, kept.name) == (owner.id, "Original Owner")
    Auth(app.test_client()).login(owner)  # the owner's password still works


def test_sign_in_and_sign_out(client, make, auth):
    user = make.user(name="Grace Hopper")
    page = client.get("/signin")
    assert page.status_code == 200
    for label in ("Email", "Password", "Remember me"):
        assert f">{label}</label>" in page.text
    assert ">Sign in</button>" in page.text

    response = auth.login(user)
    assert response.headers["Location"] == "/"
    home = client.get("/").text
    assert "Welcome back, Grace Hopper." in home and "Sign out" in home
    assert client.get_cookie("remember_token") is None

    signout = auth.logout()
    assert signout.status_code == 303
    assert "You are signed out." in client.get("/").text
    me = client.get("/me")
    assert me.status_code == 303 and "/signin" in me.headers["Location"]


@pytest.mark.parametrize(
    ("email", "password"),
    [("person1@example.com", "wrong password"), ("nobody@example.com", PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_a_failed_sign_in_does_not_say_which_part_was_wrong(client, make, email, password):
    make.user()  # person1@example.com
    response = client.post("/signin", data={"email": email, "password": password})
    assert response.status_code == 422
    assert NO_MATCH in response.text
    assert f'value="{email}"' in response.text
    assert not signed_in(client)


def restart_browser(client, app) -> None:
    """A browser that restarts forgets the cookies that have no expiry date."""
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    if cookie is not None and cookie.expires is None:
        client.delete_cookie(name)


def test_without_remember_me_a_restarted_browser_is_signed_out(app, make):
    client = app.test_client()
    Auth(client).login(make.user())
    assert client.get_cookie(app.config["SESSION_COOKIE_NAME"]).expires is None
    restart_browser(client, app)
    assert not signed_in(client)


def test_remember_me_makes_the_session_cookie_last(app, make):
    user = make.user()
    client = app.test_client()
    client.post("/signin", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie.http_only and cookie.same_site == "Lax"
    assert utcnow() + timedelta(days=13) < cookie.expires < utcnow() + timedelta(days=15)
    assert client.get_cookie("remember_token") is None  # no second cookie to outlive it

    restart_browser(client, app)
    assert signed_in(client)


def test_password_reset_by_emailed_link(app, make, mailbox):
    user = make.user(email="grace@example.com", name="Grace")
    elsewhere = app.test_client()
    Auth(elsewhere).login(user)
    assert signed_in(elsewhere)

    client = app.test_client()
    page = client.get("/reset")
    assert ">Email</label>" in page.text and "Send reset link" in page.text
    response = client.post("/reset", data={"email": "Grace@example.com"})
    assert response.status_code == 303 and response.headers["Location"] == "/signin"
    assert RESET_SENT in client.get("/signin").text

    (message,) = mailbox.receive()
    assert message["To"] == "grace@example.com"
    assert message["Subject"] == "Reset your password"
    link = link_in(message, "/reset/")
    form = client.get(link)
    assert form.status_code == 200 and ">New password</label>" in form.text

    too_short = client.post(link, data={"password": "short"})
    assert too_short.status_code == 422
    assert "Use at least 10 characters." in too_short.text

    done = client.post(link, data={"password": NEW_PASSWORD})
    assert done.status_code == 303
    assert "Your password is changed and you are signed in." in client.get("/").text
    assert signed_in(client)

    # The session on the other computer ended with the reset.
    assert not signed_in(elsewhere)
    old = app.test_client().post("/signin", data={"email": user.email, "password": PASSWORD})
    assert old.status_code == 422
    new = app.test_client().post("/signin", data={"email": user.email, "password": NEW_PASSWORD})
    assert new.status_code == 303

    again = app.test_client()
    reused = again.post(link, data={"password": "yet another passphrase"})
    assert reused.status_code == 303 and reused.headers["Location"] == "/reset"
    assert LINK_USED in again.get("/reset").text
    opened = again.get(link)
    assert opened.status_code == 303 and opened.headers["Location"] == "/reset"


def test_password_reset_for_an_unknown_email_gives_the_same_answer(client, app, mailbox):
    response = client.post("/reset", data={"email": "nobody@example.com"})
    assert response.status_code == 303 and response.headers["Location"] == "/signin"
    assert RESET_SENT in client.get("/signin").text
    assert mailbox.receive() == []
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == 0


def test_an_expired_reset_link_is_refused(client, app, make, mailbox):
    user = make.user()
    client.post("/reset", data={"email": user.email})
    link = link_in(mailbox.receive()[0], "/reset/")
    with app.app_context():
        token = db.session.scalar(db.select(AccountToken).filter_by(purpose="reset"))
        token.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    refused = client.post(link, data={"password": NEW_PASSWORD})
    assert refused.status_code == 303 and refused.headers["Location"] == "/reset"
    assert LINK_USED in client.get("/reset").text
    assert (
        app.test_client()
        .post("/signin", data={"email": user.email, "password": PASSWORD})
        .status_code
        == 303
    )


def test_link_tokens_are_random_and_only_their_hash_is_stored(app, make, mailbox):
    user = make.user()
    for _ in range(2):
        app.test_client().post("/reset", data={"email": user.email})
    tokens = [link_in(message, "/reset/").rsplit("/", 1)[1] for message in mailbox.receive()]
    assert tokens[0] != tokens[1] and all(len(token) >= 40 for token in tokens)
    with app.app_context():
        stored = db.session.scalars(db.select(AccountToken.token_hash)).all()
    assert sorted(stored) == sorted(hashlib.sha256(t.encode()).hexdigest() for t in tokens)
    # Each link works on its own, once.
    for token in tokens:
        assert (
            app.test_client().post(f"/reset/{token}", data={"password": NEW_PASSWORD}).status_code
            == 303
        )
        assert app.test_client().get(f"/reset/{token}").headers["Location"] == "/reset"


def visible(response, email: str) -> tuple:
    """What the asker sees of an answer: status, redirect, body and cookies, less the email
    they typed, the page's nonce and the cookies' values."""
    body = re.sub(r"nonce[-=]\"?[\w-]+", "nonce", response.text.replace(email, "EMAIL"))
    cookies = sorted(
        (header.split("=", 1)[0], header.split(";", 1)[-1])
        for header in response.headers.getlist("Set-Cookie")
    )
    return response.status_code, response.headers.get("Location"), body, cookies


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/signin", {"password": "not the password"}),
        ("/signup", {"name": "Someone New", "password": PASSWORD}),
        ("/reset", {}),
    ],
)
def test_known_and_unknown_addresses_get_the_same_answer(app, make, path, fields):
    """No account enumeration: the answer, and the page it leads to, are the same; the time
    each takes is measured by bench/accounts.py."""
    make.user(email="known@example.com")
    answers = []
    for email in ("known@example.com", "unknown@example.com"):
        client = app.test_client()
        response = client.post(path, data={"email": email, **fields})
        assert response.status_code in (303, 422)
        next_page = (
            client.get(response.headers["Location"]) if response.status_code == 303 else None
        )
        answers.append((visible(response, email), next_page and visible(next_page, email)))
    assert answers[0] == answers[1]
    assert not signed_in(client)


def test_sign_in_is_throttled(client, app, make):
    user = make.user()
    limit = int(app.config["RATE_LIMITS"]["signin"].split()[0])
    for _ in range(limit):
        attempt = client.post("/signin", data={"email": user.email, "password": "guess guess"})
        assert attempt.status_code == 422
    throttled = client.post("/signin", data={"email": user.email, "password": PASSWORD})
    assert throttled.status_code == 429
    assert "Slow down" in throttled.text
    assert not signed_in(client)


def test_file_mailer_writes_eml_files(client, app, tmp_path):
    folder = tmp_path / "mail"
    previous = app.config["MAIL_URL"]
    app.config["MAIL_URL"] = f"file://{folder}"
    try:
        client.post(
            "/signup", data={"email": "eml@example.com", "name": "Eml", "password": PASSWORD}
        )
        with app.app_context():
            assert drain() == (1, 0)
    finally:
        app.config["MAIL_URL"] = previous
    (written,) = Path(folder).glob("*.eml")
    message = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert message["To"] == "eml@example.com"
    assert link_in(message, "/verify/")


def test_a_site_stores_passwords_with_scrypt_and_signs_in_with_them(app, client, monkeypatch):
    """The suite hashes cheaply (conftest's CHEAP_HASH); a site as configured does not."""
    from portal.config import load_config

    method = load_config(app.instance_path, {"PORTAL_ENV": "development"})["PASSWORD_HASH_METHOD"]
    monkeypatch.setitem(app.config, "PASSWORD_HASH_METHOD", method)
    form = {"email": "sam@example.com", "name": "Sam", "password": "a long passphrase"}
    assert client.post("/signup", data=form).status_code == 303
    with app.app_context():
        stored = db.session.scalar(db.select(User.password_hash).filter_by(email=form["email"]))
    assert stored.startswith("scrypt:")
    client.post("/signout")
    signed_in = client.post("/signin", data={"email": form["email"], "password": form["password"]})
    assert signed_in.status_code == 303
    wrong = client.post("/signin", data={"email": "nobody@example.com", "password": "whatever"})
    assert wrong.status_code == 422  # the unknown address is checked against scrypt too
