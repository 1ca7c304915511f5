"""Edits pass the gates posting does (issue 18, point 2): the link limit on new accounts, and
the review of boards that hold new posts, on the pages and in the API."""

from datetime import timedelta
from html import unescape

from conftest import Auth
from portal.extensions import db
from portal.models import (
    AuditEntry,
    Comment,
    Idea,
    Notification,
    Role,
    User,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from portal.worker import drain

LINKS = "Cheap offers at https://a.example, https://b.example and www.c.example"
LINK_LIMIT = "New accounts can add at most 2 links to a post on their first day."
WAITS = (
    "Your changes are saved. The idea waits for a moderator's approval before others can see it."
)
HELD = "Waiting for a moderator's approval"


def new_account(make, **fields) -> User:
    return make.user(created_at=utcnow(), **fields)


def signed_in(app, user):
    client = app.test_client()
    Auth(client).login(user)
    return client


def idea_row(app, number) -> Idea:
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        db.session.expunge(idea)
        return idea


def edit(client, number, title="Export reports as CSV", body="We need it."):
    return client.post(f"/ideas/{number}/edit", data={"title": title, "body": body})


def approve(app, make, number) -> None:
    moderator = signed_in(app, make.user(Role.MODERATOR))
    idea_id = idea_row(app, number).id
    answer = moderator.post(f"/moderation/idea/{idea_id}", data={"action": "approve"})
    assert answer.status_code == 303
    assert not idea_row(app, number).is_held


def idea_created_deliveries(app) -> int:
    with app.app_context():
        return db.session.scalar(
            db.select(db.func.count(WebhookDelivery.id)).filter_by(event="idea.created")
        )


# -- the link limit ---------------------------------------------------------------------


def test_a_new_account_cannot_edit_links_into_an_idea(app, make, api):
    author = new_account(make)
    number = make.idea(make.board(), author, "Export reports as CSV", "We need it.")
    client = signed_in(app, author)

    refused = edit(client, number, body=LINKS)
    assert refused.status_code == 422
    assert LINK_LIMIT in unescape(refused.text) and LINKS in unescape(refused.text)
    title_links = edit(
        client, number, title="See https://a.example https://b.example www.c.example"
    )
    assert title_links.status_code == 422 and LINK_LIMIT in unescape(title_links.text)

    token = api.token(author)
    answer = api.patch(f"/api/v1/ideas/{number}", token, json={"body": LINKS})
    assert answer.status_code == 400 and answer.json["error"]["fields"]["body"] == LINK_LIMIT
    assert idea_row(app, number).body == "We need it."

    assert (
        edit(client, number, body="Two links: https://a.example, www.b.example").status_code == 303
    )
    assert idea_row(app, number).body == "Two links: https://a.example, www.b.example"


def test_a_new_account_cannot_edit_links_into_a_comment(app, make):
    number = make.idea(make.board(), make.user())
    author = new_account(make)
    client = signed_in(app, author)
    assert client.post(f"/ideas/{number}/comments", data={"body": "Me too."}).status_code == 303
    with app.app_context():
        comment_id = db.session.scalar(db.select(Comment.id))

    refused = client.post(f"/comments/{comment_id}/edit", data={"body": LINKS})
    assert refused.status_code == 422 and LINK_LIMIT in unescape(refused.text)
    with app.app_context():
        assert db.session.get(Comment, comment_id).body == "Me too."


def test_older_accounts_and_staff_edit_links_freely(app, make):
    author = make.user()  # two days old: past the brakes
    newcomer = new_account(make)
    board = make.board()
    number = make.idea(board, author)
    theirs = make.idea(board, newcomer)
    assert edit(signed_in(app, author), number, body=LINKS).status_code == 303
    assert edit(signed_in(app, make.user(Role.MODERATOR)), theirs, body=LINKS).status_code == 303
    assert idea_row(app, number).body == idea_row(app, theirs).body == LINKS


# -- held again -------------------------------------------------------------------------


def test_an_approved_idea_edited_by_a_new_account_waits_for_review_again(app, make, api):
    make.board(hold_new_posts=True)
    with app.app_context():
        db.session.add(Webhook(url="https://hooks.example.com/x", events=["idea.created"],
                               secret="s" * 32))  # fmt: skip
        db.session.commit()
    author = new_account(make)
    client = signed_in(app, author)
    form = {"title": "Export reports as CSV", "body": "Harmless.", "confirmed": "1"}
    posted = client.post("/b/features/new", data=form)
    number = int(posted.headers["Location"].rsplit("/", 1)[1])
    approve(app, make, number)
    assert idea_created_deliveries(app) == 1
    visitor = app.test_client()
    assert visitor.get(f"/ideas/{number}").status_code == 200
    assert api.get("/api/v1/search?q=harmless").json["total"] == 1

    saved = edit(client, number, body="Casino bonus, no links needed.")
    assert saved.status_code == 303
    page = client.get(saved.headers["Location"]).text
    assert WAITS in unescape(page) and HELD in unescape(page)
    assert idea_row(app, number).is_held
    assert visitor.get(f"/ideas/{number}").status_code == 404
    assert "Export reports as CSV" not in visitor.get("/b/features").text
    assert api.get("/api/v1/search?q=casino").json["total"] == 0
    assert api.get("/api/v1/search?q=harmless").json["total"] == 0
    queue = signed_in(app, make.user(Role.MODERATOR)).get("/moderation").text
    assert "Casino bonus" in queue
    with app.app_context():
        entry = db.session.scalar(db.select(AuditEntry).filter_by(action="idea.held_after_edit"))
        assert entry.actor_id == author.id
        assert (entry.before["body"], entry.after["body"]) == (
            "Harmless.",
            "Casino bonus, no links needed.",
        )

    approve(app, make, number)  # the moderator lets the new text through
    assert visitor.get(f"/ideas/{number}").status_code == 200
    assert api.get("/api/v1/search?q=casino").json["total"] == 1
    assert idea_created_deliveries(app) == 1  # published once: receivers heard of it already


def test_the_api_answers_a_held_edit_as_held(app, make, api):
    reviewed = make.board(hold_new_posts=True)
    author = new_account(make)
    number = make.idea(make.board("other", categories=()), author)  # a board without review
    held_board = make.idea(reviewed, author, "Dark mode for the editor", is_held=False)
    token = api.token(author)

    kept = api.patch(f"/api/v1/ideas/{number}", token, json={"body": "Still harmless."})
    assert kept.status_code == 200 and kept.json["held"] is False

    answer = api.patch(f"/api/v1/ideas/{held_board}", token, json={"body": "Now spam."})
    assert answer.status_code == 200
    assert answer.json["held"] is True and answer.json["body"] == "Now spam."
    assert api.get(f"/api/v1/ideas/{held_board}", token).json["held"] is True
    assert api.get(f"/api/v1/ideas/{held_board}").status_code == 404
    numbers = [idea["number"] for idea in api.get("/api/v1/ideas").json["ideas"]]
    assert numbers == [number]

    posted = api.post("/api/v1/ideas", token, json={"board": "features", "title": "Held too"})
    assert posted.status_code == 201 and posted.json["held"] is True


def test_staff_edits_and_tried_authors_are_not_held(app, make):
    board = make.board(hold_new_posts=True)
    newcomer = new_account(make)
    theirs = make.idea(board, newcomer, is_held=False)
    tried = make.user()  # two days old, with another idea out in public
    make.idea(board, tried, "An earlier idea of theirs", is_held=False)
    mine = make.idea(board, tried, is_held=False)

    assert (
        edit(signed_in(app, make.user(Role.MODERATOR)), theirs, body="Tidied.").status_code == 303
    )
    assert edit(signed_in(app, tried), mine, body="Better words.").status_code == 303
    assert not idea_row(app, theirs).is_held and not idea_row(app, mine).is_held

    trusted = new_account(make, is_trusted=True)
    own = make.idea(board, trusted, is_held=False)
    assert edit(signed_in(app, trusted), own, body="Trusted words.").status_code == 303
    assert not idea_row(app, own).is_held


def test_an_idea_approved_once_is_no_history_for_its_own_edit(app, make):
    """Two days old, one idea, approved: the approval was of its old text, so rewriting it
    waits for a moderator as a first post of theirs would."""
    board = make.board(hold_new_posts=True)
    author = make.user()  # past their first day
    only = make.idea(board, author, is_held=False)
    assert edit(signed_in(app, author), only, body="Casino bonus.").status_code == 303
    assert idea_row(app, only).is_held
    assert app.test_client().get(f"/ideas/{only}").status_code == 404


def test_a_held_idea_stays_held_when_its_author_edits_it(app, make):
    author = new_account(make)
    number = make.idea(make.board(hold_new_posts=True), author)
    assert idea_row(app, number).is_held
    client = signed_in(app, author)
    saved = edit(client, number, body="Clearer now.")
    assert WAITS in unescape(client.get(saved.headers["Location"]).text)
    assert idea_row(app, number).is_held
    with app.app_context():  # never public: nothing to record about a return to the queue
        assert db.session.scalar(db.select(AuditEntry.id)) is None


def test_a_held_edit_gives_its_voters_their_budget_votes_back(app, make):
    board = make.board(hold_new_posts=True, votes_per_user=1)
    author, voter = new_account(make), make.user()
    number = make.idea(board, author, is_held=False)
    other = make.idea(board, make.user(), "Dark mode for the editor", is_held=False)
    client = signed_in(app, voter)
    client.post(f"/ideas/{number}/vote")
    client.post(f"/ideas/{other}/vote")
    assert idea_row(app, other).vote_count == 0  # the one budget vote is spent

    assert edit(signed_in(app, author), number, body="Casino bonus.").status_code == 303
    client.post(f"/ideas/{other}/vote")
    assert idea_row(app, other).vote_count == 1


def test_an_idea_held_again_waits_from_its_edit_not_from_its_post(app, make):
    """Months old but held again today: it queues behind older waiting posts and no reminder
    calls it late."""
    board = make.board(hold_new_posts=True)
    mona = make.user(Role.MODERATOR, name="Mona")
    author = new_account(make)
    long_ago = utcnow() - timedelta(days=90)
    old = make.idea(board, author, "An idea from long ago", created_at=long_ago, is_held=False)
    waiting = make.idea(board, make.user(), "Waiting since yesterday", is_held=True,
                        created_at=utcnow() - timedelta(hours=20))  # fmt: skip
    client = signed_in(app, author)
    assert edit(client, old, "An idea from long ago", "Now with a new text.").status_code == 303
    assert idea_row(app, old).is_held

    queue = signed_in(app, mona).get("/moderation").text
    assert queue.index("Waiting since yesterday") < queue.index("An idea from long ago")
    with app.app_context():
        drain()
        told = db.session.scalars(db.select(Notification.text).filter_by(user_id=mona.id)).all()
    assert not [text for text in told if "waited over 48 hours" in text]
    assert idea_row(app, waiting).is_held
