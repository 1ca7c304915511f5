"""Posting and editing ideas: validation, safe Markdown, numbering, edit rules, held posts."""

import re
from html import unescape
from html.parser import HTMLParser

import pytest

from conftest import htmx_headers
from portal.extensions import db
from portal.models import AuditEntry, Board, Idea, Role, User
from portal.operations.comments import add_comment

HELD = "Waiting for a moderator's approval"


def load_idea(app, number) -> Idea:
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        db.session.expunge(idea)
        return idea


def idea_count(app) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(Idea.id)))


def category_id(app, board_id, name="Reporting") -> str:
    with app.app_context():
        board = db.session.get(Board, board_id)
        return str(next(c.id for c in board.categories if c.name == name))


def number_from(response) -> int:
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/ideas/(\d+)", response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(1))


def post_idea(client, slug="features", title="Export reports as CSV", body="", headers=None,
              **fields):  # fmt: skip
    data = {"title": title, "body": body, **fields}
    return client.post(f"/b/{slug}/new", data=data, headers=headers or {})


def field_error(page: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    return unescape(found.group(1)) if found else ""


class Tags(HTMLParser):
    """The tags and attributes a browser would build from a piece of HTML."""

    def __init__(self, html: str):
        super().__init__()
        self.found = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def test_new_idea_form_page_and_fragment(client, make, auth):
    make.board()
    auth.login(make.user())
    page = client.get("/b/features/new")
    assert page.status_code == 200
    for label in ("Title", "Description", "Category"):
        assert f">{label}</label>" in page.text
    assert ">Post idea</button>" in page.text
    assert 'name="submission_key"' in page.text

    fragment = client.get("/b/features/new", headers=htmx_headers())
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert '<form id="idea-form"' in fragment.text


def test_visitor_may_write_and_is_asked_to_sign_in_when_posting(client, make, app):
    make.board()
    response = client.get("/b/features/new")
    assert response.status_code == 200 and 'name="title"' in response.text
    posted = post_idea(client)
    assert posted.status_code == 303 and posted.headers["Location"].startswith("/signin?next=")
    assert idea_count(app) == 0


def test_post_an_idea_with_markdown(client, make, auth, app):
    board = make.board()
    auth.login(make.user(name="Ada"))
    response = post_idea(
        client,
        title="  Export reports as CSV  ",
        body="Our **finance team** needs [the docs](https://example.com/docs).\n\n- one\n- two",
        category=category_id(app, board),
        submission_key="k1",
    )
    number = number_from(response)
    page = client.get(f"/ideas/{number}").text
    assert "Your idea is posted." in page
    assert "<h1>Export reports as CSV</h1>" in page
    assert "<strong>finance team</strong>" in page
    assert '<a href="https://example.com/docs" rel="nofollow ugc noopener">the docs</a>' in page
    assert "<li>one</li>" in page
    assert '<span class="tag">Reporting</span>' in page
    assert "by Ada" in page
    assert "Following (all activity)" in page  # posting subscribes the author
    assert 'data-vote-count="0"' in page

    fragment = client.get(f"/ideas/{number}", headers=htmx_headers())
    assert "<html" not in fragment.text
    assert 'id="idea-page"' in fragment.text and "<strong>finance team</strong>" in fragment.text
    assert f"/ideas/{number}" in client.get("/b/features?sort=new").text


HOSTILE_MARKDOWN = """\
Hello <script>alert("owned")</script>

<img src=x onerror=alert(1)>

[click me](javascript:alert(1)) and [also](JaVaScRiPt:alert(2))

<a href="javascript:alert(3)" onclick="alert(4)">raw link</a>

![pixel](https://evil.example/x.png)
"""


def test_markdown_is_sanitised(client, make, auth, app):
    make.board()
    auth.login(make.user())
    number = number_from(post_idea(client, body=HOSTILE_MARKDOWN))
    page = client.get(f"/ideas/{number}").text
    prose = re.search(r'<div class="prose">(.*?)</div>', page, re.S).group(1)
    assert "Hello" in prose and "click me" in prose
    assert "&lt;script&gt;" in prose  # raw HTML is shown as text, never run
    stored = load_idea(app, number).body_html
    for html in (prose, stored):
        tags = Tags(html).found
        assert {tag for tag, _ in tags} <= {"p", "a"}  # no script, no img
        assert not [name for _, attrs in tags for name in attrs if name.startswith("on")]
        assert not [a for tag, a in tags if "javascript" in a.get("href", "").lower()]


def test_control_characters_are_stripped(client, make, auth, app):
    make.board()
    auth.login(make.user())
    number = number_from(
        post_idea(client, title="Dark\x00 mode\x1b for the\x07 editor", body="One\x00\r\nTwo\x0c")
    )
    idea = load_idea(app, number)
    assert idea.title == "Dark mode for the editor"
    assert idea.body == "One\nTwo"
    assert "<h1>Dark mode for the editor</h1>" in client.get(f"/ideas/{number}").text


@pytest.mark.parametrize(
    ("title", "body", "field", "message"),
    [
        ("  Hey  ", "", "title", "The title needs 5 to 120 characters."),
        ("", "Some text", "title", "The title needs 5 to 120 characters."),
        ("T" * 121, "", "title", "The title needs 5 to 120 characters."),
        (
            "A fine title",
            "b" * 10_001,
            "body",
            "The description can have at most 10,000 characters.",
        ),
    ],
    ids=["short-after-trimming", "empty", "too-long", "body-too-long"],
)
def test_invalid_idea_shows_errors_next_to_fields_and_keeps_text(
    client, make, auth, app, title, body, field, message
):
    make.board()
    auth.login(make.user())
    for headers in ({}, htmx_headers()):
        response = post_idea(client, title=title, body=body, submission_key="k", headers=headers)
        assert response.status_code == 422
        assert field_error(response.text, field) == message
        assert ("<html" in response.text) is not bool(headers)
        if title.strip():
            assert f'value="{title}"' in response.text
        if body:
            assert f">\r\n{body}</textarea>" in response.text
    assert idea_count(app) == 0


@pytest.mark.parametrize(
    ("title", "body"),
    [("  Abcde  ", ""), ("T" * 120, "b" * 10_000)],
    ids=["five-after-trimming", "longest"],
)
def test_limits_are_inclusive(client, make, auth, app, title, body):
    make.board()
    auth.login(make.user())
    number = number_from(post_idea(client, title=title, body=body))
    assert load_idea(app, number).title == title.strip()


def test_unknown_category_is_refused(client, make, auth, app):
    make.board()
    other = make.board("other", categories=("Mobile",))
    auth.login(make.user())
    response = post_idea(client, category=category_id(app, other, "Mobile"))
    assert response.status_code == 422
    assert field_error(response.text, "category") == "Choose one of this board's categories."
    assert idea_count(app) == 0


def test_double_submit_makes_one_idea(client, make, auth, app):
    make.board()
    auth.login(make.user())
    first = post_idea(client, submission_key="form-123")
    second = post_idea(client, submission_key="form-123")
    assert number_from(first) == number_from(second)
    assert idea_count(app) == 1
    third = post_idea(client, submission_key="form-456", confirmed="1")  # a new form
    assert number_from(third) != number_from(first)


def test_numbers_are_sequential_across_boards(client, make, auth):
    make.board("features")
    make.board("mobile")
    auth.login(make.user())
    posts = [
        ("features", "Export reports as CSV"),
        ("mobile", "Offline mode for the app"),
        ("features", "Dark theme for the editor"),
    ]
    numbers = [number_from(post_idea(client, slug, title)) for slug, title in posts]
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]
    assert "Offline mode for the app" in client.get(f"/ideas/{numbers[1]}").text


def test_author_edits_own_open_idea(client, make, auth, app):
    author = make.user()
    board = make.board()
    number = make.idea(board, author, "Export reports as CSV", "We need it.")
    auth.login(author)
    assert "Edit idea" in client.get(f"/ideas/{number}").text

    form = client.get(f"/ideas/{number}/edit")
    assert form.status_code == 200
    assert 'value="Export reports as CSV"' in form.text and "We need it.</textarea>" in form.text
    fragment = client.get(f"/ideas/{number}/edit", headers=htmx_headers())
    assert "<html" not in fragment.text and 'id="idea-form"' in fragment.text

    response = client.post(
        f"/ideas/{number}/edit",
        data={"title": "Export reports as Excel", "body": "And *CSV*.",
              "category": category_id(app, board)},
    )  # fmt: skip
    assert response.status_code == 303 and response.headers["Location"] == f"/ideas/{number}"
    page = client.get(f"/ideas/{number}").text
    assert "Your changes are saved." in page
    assert "<h1>Export reports as Excel</h1>" in page and "<em>CSV</em>" in page
    assert "edited by staff" not in page
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(AuditEntry.id))) == 0


def test_invalid_edit_keeps_the_text(client, make, auth, app):
    author = make.user()
    number = make.idea(make.board(), author, "Export reports as CSV")
    auth.login(author)
    response = client.post(f"/ideas/{number}/edit", data={"title": "Nah", "body": "Kept body"})
    assert response.status_code == 422
    assert field_error(response.text, "title") == "The title needs 5 to 120 characters."
    assert 'value="Nah"' in response.text and "Kept body</textarea>" in response.text
    assert load_idea(app, number).title == "Export reports as CSV"


def answer_officially(app, number):
    with app.app_context():
        owner = db.session.scalar(db.select(User).filter_by(role_value=int(Role.OWNER)))
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        add_comment(owner, idea, "We are looking into it.", official=True)
        db.session.commit()


def move_to_review(app, number):
    with app.app_context():
        db.session.scalar(db.select(Idea).filter_by(number=number)).status = "under_review"
        db.session.commit()


@pytest.mark.parametrize("answer", [move_to_review, answer_officially], ids=lambda f: f.__name__)
def test_author_cannot_edit_once_the_team_answered(client, make, auth, app, answer):
    author = make.user()
    make.user(Role.OWNER)
    number = make.idea(make.board(), author, "Export reports as CSV")
    answer(app, number)
    auth.login(author)
    assert "Edit idea" not in client.get(f"/ideas/{number}").text
    assert client.get(f"/ideas/{number}/edit").status_code == 403
    refused = client.post(f"/ideas/{number}/edit", data={"title": "Sneaky new title"})
    assert refused.status_code == 403
    assert "Not allowed" in refused.text
    assert load_idea(app, number).title == "Export reports as CSV"


def test_others_cannot_edit(client, make, auth, app):
    number = make.idea(make.board(), make.user(), "Export reports as CSV")
    auth.login(make.user())
    assert client.get(f"/ideas/{number}/edit").status_code == 403
    assert client.post(f"/ideas/{number}/edit", data={"title": "Hijacked"}).status_code == 403
    assert load_idea(app, number).title == "Export reports as CSV"


def test_moderator_edit_is_marked_and_audited(client, make, auth, app):
    number = make.idea(make.board(), make.user(), "Exprot reports as CVS", "pls")
    moderator = make.user(Role.MODERATOR)
    move_to_review(app, number)  # staff may edit whatever the status
    auth.login(moderator)
    response = client.post(
        f"/ideas/{number}/edit",
        data={"title": "Export reports as CSV", "body": "Please add CSV export."},
    )
    assert response.status_code == 303
    page = client.get(f"/ideas/{number}").text
    assert "<h1>Export reports as CSV</h1>" in page and "edited by staff" in page
    with app.app_context():
        (entry,) = db.session.scalars(db.select(AuditEntry)).all()
        assert (entry.action, entry.actor_id) == ("idea.edit", moderator.id)
        assert entry.target_type == "idea"
        assert entry.before["title"] == "Exprot reports as CVS" and entry.before["body"] == "pls"
        assert entry.after["title"] == "Export reports as CSV"
        assert entry.after["body"] == "Please add CSV export."


@pytest.mark.parametrize("role", [None, Role.CUSTOMER], ids=["visitor", "customer"])
def test_private_board_ideas_are_not_found(client, make, auth, role):
    board = make.board("sandbox", is_private=True)
    number = make.idea(board, make.user(Role.OWNER), "Secret roadmap item")
    if role:
        auth.login(make.user(role))
    response = client.get(f"/ideas/{number}")
    assert response.status_code == 404
    assert "Secret roadmap item" not in response.text
    assert client.get(f"/ideas/{number}", headers=htmx_headers()).status_code == 404
    assert client.get("/b/sandbox/new").status_code in (303, 404)


def test_staff_see_private_board_ideas(client, make, auth):
    number = make.idea(make.board("sandbox", is_private=True), make.user(), "Secret item")
    auth.login(make.user(Role.MODERATOR))
    assert "Secret item" in client.get(f"/ideas/{number}").text


def test_held_post_is_shown_only_to_its_author_and_moderators(app, make):
    from conftest import Auth

    make.board(hold_new_posts=True)
    author, neighbour, moderator = make.user(), make.user(), make.user(Role.MODERATOR)
    clients = {}
    for name, user in (("author", author), ("neighbour", neighbour), ("moderator", moderator)):
        clients[name] = app.test_client()
        Auth(clients[name]).login(user)
    clients["visitor"] = app.test_client()

    number = number_from(post_idea(clients["author"], title="Please hold this idea"))
    own = clients["author"].get(f"/ideas/{number}").text
    assert "waits for a moderator's approval before others can see it" in unescape(own)
    assert HELD in own and "Please hold this idea" in own

    for name in ("neighbour", "visitor"):
        assert clients[name].get(f"/ideas/{number}").status_code == 404
        assert "Please hold this idea" not in clients[name].get("/b/features").text
    assert HELD in clients["moderator"].get(f"/ideas/{number}").text
