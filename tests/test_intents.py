"""The customer's intent survives signing in (SPEC section 12, issue 20 point 4): Vote,
Follow, Post idea and Comment pressed while signed out come back done, or with the text in
the form, after signing in, signing up with the confirmation mail, or single sign-on."""

import re
from datetime import timedelta

import pytest
from test_auth import link_in

from conftest import PASSWORD, htmx_headers, signed_sign_on
from portal.extensions import db
from portal.housekeeping import prune
from portal.models import Idea, PendingIntent, Subscription, User, Vote, utcnow

TITLE = "Dark mode for the dashboard"
BODY = "Our support team works nights; a dark theme would spare their eyes."
COMMENT = "We would pay for this: our whole team works from the CSV export."
KEPT = "Your text is kept: check it and post."


@pytest.fixture
def number(make):
    return make.idea(make.board(), make.user(name="Author"))


def press(client, kind: str, number: int, **headers):
    """What a visitor's button sends; returns the answer."""
    if kind == "vote":
        return client.post(f"/ideas/{number}/vote", data={"action": "vote"}, headers=headers)
    if kind == "follow":
        return client.post(f"/ideas/{number}/subscription", data={"level": "all"}, headers=headers)
    if kind == "comment":
        return client.post(f"/ideas/{number}/comments", data={"body": COMMENT}, headers=headers)
    # Post idea: the form is open to visitors; the similar ideas come first, then the post.
    form = {"title": TITLE, "body": BODY, "submission_key": "k" * 20, "confirmed": "1"}
    return client.post("/b/features/new", data=form, headers=headers)


def sign_in_by(way: str, client, make, mailbox, next_page: str):
    """Say who one is in one of the three ways; returns the last page and the person's email."""
    if way == "password":
        person = make.user(email="cara@example.com")
        answer = client.post(
            f"/signin?next={next_page}", data={"email": person.email, "password": PASSWORD}
        )
        return client.get(answer.headers["Location"]), person.email
    if way == "sso":
        answer = client.get("/sso", query_string={"token": signed_sign_on(), "next": next_page})
        return client.get(answer.headers["Location"]), "cara@example.com"
    # Sign-up: the link in the mail, confirmed, signs in.
    data = {"email": "cara@example.com", "name": "Cara", "password": PASSWORD}
    assert client.post(f"/signup?next={next_page}", data=data).status_code == 303
    link = link_in(mailbox.receive()[0], "/verify/")
    answer = client.post(link)
    return client.get(answer.headers["Location"]), "cara@example.com"


def votes_of(app, email) -> int:
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=email))
        return db.session.scalar(db.select(db.func.count(Vote.id)).filter_by(user_id=user.id))


def following(app, email, number) -> bool:
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=email))
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        found = db.session.scalar(
            db.select(Subscription).filter_by(user_id=user.id, idea_id=idea.id)
        )
        return found is not None and not found.muted and found.level == "all"


@pytest.mark.parametrize("way", ["password", "sign-up", "sso"])
@pytest.mark.parametrize("kind", ["vote", "follow", "idea", "comment"])
def test_what_a_visitor_pressed_is_done_after_they_say_who_they_are(
    client, app, make, mailbox, number, kind, way
):
    pressed = press(client, kind, number)
    assert pressed.status_code == 303
    sign_in_page = pressed.headers["Location"]
    assert sign_in_page.startswith("/signin?next=")
    next_page = re.search(r"next=([^&]+)", sign_in_page).group(1)

    page, email = sign_in_by(way, client, make, mailbox, next_page)
    assert page.status_code == 200
    assert client.get("/me").status_code == 200  # signed in
    if kind == "vote":
        assert page.request.path == f"/ideas/{number}"
        assert votes_of(app, email) == 1
        assert 'data-vote-count="1"' in page.text and "Your vote is counted." in page.text
    elif kind == "follow":
        assert page.request.path == f"/ideas/{number}"
        assert following(app, email, number)
        assert "You are following this idea." in page.text and "Unfollow" in page.text
    elif kind == "comment":
        assert page.request.path == f"/ideas/{number}"
        assert KEPT in page.text
        assert re.search(rf"<textarea[^>]*>\s*{re.escape(COMMENT)}</textarea>", page.text)
        assert votes_of(app, email) == 0  # nothing was posted for them
    else:
        assert page.request.path == "/b/features/new"
        assert KEPT in page.text
        assert f'value="{TITLE}"' in page.text
        assert re.search(rf"<textarea[^>]*>\s*{re.escape(BODY)}</textarea>", page.text)
        with app.app_context():
            assert db.session.scalar(db.select(db.func.count(Idea.id))) == 1  # not posted


def test_the_sign_in_page_says_what_will_happen_and_the_sign_up_link_keeps_it(client, number):
    page = client.get(press(client, "vote", number).headers["Location"])
    assert "Sign in or sign up and your vote will be counted." in page.text
    assert f'href="/signup?next=/ideas/{number}"' in page.text
    signup = client.get(f"/signup?next=/ideas/{number}")
    assert "Sign in or sign up and your vote will be counted." in signup.text
    # Another browser has pressed nothing.
    assert "will be counted" not in client.application.test_client().get("/signin").text


def test_an_htmx_press_is_answered_with_a_navigation_to_sign_in(client, number):
    answer = press(client, "vote", number, **htmx_headers())
    assert answer.status_code == 204
    assert answer.headers["HX-Redirect"] == f"/signin?next=/ideas/{number}"


def test_visitors_see_the_buttons_and_the_forms(client, number):
    page = client.get(f"/ideas/{number}").text
    assert '<button type="submit" name="action" value="vote" class="vote-button"' in page
    assert 'name="level" value="all"' in page
    assert f'action="/ideas/{number}/comments"' in page and 'name="body"' in page
    assert "csrf_token" not in page  # the page is shared between visitors
    form = client.get("/b/features/new")
    assert form.status_code == 200 and 'name="title"' in form.text


def test_a_visitor_sees_similar_ideas_before_being_asked_who_they_are(client, app, make):
    number = make.idea(make.board(), make.user(), title="Export reports as CSV")
    form = {"title": "Export reports to CSV", "body": BODY, "submission_key": "k" * 20}
    similar = client.post("/b/features/new", data=form)
    assert similar.status_code == 200
    assert "These ideas look like yours" in similar.text and f"#{number}" in similar.text
    posted = client.post("/b/features/new", data={**form, "confirmed": "1"})
    assert posted.headers["Location"] == "/signin?next=/b/features/new"


def test_confirming_the_address_signs_in_and_lands_on_the_home_page(client, mailbox):
    data = {"email": "dora@example.com", "name": "Dora", "password": PASSWORD}
    client.post("/signup", data=data)
    link = link_in(mailbox.receive()[0], "/verify/")
    confirmed = client.post(link)
    assert confirmed.headers["Location"] == "/"
    assert "Thanks, Dora: your email address is confirmed." in client.get("/").text
    assert client.get("/me").status_code == 200


def test_confirming_in_another_browser_still_casts_the_vote(app, client, mailbox, number):
    press(client, "vote", number)
    data = {"email": "dora@example.com", "name": "Dora", "password": PASSWORD}
    client.post("/signup", data=data)
    link = link_in(mailbox.receive()[0], "/verify/")
    other_browser = app.test_client()
    confirmed = other_browser.post(link)
    assert confirmed.headers["Location"] == f"/ideas/{number}"
    assert votes_of(app, "dora@example.com") == 1
    # The browser it was pressed in keeps nothing that the next person could pick up.
    assert "will be counted" not in client.get("/signin").text


def test_a_vote_the_rules_refuse_after_signing_in_shows_why(app, client, make):
    number = make.idea(make.board(), make.user(), status="completed")
    cara = make.user()
    press(client, "vote", number)
    answer = client.post(
        f"/signin?next=/ideas/{number}", data={"email": cara.email, "password": PASSWORD}
    )
    assert answer.headers["Location"] == f"/ideas/{number}"
    page = client.get(answer.headers["Location"]).text
    assert "Voting is closed" in page or "closed" in page
    assert votes_of(app, cara.email) == 0
    assert client.get("/me").status_code == 200  # signed in all the same


def test_an_intent_does_not_pass_to_the_next_person_in_the_same_browser(app, client, make, number):
    cara, otto = make.user(), make.user()
    press(client, "vote", number)
    client.post("/signin", data={"email": cara.email, "password": PASSWORD})
    client.post("/signout")
    client.post("/signin", data={"email": otto.email, "password": PASSWORD})
    assert votes_of(app, cara.email) == 1
    assert votes_of(app, otto.email) == 0


def test_after_sign_up_the_intent_waits_for_that_account_only(app, client, make, mailbox, number):
    otto = make.user()
    press(client, "vote", number)
    data = {"email": "dora@example.com", "name": "Dora", "password": PASSWORD}
    client.post("/signup", data=data)
    client.post("/signin", data={"email": otto.email, "password": PASSWORD})
    assert votes_of(app, otto.email) == 0
    client.post("/signout")
    client.post(link_in(mailbox.receive()[0], "/verify/"))
    assert votes_of(app, "dora@example.com") == 1


def test_an_intent_on_an_idea_that_is_gone_lands_somewhere_with_a_message(
    app, client, make, number
):
    cara = make.user()
    press(client, "follow", number)
    with app.app_context():
        db.session.execute(db.update(Idea).filter_by(number=number).values(is_hidden=True))
        db.session.commit()
    answer = client.post("/signin", data={"email": cara.email, "password": PASSWORD})
    assert answer.headers["Location"] == "/"
    assert "the idea is gone" in client.get("/").text


def test_housekeeping_removes_intents_after_a_day(app, client, number):
    press(client, "vote", number)
    with app.app_context():
        assert prune()["pending_intents"] == 0
        assert prune(now=utcnow() + timedelta(days=1, minutes=1))["pending_intents"] == 1
        assert db.session.scalar(db.select(db.func.count(PendingIntent.id))) == 0
