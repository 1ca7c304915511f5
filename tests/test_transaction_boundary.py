"""One transaction per request (docs/decisions/0014): a view's writes are committed once
after a successful answer and rolled back after a failure or a refusal, on SQLite and on
PostgreSQL alike; guesses are counted whatever the answer."""

import sqlite3
from datetime import timedelta

from sqlalchemy.exc import OperationalError
from test_sessions import age_sessions, browser, rows
from test_totp import code, password_step, signed_in_with_code, stored_user, with_two_factor

from conftest import PASSWORD, htmx_headers
from portal.extensions import db
from portal.models import AuditEntry, Idea, Role, Subscription, UserSession


def count(app, model, **filters) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(model).filter_by(**filters))


def test_a_vote_is_there_on_the_next_request(client, make, auth, app, api):
    number = make.idea(make.board(), make.user())
    auth.login(make.user())
    answer = client.post(f"/ideas/{number}/vote", headers=htmx_headers())
    assert answer.status_code == 200 and 'data-vote-count="1"' in answer.text
    # Another person, another connection: only what was committed shows.
    assert 'data-vote-count="1"' in app.test_client().get(f"/ideas/{number}").text
    assert api.get(f"/api/v1/ideas/{number}").json["vote_count"] == 1
    client.post(f"/ideas/{number}/vote", data={"action": "retract"}, headers=htmx_headers())
    assert api.get(f"/api/v1/ideas/{number}").json["vote_count"] == 0


def test_a_post_that_fails_halfway_leaves_nothing_behind(client, make, auth, app, api,
                                                          monkeypatch):  # fmt: skip
    """The idea, its author's subscription and its search entry are written before the
    webhook is queued; when that fails, none of them stays."""
    make.board()
    auth.login(make.user())
    form = {"title": "Dark mode for the reports", "body": "Easier at night.", "confirmed": "1",
            "submission_key": "one-form"}  # fmt: skip

    def broken(_idea):
        raise RuntimeError("the webhook queue is broken")

    monkeypatch.setattr("portal.operations.ideas.queue_idea_created", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    failed = client.post("/b/features/new", data=form)
    assert failed.status_code == 500 and "We could not finish that" in failed.text
    assert count(app, Idea) == 0 and count(app, Subscription) == 0
    assert "Dark mode" not in client.get("/b/features").text
    assert api.get("/api/v1/search?q=dark+mode").json["hits"] == []

    monkeypatch.undo()  # the same form, sent again, posts: its key was not used up
    posted = client.post("/b/features/new", data=form)
    assert posted.status_code == 303
    assert "Dark mode for the reports" in client.get(posted.headers["Location"]).text
    assert count(app, Idea) == 1 and count(app, Subscription) == 1
    assert len(api.get("/api/v1/search?q=dark+mode").json["hits"]) == 1


def test_a_refusal_answered_with_a_redirect_takes_back_what_it_wrote(app, make):
    """An admin's code proves who they are, and is used up, before the reset finds that the
    person has no two-factor sign-in to reset: the refusal (a message and a redirect, not
    an error status) takes the use back, so the same code still confirms the next reset."""
    admin = make.user(Role.ADMIN)
    admin_secret, _ = with_two_factor(app, admin)
    browser = signed_in_with_code(app, admin, admin_secret)
    without, carl = make.user(name="Bea"), make.user(name="Carl")
    with_two_factor(app, carl)
    proof = code(admin_secret, 1)

    refused = browser.post(f"/admin/users/{without.id}/two-factor/reset", data={"proof": proof})
    assert refused.status_code == 303
    assert "Bea does not use two-factor sign-in." in browser.get(refused.headers["Location"]).text
    assert count(app, AuditEntry, action="user.reset_two_factor") == 0

    done = browser.post(f"/admin/users/{carl.id}/two-factor/reset", data={"proof": proof})
    assert done.status_code == 303 and not stored_user(app, carl).has_two_factor
    assert count(app, AuditEntry, action="user.reset_two_factor") == 1


def test_failed_sign_ins_are_counted_though_nothing_they_did_is_kept(client, make, app,
                                                                       monkeypatch):  # fmt: skip
    monkeypatch.setitem(app.config["RATE_LIMITS"], "signin", "3 per minute")
    person = make.user(email="ada@example.com")
    for _ in range(3):
        wrong = client.post("/signin", data={"email": person.email, "password": "not it"})
        assert wrong.status_code == 422
    assert count(app, UserSession) == 0
    right = client.post("/signin", data={"email": person.email, "password": PASSWORD})
    assert right.status_code == 429 and count(app, UserSession) == 0


def test_wrong_two_factor_codes_are_counted(client, make, app, monkeypatch):
    monkeypatch.setitem(app.config["RATE_LIMITS"], "two_factor", "2 per minute")
    person = make.user()
    secret, _ = with_two_factor(app, person)
    assert password_step(client, person).status_code == 303
    for _ in range(2):
        assert client.post("/signin/code", data={"code": "000000"}).status_code == 422
    assert client.post("/signin/code", data={"code": code(secret)}).status_code == 429
    assert count(app, UserSession) == 0


def test_the_session_s_last_use_is_kept_when_the_page_is_refused(app, make):
    person = make.user()
    client = browser(app, person)
    age_sessions(app, person, last_seen_ago=timedelta(minutes=5))
    (before,) = rows(app, person)
    assert client.get("/admin/boards").status_code == 403
    (after,) = rows(app, person)
    assert after.last_seen_at > before.last_seen_at


def locked(*_args):
    raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database is locked"))


def test_a_failing_commit_answers_503_and_takes_its_message_back(client, make, auth, app,
                                                                  monkeypatch):  # fmt: skip
    number = make.idea(make.board(), make.user())
    person = make.user()
    auth.login(person)
    monkeypatch.setattr(db.session, "commit", locked)  # the request's one commit fails
    failed = client.post(f"/ideas/{number}/subscription", data={"level": "all"})
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "5"
    assert "Try again in a few seconds" in failed.text
    assert "You are following this idea." not in failed.text
    monkeypatch.undo()
    page = client.get(f"/ideas/{number}").text
    assert "You are following this idea." not in page  # the message went with the answer
    assert count(app, Subscription, user_id=person.id) == 0
