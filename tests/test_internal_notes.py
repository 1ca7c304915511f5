"""Internal notes follow one rule on every route (issue 18, point 3; docs/decisions/0009):
staff read them, the product team writes, edits and deletes them, admins see their history."""

import re

import pytest

from conftest import Auth, htmx_headers
from portal.extensions import db
from portal.models import Comment, Notification, Role, User, Webhook, WebhookDelivery

NOTE = "Zanzibar account renews in March"
EDITED = "Zanzibar account renews in April"
PUBLIC = "I would use this every week"


def signed_in(app, user):
    client = app.test_client()
    if user is not None:
        Auth(client).login(user)
    return client


def note_row(app, note_id) -> Comment:
    with app.app_context():
        note = db.session.get(Comment, note_id)
        db.session.expunge(note)
        return note


def set_role(app, user, role) -> None:
    with app.app_context():
        db.session.get(User, user.id).role = role
        db.session.commit()


@pytest.fixture
def world(app, make):
    """An idea with a public comment and an owner's internal note, and one of each role."""
    people = {
        "customer": make.user(name="Cara"),
        "blocked": make.user(name="Bea", is_blocked=True),
        "moderator": make.user(Role.MODERATOR, name="Mo"),
        "author": make.user(Role.OWNER, name="Olga"),
        "owner": make.user(Role.OWNER, name="Omar"),
        "admin": make.user(Role.ADMIN, name="Ada"),
    }
    number = make.idea(make.board(), people["customer"], "Export reports as CSV")
    signed_in(app, people["customer"]).post(f"/ideas/{number}/comments", data={"body": PUBLIC})
    posted = signed_in(app, people["author"]).post(
        f"/ideas/{number}/comments", data={"body": NOTE, "kind": "internal"}
    )
    assert posted.status_code == 303
    with app.app_context():
        note_id = db.session.scalar(db.select(Comment.id).filter_by(is_internal=True))
    return {"number": number, "note": note_id, **people}


READERS = ["moderator", "author", "owner", "admin"]
ROLES = ["visitor", "customer", "blocked", *READERS]


@pytest.mark.parametrize("role", ROLES)
def test_staff_read_notes_on_the_idea_page_and_its_fragments(app, world, role):
    client = signed_in(app, world.get(role))
    sees = role in READERS
    number, edit_link = world["number"], f'href="/comments/{world["note"]}/edit"'
    for headers in ({}, htmx_headers()):
        page = client.get(f"/ideas/{number}", headers=headers).text
        assert PUBLIC in page
        assert (NOTE in page) is sees and ("Internal note · staff only</span>" in page) is sees
        assert (edit_link in page) is (role in ("author", "owner", "admin"))
    if role not in ("visitor", "blocked"):  # the comments fragment a posted comment answers
        fragment = client.post(f"/ideas/{number}/comments", data={"body": f"{role} says hi"},
                               headers=htmx_headers())  # fmt: skip
        assert f"{role} says hi" in fragment.text and "<html" not in fragment.text
        assert (NOTE in fragment.text) is sees


@pytest.mark.parametrize(
    ("role", "status"),
    [("visitor", 303), ("customer", 404), ("blocked", 404), ("moderator", 403),
     ("author", 200), ("owner", 200), ("admin", 200)],
)  # fmt: skip
def test_only_the_product_team_opens_and_saves_the_edit_page(app, world, role, status):
    client, url = signed_in(app, world.get(role)), f"/comments/{world['note']}/edit"
    opened = client.get(url)
    assert opened.status_code == status
    assert (NOTE in opened.text) is (status == 200)
    if status == 200:
        fragment = client.get(url, headers=htmx_headers())
        assert NOTE in fragment.text and "<html" not in fragment.text
    saved = client.post(url, data={"body": EDITED})
    assert saved.status_code == (303 if status == 200 else status)
    if status == 303:
        assert "/signin" in saved.headers["Location"]
    note = note_row(app, world["note"])
    assert note.body == (EDITED if status == 200 else NOTE)
    assert note.edited_by_staff is (role in ("owner", "admin"))  # another's note: a staff edit


def test_a_demoted_author_neither_reads_nor_edits_their_notes(app, world):
    set_role(app, world["author"], Role.MODERATOR)
    client = signed_in(app, world["author"])
    assert NOTE in client.get(f"/ideas/{world['number']}").text
    assert client.get(f"/comments/{world['note']}/edit").status_code == 403
    assert [c["body"] for c in client.get("/account/export.json").json["comments"]] == [NOTE]

    set_role(app, world["author"], Role.CUSTOMER)
    client = signed_in(app, world["author"])
    assert NOTE not in client.get(f"/ideas/{world['number']}").text
    assert client.get(f"/comments/{world['note']}/edit").status_code == 404
    assert client.post(f"/comments/{world['note']}/edit", data={"body": EDITED}).status_code == 404
    exported = client.get("/account/export.json")
    assert exported.json["comments"] == [] and NOTE not in exported.text
    assert note_row(app, world["note"]).body == NOTE


def test_owners_export_their_notes(app, world):
    exported = signed_in(app, world["author"]).get("/account/export.json").json
    assert [(c["body"], c["internal"]) for c in exported["comments"]] == [(NOTE, True)]
    assert NOTE not in signed_in(app, world["owner"]).get("/account/export.json").text


def test_moderators_neither_delete_hide_nor_pin_notes(app, world):
    moderator = signed_in(app, world["moderator"])
    for action in ("delete", "hide"):
        refused = moderator.post(f"/moderation/comment/{world['note']}",
                                 data={"action": action, "reason": "Off topic."})  # fmt: skip
        assert refused.status_code == 303
        page = moderator.get(refused.headers["Location"]).text
        assert "Only the product team changes internal notes." in page
    pinned = moderator.post(f"/moderation/comments/{world['note']}/pin", data={"pinned": "1"})
    assert pinned.status_code == 403
    note = note_row(app, world["note"])
    assert not (note.is_deleted or note.is_hidden or note.is_pinned)

    owner = signed_in(app, world["owner"])
    assert owner.post(f"/moderation/comment/{world['note']}",
                      data={"action": "delete"}).status_code == 303  # fmt: skip
    assert note_row(app, world["note"]).is_deleted
    assert NOTE not in owner.get(f"/ideas/{world['number']}").text


def test_nobody_outside_the_team_reaches_a_note_by_its_number(app, world):
    for role in ("customer", "blocked"):
        client = signed_in(app, world[role])
        answer = client.post(f"/comments/{world['note']}/flags", data={"reason": "spam"})
        assert answer.status_code == 404


def test_the_api_never_carries_a_note_even_to_the_team(app, world, api):
    for role in ("moderator", "author", "admin"):
        token = api.token(world[role])
        listed = api.get(f"/api/v1/ideas/{world['number']}/comments", token)
        assert [c["body"] for c in listed.json["comments"]] == [PUBLIC]
        assert NOTE not in listed.text
        assert api.get(f"/api/v1/ideas/{world['number']}", token).json["comment_count"] == 1
    posted = api.post(f"/api/v1/ideas/{world['number']}/comments", api.token(world["owner"]),
                      json={"body": "Another note", "internal": True})  # fmt: skip
    assert posted.status_code == 201 and "Another note" not in posted.text
    refused = api.post(f"/api/v1/ideas/{world['number']}/comments", api.token(world["moderator"]),
                       json={"body": "A moderator's note", "internal": True})  # fmt: skip
    assert refused.status_code == 403


def test_search_and_feeds_never_hold_a_note(app, world, api):
    owner = signed_in(app, world["owner"])
    for client in (app.test_client(), owner):
        found = re.sub(r"</?mark>", "", client.get("/search?q=export").text)  # highlights
        assert "Export reports as CSV" in found
        assert "Export reports as CSV" not in client.get("/search?q=zanzibar").text
    assert api.get("/api/v1/search?q=zanzibar", api.token(world["owner"])).json["total"] == 0
    owner.post(f"/ideas/{world['number']}/comments", data={"body": "Official", "kind": "official"})
    for feed in (f"/ideas/{world['number']}/feed.atom", "/b/features/feed.atom",
                 "/changelog.atom"):  # fmt: skip
        answer = owner.get(feed)
        assert answer.status_code in (200, 404) and "Zanzibar" not in answer.text, feed


def test_notes_reach_no_follower_mail_or_webhook_when_posted_or_edited(app, world, mailbox):
    with app.app_context():
        db.session.add(Webhook(url="https://hooks.example.com/x", events=["comment.created"],
                               secret="s" * 32))  # fmt: skip
        db.session.commit()
    mailbox.receive()
    team = signed_in(app, world["owner"])
    team.post(f"/ideas/{world['number']}/comments", data={"body": NOTE, "kind": "internal"})
    with app.app_context():
        second = db.session.scalar(db.select(db.func.max(Comment.id)))
    assert team.post(f"/comments/{second}/edit", data={"body": EDITED}).status_code == 303
    assert team.post(f"/comments/{world['note']}/edit", data={"body": EDITED}).status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(Comment.is_internal).filter_by(id=second))
    assert mailbox.receive() == []
    # A public comment afterwards reaches the idea's author, by mail and by webhook: the
    # silence above was the rule, not a broken delivery.
    team.post(f"/ideas/{world['number']}/comments", data={"body": "Thanks for waiting"})
    mails = mailbox.receive()
    assert mails and all("Zanzibar" not in mail.as_string() for mail in mails)
    assert any("Thanks for waiting" in mail.as_string() for mail in mails)
    with app.app_context():
        sent = db.session.scalars(db.select(WebhookDelivery.body)).all()
        assert len(sent) == 1 and "Thanks for waiting" in sent[0] and "Zanzibar" not in sent[0]
        notices = db.session.scalars(db.select(Notification.text)).all()
        assert notices and not any("Zanzibar" in text for text in notices)


def test_the_history_of_a_note_is_for_admins(app, world):
    owner = signed_in(app, world["owner"])
    assert owner.post(f"/comments/{world['note']}/edit", data={"body": EDITED}).status_code == 303
    audit = signed_in(app, world["admin"]).get("/admin/audit?action=comment.edit").text
    assert NOTE in audit and EDITED in audit
    for role in ("moderator", "author", "owner"):
        assert signed_in(app, world[role]).get("/admin/audit").status_code == 403
