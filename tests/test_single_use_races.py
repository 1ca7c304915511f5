"""A password-reset link and a two-factor code sent twice at the same moment are accepted
once (issue 18 point 9). Two browsers, each its own test client, thread and database
connection, wait at a barrier and post together, a few rounds over.

On PostgreSQL the two transactions really overlap, and only the compare-and-set in SQL
(UPDATE ... WHERE used_at IS NULL, WHERE totp_last_step < step, DELETE of the recovery
code) keeps the second out. SQLite takes its one write lock when a POST begins, so there
the two run one after the other: the same answers, shown the simple way.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from werkzeug.security import check_password_hash

from conftest import PASSWORD
from portal import totp
from portal.extensions import db
from portal.models import User, UserSession
from portal.operations.accounts import issue_token
from portal.operations.two_factor import enable_two_factor

ROUNDS = 4
LINK_USED = "This link has expired or was already used. Ask for a new one."
WRONG_CODE = "That code is not right. Codes change every 30 seconds, and each works once."


def at_once(posts):
    """Send each (client, path, form) from its own thread, released together; returns the
    answers in the same order."""
    barrier = threading.Barrier(len(posts))

    def send(post):
        client, path, form = post
        barrier.wait(timeout=10)
        response = client.post(path, data=form)
        response.close()
        return response

    with ThreadPoolExecutor(len(posts)) as pool:
        return list(pool.map(send, posts))


def sessions_of(app, user) -> int:
    with app.app_context():
        return db.session.scalar(
            db.select(db.func.count(UserSession.id)).filter_by(user_id=user.id)
        )


def signed_in(client) -> bool:
    return client.get("/me").status_code == 200


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_reset_link_sent_twice_at_once_sets_one_password(app, make, round_):
    user = make.user()
    with app.app_context():
        token = issue_token(db.session.get(User, user.id), "reset")
        db.session.commit()
    browsers = [app.test_client(), app.test_client()]
    passwords = ["the first new passphrase", "the second new passphrase"]
    posts = [
        (browser, f"/reset/{token}", {"password": password})
        for browser, password in zip(browsers, passwords, strict=True)
    ]
    answers = at_once(posts)

    places = sorted(answer.headers.get("Location") for answer in answers)
    assert [a.status_code for a in answers] == [303, 303] and places == ["/", "/reset"]
    won = next(n for n, answer in enumerate(answers) if answer.headers["Location"] == "/")
    lost = 1 - won
    assert LINK_USED in browsers[lost].get("/reset").text
    assert signed_in(browsers[won]) and not signed_in(browsers[lost])
    with app.app_context():
        stored = db.session.get(User, user.id).password_hash
    assert check_password_hash(stored, passwords[won])
    assert not check_password_hash(stored, passwords[lost])
    assert sessions_of(app, user) == 1


def pending_sign_ins(app, user, count=2):
    """Browsers that each gave user's password and now wait for the second factor."""
    browsers = []
    for _n in range(count):
        browser = app.test_client()
        answer = browser.post("/signin", data={"email": user.email, "password": PASSWORD})
        assert answer.headers["Location"] == "/signin/code"
        browsers.append(browser)
    return browsers


@pytest.mark.parametrize("kind", ["app code", "recovery code"])
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_second_factor_sent_twice_at_once_opens_one_session(
    app, make, roomy_limits, kind, round_
):
    user = make.user()
    secret = totp.new_secret()
    with app.app_context():
        person = db.session.get(User, user.id)
        recovery = enable_two_factor(person, secret, totp.code_at(secret, totp.current_step() - 1))
        db.session.commit()
    code = totp.code_at(secret, totp.current_step()) if kind == "app code" else recovery[0]
    browsers = pending_sign_ins(app, user)
    answers = at_once([(browser, "/signin/code", {"code": code}) for browser in browsers])

    assert sorted(answer.status_code for answer in answers) == [303, 422]
    won = next(n for n, answer in enumerate(answers) if answer.status_code == 303)
    assert answers[won].headers["Location"] == "/"
    assert WRONG_CODE in answers[1 - won].text
    assert signed_in(browsers[won]) and not signed_in(browsers[1 - won])
    assert sessions_of(app, user) == 1
