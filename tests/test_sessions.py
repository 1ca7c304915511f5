"""Sessions live on the server: a row per sign-in behind a random token in the cookie, ended
by signing out, by a password change or reset, by the person from another browser, and by
idle and absolute timeouts; loading one costs one query (issue 8, point 4)."""

import hashlib
import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from flask_login.utils import encode_cookie
from sqlalchemy import event

from conftest import PASSWORD, Auth
from portal.extensions import db
from portal.models import UserSession, utcnow

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
NEW_PASSWORD = "a brand new passphrase"


def browser(app, user=None, user_agent=FIREFOX, remember=False):
    """A test client with its own cookies, signed in as user through the form if given."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    if user is not None:
        data = {"email": user.email, "password": PASSWORD}
        if remember:
            data["remember"] = "y"
        assert client.post("/signin", data=data).status_code == 303
    return client


def signed_in(client) -> bool:
    return client.get("/me").status_code == 200


def session_token(app, client) -> str | None:
    """The session token that the signed cookie carries (what flask-login calls the id)."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    if cookie is None:
        return None
    data = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    return data.get("_user_id")


def rows(app, user=None) -> list[UserSession]:
    with app.app_context():
        query = db.select(UserSession).order_by(UserSession.id)
        if user is not None:
            query = query.filter_by(user_id=user.id)
        found = db.session.scalars(query).all()
        db.session.expunge_all()
        return found


def age_sessions(app, user, **changes) -> None:
    """Move the user's sessions back in time: last_seen_ago and created_ago are timedeltas."""
    with app.app_context():
        for row in db.session.scalars(db.select(UserSession).filter_by(user_id=user.id)):
            if "last_seen_ago" in changes:
                row.last_seen_at = utcnow() - changes["last_seen_ago"]
            if "created_ago" in changes:
                row.created_at = utcnow() - changes["created_ago"]
        db.session.commit()


@contextmanager
def statements(app):
    seen = []
    with app.app_context():
        engine = db.engine

    def record(_conn, _cursor, statement, *_args):
        if not statement.startswith(("BEGIN", "PRAGMA", "COMMIT", "ROLLBACK")):
            seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


# -- the cookie and the row ----------------------------------------------------------------


def test_sign_in_makes_a_row_whose_hash_only_the_cookie_can_match(app, make):
    user = make.user()
    client = browser(app, user)
    token = session_token(app, client)
    (row,) = rows(app, user)
    assert len(token) >= 40 and str(user.id) != token
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (row.device, row.ip_address, row.remember) == ("Firefox on Linux", "127.0.0.1", False)
    assert token not in repr(vars(row))


def test_each_sign_in_gets_a_new_session_and_ends_the_one_before(app, make):
    user = make.user()
    client = browser(app, user)
    first = session_token(app, client)
    planted = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    Auth(client).login(user)
    second = session_token(app, client)
    assert second != first
    assert len(rows(app, user)) == 1  # the earlier session ended with the new sign-in

    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], planted)
    assert not signed_in(replay)


def test_a_cookie_from_before_sign_in_is_not_signed_in_afterwards(app, make):
    """No fixation: the visitor's cookie, copied before they sign in, stays a visitor's."""
    user = make.user()
    client = app.test_client()
    with client.session_transaction() as cookie_session:
        cookie_session["csrf_token"] = "planted by someone else"
    before = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    Auth(client).login(user)
    assert client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value != before
    planted = app.test_client()
    planted.set_cookie(app.config["SESSION_COOKIE_NAME"], before)
    assert not signed_in(planted)


def test_sign_out_deletes_the_row_so_a_replayed_cookie_is_refused(app, make):
    user = make.user()
    client = browser(app, user)
    stolen = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert Auth(client).logout().status_code == 303
    assert rows(app, user) == []
    assert client.get_cookie(app.config["SESSION_COOKIE_NAME"]) is None or not signed_in(client)

    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], stolen)
    me = replay.get("/me")
    assert me.status_code == 303 and "/signin" in me.headers["Location"]


def test_visitors_get_no_session_and_no_cookie(app, make):
    make.idea(make.board(), make.user())
    client = app.test_client()
    for path in ("/", "/b/features", "/signin", "/signup", "/reset"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers, path
    assert rows(app) == []


# -- ending sessions -----------------------------------------------------------------------


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, make):
    user = make.user()
    here, laptop, phone = browser(app, user), browser(app, user), browser(app, user, SAFARI)
    other_person = browser(app, make.user())
    page = here.get("/me/password")
    for label in ("Current password", "New password"):
        assert f">{label}</label>" in page.text

    wrong = here.post("/me/password", data={"current_password": "not it at all",
                                            "new_password": NEW_PASSWORD})  # fmt: skip
    assert wrong.status_code == 422 and "That is not your current password." in wrong.text
    short = here.post("/me/password", data={"current_password": PASSWORD, "new_password": "x"})
    assert short.status_code == 422 and "Use at least 10 characters." in short.text
    assert signed_in(laptop) and signed_in(phone)

    done = here.post("/me/password", data={"current_password": PASSWORD,
                                           "new_password": NEW_PASSWORD})  # fmt: skip
    assert done.status_code == 303
    assert "your other sessions are signed out" in here.get(done.headers["Location"]).text
    assert signed_in(here) and signed_in(other_person)
    assert not signed_in(laptop) and not signed_in(phone)
    assert len(rows(app, user)) == 1
    assert (
        browser(app)
        .post("/signin", data={"email": user.email, "password": NEW_PASSWORD})
        .status_code
        == 303
    )


def test_the_profile_lists_sessions_and_signs_one_out(app, make):
    user = make.user()
    phone = browser(app, user, SAFARI)
    here = browser(app, user)
    page = here.get("/me").text
    assert "Where you are signed in" in page
    assert "Firefox on Linux" in page and "Safari on iOS" in page
    assert page.count("This browser") == 1
    assert "last seen just now" in page

    phone_row = next(row for row in rows(app, user) if row.device == "Safari on iOS")
    ended = here.post(f"/me/sessions/{phone_row.id}/end")
    assert ended.status_code == 303
    assert "Safari on iOS is signed out." in here.get("/me").text
    assert not signed_in(phone) and signed_in(here)


def test_nobody_can_end_another_persons_session(app, make):
    victim, attacker = make.user(), make.user()
    victims_browser = browser(app, victim)
    (row,) = rows(app, victim)
    client = browser(app, attacker)
    for number in (row.id, 2**31, 2**63):
        assert client.post(f"/me/sessions/{number}/end").status_code == 404
    assert signed_in(victims_browser)
    anonymous = app.test_client().post(f"/me/sessions/{row.id}/end")
    assert anonymous.status_code == 303 and "/signin" in anonymous.headers["Location"]
    assert signed_in(victims_browser)


def test_signing_out_this_browser_from_the_list_signs_out(app, make):
    user = make.user()
    client = browser(app, user)
    (row,) = rows(app, user)
    response = client.post(f"/me/sessions/{row.id}/end")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert "You are signed out." in client.get("/").text
    assert rows(app, user) == []


def test_sign_out_everywhere_else_keeps_only_this_browser(app, make):
    user = make.user()
    remembered = browser(app, user, remember=True)
    others = [browser(app, user, SAFARI) for _ in range(2)]
    here = browser(app, user)
    response = here.post("/me/sessions/end-others")
    assert response.status_code == 303
    assert "You are signed out everywhere else." in here.get("/me").text
    assert signed_in(here)
    assert not any(signed_in(client) for client in [remembered, *others])
    assert "Sign out everywhere else" not in here.get("/me").text  # nothing else is left


def test_a_password_reset_ends_every_session(app, make, mailbox):
    user = make.user()
    remembered, plain = browser(app, user, remember=True), browser(app, user)
    client = app.test_client()
    client.post("/reset", data={"email": user.email})
    (message,) = mailbox.receive()
    link = re.search(r"http://localhost(/reset/[\w-]+)", message.get_body(("plain",)).get_content())
    assert client.post(link.group(1), data={"password": NEW_PASSWORD}).status_code == 303
    assert signed_in(client)
    assert not signed_in(remembered) and not signed_in(plain)
    assert len(rows(app, user)) == 1


# -- timeouts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remember", "idle", "still_signed_in"),
    [
        (False, timedelta(hours=23), True),
        (False, timedelta(hours=25), False),
        (True, timedelta(days=13), True),
        (True, timedelta(days=15), False),
    ],
    ids=["browser-23h", "browser-25h", "remembered-13d", "remembered-15d"],
)
def test_an_idle_session_ends(app, make, remember, idle, still_signed_in):
    assert app.config["SESSION_IDLE_TIMEOUT"] == timedelta(hours=24)
    assert app.config["SESSION_REMEMBER_TIMEOUT"] == timedelta(days=14)
    user = make.user()
    client = browser(app, user, remember=remember)
    age_sessions(app, user, last_seen_ago=idle)
    assert signed_in(client) is still_signed_in


def test_no_session_outlives_the_absolute_timeout(app, make):
    assert app.config["SESSION_MAX_AGE"] == timedelta(days=30)
    user = make.user()
    client = browser(app, user, remember=True)
    age_sessions(app, user, created_ago=timedelta(days=29), last_seen_ago=timedelta(0))
    assert signed_in(client)
    age_sessions(app, user, created_ago=timedelta(days=31), last_seen_ago=timedelta(0))
    assert not signed_in(client)


def test_ended_sessions_are_not_listed_and_are_cleared_at_the_next_sign_in(app, make):
    user = make.user()
    browser(app, user, SAFARI)
    age_sessions(app, user, last_seen_ago=timedelta(days=2))
    here = browser(app, user)
    page = here.get("/me").text
    assert "Safari on iOS" not in page and "Firefox on Linux" in page
    assert [row.device for row in rows(app, user)] == ["Firefox on Linux"]


# -- the cost of a signed-in request ---------------------------------------------------------


def test_loading_the_signed_in_user_is_one_select(app, make):
    client = browser(app, make.user())
    client.get("/me/password")
    with statements(app) as seen:
        assert client.get("/me/password").status_code == 200
    touching = [sql for sql in seen if "user_session" in sql or re.search(r'\buser\b"?\s', sql)]
    # The bell's count joins the user for their role (what they may see), loading nothing.
    touching = [sql for sql in touching if "FROM notification" not in sql]
    assert len(touching) == 1, seen
    assert touching[0].startswith("SELECT") and "JOIN" in touching[0]


def test_last_seen_is_written_at_most_once_a_minute(app, make):
    user = make.user()
    client = browser(app, user)
    with statements(app) as seen:
        for _ in range(3):
            client.get("/me/password")
    assert not [sql for sql in seen if sql.startswith("UPDATE")], seen

    age_sessions(app, user, last_seen_ago=timedelta(minutes=2))
    with statements(app) as seen:
        for _ in range(3):
            client.get("/me/password")
    assert [sql.split()[:2] for sql in seen if sql.startswith("UPDATE")] == [
        ["UPDATE", "user_session"]
    ]
    (row,) = rows(app, user)
    assert utcnow() - row.last_seen_at < timedelta(seconds=30)


def test_a_remember_cookie_from_before_server_sessions_is_refused_and_cleared(app, make):
    """flask-login's remember cookie once carried "id:version"; it signs nobody in now."""
    user = make.user()
    with app.test_request_context():
        legacy = encode_cookie(f"{user.id}:1")
    client = app.test_client()
    client.set_cookie("remember_token", legacy)
    assert not signed_in(client)
    assert client.get_cookie("remember_token") is None
