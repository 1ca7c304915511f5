"""Comments: posting in place or by redirect, limits, the edit window, official and internal."""

import re
from datetime import timedelta

import pytest

from conftest import Auth, htmx_headers
from portal.extensions import db
from portal.models import Comment, Idea, Role, Subscription

EMPTY = "Write a comment first."
TOO_LONG = "A comment can have at most 5,000 characters."


def comment_rows(app, number) -> list[Comment]:
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        rows = db.session.scalars(
            db.select(Comment).filter_by(idea_id=idea.id).order_by(Comment.id)
        ).all()
        db.session.expunge_all()
        return rows


def stored_comment_count(app, number) -> int:
    with app.app_context():
        return db.session.scalar(db.select(Idea.comment_count).filter_by(number=number))


def comment_box(page: str) -> str:
    """The text in the comment form's textarea."""
    found = re.search(r'<textarea[^>]*name="body"[^>]*>\r?\n?(.*?)</textarea>', page, re.S)
    assert found, "no comment form on the page"
    return found.group(1)


def field_error(page: str) -> str:
    found = re.search(r'<p class="field-error" id="body-error">([^<]*)</p>', page)
    return found.group(1) if found else ""


def comment(client, number, body, kind=None, headers=None):
    data = {"body": body, **({"kind": kind} if kind else {})}
    return client.post(f"/ideas/{number}/comments", data=data, headers=headers or {})


@pytest.fixture
def idea(make):
    return make.idea(make.board(), make.user(name="Ada"), "Export reports as CSV")


def test_comment_form_is_labelled(client, auth, make, idea):
    visitor = client.get(f"/ideas/{idea}").text  # posting keeps the text, then asks who
    assert '<label for="body">Comment</label>' in visitor and ">Post comment</button>" in visitor
    auth.login(make.user())
    page = client.get(f"/ideas/{idea}").text
    assert ">Comment</label>" in page and ">Post comment</button>" in page


def test_comment_without_javascript_redirects_to_the_comment(client, auth, make, app, idea):
    auth.login(make.user(name="Grace"))
    response = comment(client, idea, "We need this for the **monthly** close.")
    (posted,) = comment_rows(app, idea)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{idea}#comment-{posted.id}"
    page = client.get(f"/ideas/{idea}").text
    assert f'id="comment-{posted.id}"' in page
    assert "<strong>Grace</strong>" in page and "<strong>monthly</strong>" in page
    assert "1 comment<" in client.get("/b/features").text


def test_comment_with_htmx_returns_the_section_with_an_empty_form(client, auth, make, app, idea):
    auth.login(make.user())
    response = comment(client, idea, "Same here, please.", headers=htmx_headers())
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<section id="comments"')
    (posted,) = comment_rows(app, idea)
    assert f'id="comment-{posted.id}"' in response.text and "Same here, please." in response.text
    assert comment_box(response.text) == ""


@pytest.mark.parametrize(
    ("body", "message"),
    [("", EMPTY), (" \n\t\x00 ", EMPTY), ("x" * 5_001, TOO_LONG)],
    ids=["empty", "blank", "too-long"],
)
def test_refused_comment_shows_the_message_next_to_the_field(
    client, auth, make, app, idea, body, message
):
    auth.login(make.user())
    page = comment(client, idea, body)
    assert page.status_code == 422
    assert "<html" in page.text and field_error(page.text) == message
    fragment = comment(client, idea, body, headers=htmx_headers())
    assert fragment.status_code == 200  # htmx swaps 2xx answers only
    assert "<html" not in fragment.text and field_error(fragment.text) == message
    if len(body) > 100:
        assert comment_box(page.text) == body and comment_box(fragment.text) == body
    assert comment_rows(app, idea) == []
    assert stored_comment_count(app, idea) == 0


def test_longest_comment_is_accepted(client, auth, make, app, idea):
    auth.login(make.user())
    assert comment(client, idea, "y" * 5_000).status_code == 303
    assert len(comment_rows(app, idea)) == 1


def test_own_comment_can_be_edited_for_fifteen_minutes(client, auth, make, app, idea):
    auth.login(make.user())
    comment(client, idea, "Frist!")
    (posted,) = comment_rows(app, idea)
    edit_url = f"/comments/{posted.id}/edit"
    page = client.get(f"/ideas/{idea}").text
    assert f'href="{edit_url}"' in page

    form = client.get(edit_url)
    assert form.status_code == 200 and ">Comment</label>" in form.text
    assert comment_box(form.text) == "Frist!"
    fragment = client.get(edit_url, headers=htmx_headers())
    assert "<html" not in fragment.text and comment_box(fragment.text) == "Frist!"

    empty = client.post(edit_url, data={"body": "  "})
    assert empty.status_code in (200, 422) and field_error(empty.text) == EMPTY

    saved = client.post(edit_url, data={"body": "First!"})
    assert saved.status_code == 303
    assert saved.headers["Location"] == f"/ideas/{idea}#comment-{posted.id}"
    page = client.get(f"/ideas/{idea}").text
    assert "First!" in page and "Frist!" not in page
    assert '<span class="edited">edited</span>' in page

    with app.app_context():
        row = db.session.get(Comment, posted.id)
        row.created_at = row.created_at - timedelta(minutes=16)
        db.session.commit()
    assert f'href="{edit_url}"' not in client.get(f"/ideas/{idea}").text
    assert client.get(edit_url).status_code == 403
    assert client.post(edit_url, data={"body": "Too late"}).status_code == 403
    assert comment_rows(app, idea)[0].body == "First!"


def test_others_cannot_edit_a_comment(client, auth, app, make, idea):
    Auth(writer := app.test_client()).login(make.user())
    comment(writer, idea, "Mine.")
    (posted,) = comment_rows(app, idea)
    auth.login(make.user())
    assert client.get(f"/comments/{posted.id}/edit").status_code == 403
    assert client.post(f"/comments/{posted.id}/edit", data={"body": "Yours"}).status_code == 403


def test_official_response_is_highlighted(client, auth, make, app, idea):
    auth.login(make.user(Role.OWNER, name="Product Team"))
    page = client.get(f"/ideas/{idea}").text
    assert "Official response" in page and "Internal note" in page  # the choice is offered
    comment(client, idea, "This is planned for Q3.", kind="official")
    (posted,) = comment_rows(app, idea)
    assert posted.is_official and not posted.is_internal
    visitor = app.test_client().get(f"/ideas/{idea}").text
    item = re.search(rf'<li class="([^"]*)" id="comment-{posted.id}">(.*?)</li>', visitor, re.S)
    assert "official" in item.group(1).split()
    assert '<span class="tag tag-official">Official response</span>' in item.group(2)
    assert "This is planned for Q3." in item.group(2)


def test_customers_cannot_post_official_answers(client, auth, make, app, idea):
    auth.login(make.user())
    for kind in ("official", "internal"):
        assert comment(client, idea, "I speak for the team.", kind=kind).status_code == 403
    assert comment_rows(app, idea) == []


@pytest.mark.parametrize(
    ("role", "sees"),
    [(None, False), (Role.CUSTOMER, False), (Role.OWNER, True), (Role.ADMIN, True)],
    ids=["visitor", "customer", "owner", "admin"],
)
def test_internal_notes_are_for_the_product_team(app, make, idea, role, sees):
    Auth(team := app.test_client()).login(make.user(Role.OWNER))
    comment(team, idea, "Customer is on the enterprise plan.", kind="internal")
    (note,) = comment_rows(app, idea)
    assert note.is_internal

    reader = app.test_client()
    if role:
        Auth(reader).login(make.user(role))
    for headers in ({}, htmx_headers()):
        page = reader.get(f"/ideas/{idea}", headers=headers).text
        assert ("Customer is on the enterprise plan." in page) is sees
        assert ("Internal note · staff only</span>" in page) is sees
    assert stored_comment_count(app, idea) == 0
    assert "0 comments<" in reader.get("/b/features").text


def test_commenting_subscribes_to_all_activity(client, auth, make, app, idea):
    user = make.user()
    auth.login(user)
    comment(client, idea, "Following along.")
    assert "Following (all activity)" in client.get(f"/ideas/{idea}").text
    with app.app_context():
        subscription = db.session.scalar(db.select(Subscription).filter_by(user_id=user.id))
        assert subscription.level == "all" and not subscription.muted


def test_blocked_user_cannot_comment(client, auth, make, app, idea):
    auth.login(make.user(is_blocked=True))
    page = client.get(f"/ideas/{idea}").text
    assert "Your account is blocked" in page
    assert ">Post comment</button>" not in page
    refused = comment(client, idea, "Let me in.")
    assert refused.status_code == 403
    assert "You cannot comment on this idea." in refused.text
    assert comment_rows(app, idea) == []


def test_comment_count_is_the_number_of_public_comments(app, make, idea):
    team, customers = app.test_client(), [app.test_client() for _ in range(3)]
    Auth(team).login(make.user(Role.OWNER))
    for n, client in enumerate(customers):
        Auth(client).login(make.user())
        comment(client, idea, f"Customer comment {n}")
    comment(team, idea, "Official word.", kind="official")
    comment(team, idea, "Note to self.", kind="internal")
    comment(customers[0], idea, "")  # refused

    public = [row for row in comment_rows(app, idea) if not row.is_internal]
    assert stored_comment_count(app, idea) == len(public) == 4
    assert "4 comments<" in app.test_client().get("/b/features").text
