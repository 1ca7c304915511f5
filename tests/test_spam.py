"""Spam brakes on accounts younger than a day (issue 5, point 5)."""

from portal.extensions import db
from portal.models import Idea, Role, utcnow

LINKS = "See https://a.example, https://b.example and www.c.example"


def new_account(make):
    return make.user(created_at=utcnow())


def post(client, title, body=""):
    return client.post("/b/features/new", data={"title": title, "body": body, "confirmed": "1"})


def test_new_accounts_post_few_links_and_few_ideas(client, make, auth, app):
    make.board()
    auth.login(new_account(make))
    refused = post(client, "Cheap offers inside", LINKS)
    assert refused.status_code == 422
    assert "at most 2 links to a post on their first day" in refused.text
    assert LINKS in refused.text  # nothing typed is lost
    for n in range(3):
        assert post(client, f"A fine idea number {n}").status_code == 303
    fourth = post(client, "A fourth idea today")
    assert fourth.status_code == 422 and "Come back tomorrow" in fourth.text


def test_comments_are_braked_too(client, make, auth):
    number = make.idea(make.board(), make.user())
    auth.login(new_account(make))
    answer = client.post(f"/ideas/{number}/comments", data={"body": LINKS})
    assert answer.status_code == 422 and "at most 2 links" in answer.text


def test_the_brakes_lift_once_a_moderator_approves_a_post(client, make, auth, app):
    make.board(hold_new_posts=True)
    author = new_account(make)
    auth.login(author)
    post(client, "My first idea, held")
    auth.logout()
    auth.login(make.user(Role.MODERATOR))
    with app.app_context():
        idea_id = db.session.scalar(db.select(Idea.id))
    client.post(f"/moderation/idea/{idea_id}", data={"action": "approve"})
    auth.logout()
    auth.login(author)
    assert post(client, "Links are fine now", LINKS).status_code == 303


def test_older_accounts_are_not_braked(client, make, auth):
    make.board()
    auth.login(make.user())  # two days old
    assert post(client, "Plenty of links", LINKS).status_code == 303
