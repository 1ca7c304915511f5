"""No input, however odd, breaks a page or runs as script, and each field stores what it
was given, transformed only as SPEC section 9 says.

A sample of both corpora goes through the real forms and routes: the Big List of Naughty
Strings (every fourth string: the odd encodings, scripts and lengths that input handling
is about), every 40th XSS payload and a few strings of our own, into every field people
type into and every part of a URL. Each answer must be a page (never a 500) that runs
nothing, and what is stored must be the input after control characters are stripped,
line endings made "\n" and surrounding whitespace trimmed (and, in one-line fields such
as titles and names, every run of whitespace made one space). Rendering every payload
everywhere is tests/test_hostile_rendering.py's job, with data written in bulk.
"""

import re
from urllib.parse import quote

import pytest
from hostile import (
    assert_inert,
    insert_rows,
    naughty_strings,
    one_line,
    webhook_url,
    xss_payloads,
)

from conftest import PASSWORD, htmx_headers
from portal.extensions import db
from portal.markup import clean_text
from portal.models import Board, Category, Comment, Flag, Idea, Role, StatusChange, User, Webhook
from portal.settings import site_settings

pytestmark = pytest.mark.long  # make test-long: the corpora through every form

EXTRA = [
    "\x00",
    "Null\x00byte in the middle",
    "\ufeffBOM first",
    "\ud7ff\ue000\uffff",
    "﷽" * 30,
    "a" * 10_001,
    "x" * 121,
    "<scr<script>ipt>alert(1)</script>",
    '"><svg/onload=alert(1)>',
    "javascript:alert(document.domain)",
    "{{ config }}{% raw %}{% endraw %}",
    "'; DROP TABLE idea; --",
    "% _ \\ ' \" ` $ ( ) *",
    "2147483648",
    "99999999999999999999",
    "-1",
    "⁰⁴⁵",
    "١٢٣",
    "line\r\nbreaks\rand\ttabs\x0b\x0c",
    "\u202eright-to-left override\u202c",
]
HOSTILE = naughty_strings()[::4] + xss_payloads()[::40] + EXTRA
ADMIN_SAMPLE = HOSTILE[::4]  # each admin form is a few requests


@pytest.fixture(scope="module")
def hostile():
    assert len(naughty_strings()) == 515 and len(xss_payloads()) > 1800
    return HOSTILE


@pytest.fixture
def generous_limits(app, roomy_limits):
    """Hundreds of posts from one person in a minute are the point here."""
    # Hundreds of index commits would dominate the run; the worker's path is tested elsewhere.
    app.config["SEARCH_APPLY_IN_REQUEST"] = False
    yield
    app.config["SEARCH_APPLY_IN_REQUEST"] = True


@pytest.fixture
def board_with_ideas(make):
    board = make.board()
    author = make.user(name="Ada")
    make.idea(board, author, "Export reports as CSV", status="planned")
    make.idea(board, author, "Dark mode for the editor")
    return board


# --- the tests ----------------------------------------------------------------------------


def test_idea_title_and_description(client, auth, make, generous_limits, hostile):
    make.board()
    auth.login(make.user())
    for n, text in enumerate(hostile[::25]):  # a first submit looks for similar ideas
        posted = client.post(
            "/b/features/new", data={"title": text, "body": text, "submission_key": f"s{n}"}
        )
        assert_inert(posted, f"similar ideas for {text!r}")
    for n, text in enumerate(hostile):
        posted = client.post(
            "/b/features/new",
            data={"title": text, "body": text, "submission_key": f"a{n}", "confirmed": "1"},
        )
        assert_inert(posted, f"new idea {text!r}")
        if posted.status_code != 303:  # refused, or similar ideas shown first: post anyway
            posted = client.post(
                "/b/features/new",
                data={"title": f"#{n} {text}"[:120], "body": text[:10_000],
                      "submission_key": f"b{n}", "confirmed": "1"},
            )  # fmt: skip
            assert_inert(posted, f"new idea #{n} {text!r}")
        if posted.status_code == 303:
            location = posted.headers["Location"]
            assert_inert(client.get(location), f"idea page for {text!r}")
            stored = stored_idea(client.application, location)
            assert stored.title in (one_line(text), one_line(f"#{n} {text}"[:120]))
            assert stored.body in (clean_text(text), clean_text(text[:10_000]))
            if n % 10 == 0:
                assert_inert(client.get(location, headers=htmx_headers()), f"fragment {text!r}")
                assert_inert(client.get(f"{location}/edit"), f"edit form {text!r}")
    for page in range(1, len(hostile) // 20 + 2):
        listing = client.get(f"/b/features?sort=new&page={page}")
        assert_inert(listing, f"board page {page}")
    assert_inert(client.get("/me"), "profile")


def test_comments(client, auth, make, generous_limits, hostile):
    board = make.board()
    author = make.user()
    auth.login(make.user())
    numbers = []
    for n, text in enumerate(hostile):
        if n % 50 == 0:  # keep each page to fifty comments
            numbers.append(make.idea(board, author, f"Discussion {n}"))
        posted = client.post(f"/ideas/{numbers[-1]}/comments", data={"body": text})
        assert_inert(posted, f"comment {text!r}")
        if posted.status_code == 303:
            comment_id = int(posted.headers["Location"].rpartition("-")[2])
            with client.application.app_context():
                assert db.session.get(Comment, comment_id).body == clean_text(text)
        else:
            assert not clean_text(text) or len(clean_text(text)) > 5_000, text
    for number in numbers:
        assert_inert(client.get(f"/ideas/{number}"), f"idea {number}")
        fragment = client.post(
            f"/ideas/{number}/comments", data={"body": HOSTILE[number]}, headers=htmx_headers()
        )
        assert_inert(fragment, f"comments fragment {number}")


def test_sign_up_display_name(app, make, generous_limits, hostile):
    idea = make.idea(make.board(), make.user())
    for n, text in enumerate(hostile):
        client = app.test_client()
        email = f"naughty{n}@example.com"
        signed_up = client.post(
            "/signup", data={"email": email, "name": text, "password": PASSWORD}
        )
        assert_inert(signed_up, f"sign-up as {text!r}")
        if signed_up.status_code != 303:
            assert not 1 <= len(one_line(text)) <= 80, text
            continue
        with app.app_context():
            assert db.session.scalar(db.select(User.name).filter_by(email=email)) == one_line(text)
        welcome = client.post(
            "/signin", data={"email": email, "password": PASSWORD}, follow_redirects=True
        )
        assert_inert(welcome, f"welcome for {text!r}")  # the name is in the flash and header
        if n % 5 == 0:
            client.post(f"/ideas/{idea}/comments", data={"body": "Hello from me"})
    assert_inert(app.test_client().get(f"/ideas/{idea}"), "idea with naughty commenters")


def test_sign_in_and_reset_fields(client, generous_limits, hostile):
    for text in hostile:
        assert_inert(client.post("/signin", data={"email": text, "password": text}), text)
        assert_inert(client.post("/reset", data={"email": text}), text)


def test_board_filters(client, board_with_ideas, hostile):
    for n, text in enumerate(hostile):
        filters = {name: text for name in ("sort", "status", "category", "page")}
        response = client.get("/b/features", query_string=filters)
        assert response.status_code == 200, text
        if not text.isdecimal():  # a number is a real page; anything else is ignored
            assert "Export reports as CSV" in response.text, text
        assert_inert(response, f"filters {text!r}")
        if n % 10 == 0:
            fragment = client.get("/b/features", query_string=filters, headers=htmx_headers())
            assert fragment.status_code == 200 and "<html" not in fragment.text
            assert_inert(fragment, f"fragment with filters {text!r}")


def test_vote_weight(client, auth, make, generous_limits, hostile):
    number = make.idea(make.board(max_votes_per_idea=3), make.user())
    auth.login(make.user())
    for n, text in enumerate(hostile):
        fragment = client.post(
            f"/ideas/{number}/vote", data={"weight": text}, headers=htmx_headers()
        )
        assert fragment.status_code == 200, text
        assert_inert(fragment, f"weight {text!r}")
        if n % 10 == 0:  # the plain form, and the page that shows its message
            voted = client.post(f"/ideas/{number}/vote", data={"weight": text, "next": text})
            assert voted.status_code == 303, text
            assert_inert(client.get(voted.headers["Location"]), f"after weight {text!r}")


def test_urls(client, auth, make, board_with_ideas, hostile):
    auth.login(make.user())
    for text in hostile[::2]:  # each is six requests
        part = quote(text.encode("utf-8", "surrogatepass"), safe="")
        for path in (f"/ideas/{part}", f"/b/{part}", f"/{part}", f"/comments/{part}/edit"):
            response = client.get(path)
            assert response.status_code in (200, 404, 405), path
            assert_inert(response, path)
        for path in ("/signin", "/search"):
            assert_inert(client.get(path, query_string={"next": text, "q": text}), path)


def test_invalid_utf8_and_raw_bytes(client, auth, make, board_with_ideas, generous_limits):
    number = make.idea(board_with_ideas, make.user(), "Bytes idea here")
    auth.login(make.user())
    form = {"content_type": "application/x-www-form-urlencoded"}
    raw_bodies = [
        b"title=%FF%FE%FDbroken&body=%C3%28%A0%A1",
        b"title=Valid+title&body=%ED%A0%80surrogate",
        b"title=%00%00%00%00%00&body=%00",
        b"title=\xff\xfe raw&body=\xc3\x28",
        b"%%%&&&===",
    ]
    for body in raw_bodies:
        assert_inert(client.post("/b/features/new", data=body, **form), repr(body))
        assert_inert(client.post(f"/ideas/{number}/comments", data=body, **form), repr(body))
        assert_inert(client.post("/signup", data=body, **form), repr(body))
    for query in ("sort=%FF", "status=%C3%28", "page=%00", "category=%ED%A0%80", "%%%"):
        assert client.get(f"/b/features?{query}").status_code == 200, query
    for path in ("/ideas/%FF", "/b/%C3%28", "/b/%00", "/%ED%A0%80", "/b/features/new%00"):
        assert client.get(path).status_code in (200, 404), path


def stored_idea(app, location: str) -> Idea:
    number = int(re.search(r"/ideas/(\d+)", location).group(1))
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        db.session.expunge(idea)
        return idea


def test_status_response(app, client, auth, make, generous_limits, hostile):
    """The team's public response: stored cleaned, shown on the page, never a 500."""
    number = make.idea(make.board(), make.user())
    auth.login(make.user(Role.OWNER))
    targets = ["planned", "started"]
    for n, text in enumerate(hostile):
        posted = client.post(f"/ideas/{number}/status",
                             data={"status": targets[n % 2], "response": text})  # fmt: skip
        assert_inert(posted, f"status response {text!r}")
        with app.app_context():
            latest = db.session.scalar(db.select(StatusChange).order_by(StatusChange.id.desc()))
            if posted.status_code == 303:
                assert latest.response == clean_text(text)
            else:
                assert len(clean_text(text)) > 10_000, text
                targets.reverse()  # the idea did not move
        if n % 10 == 0:
            assert_inert(client.get(f"/ideas/{number}"), f"idea with response {text!r}")
    assert_inert(client.get(f"/ideas/{number}/feed.atom"), "the idea's feed")


def test_flag_note(app, client, auth, make, generous_limits, hostile):
    author = make.user()
    with app.app_context():  # one idea per note: a person flags an item once
        first = make.idea(make.board(), author, "The first idea")
        board_id = db.session.scalar(db.select(Idea.board_id))
        insert_rows(
            Idea,
            [
                {
                    "number": first + 1 + n,
                    "board_id": board_id,
                    "author_id": author.id,
                    "title": f"Idea number {n}",
                    "body": "",
                    "body_html": "",
                }
                for n in range(len(hostile))
            ],
        )
        db.session.commit()
    auth.login(make.user())
    for n, text in enumerate(hostile):
        number = first + 1 + n
        posted = client.post(f"/ideas/{number}/flags", data={"reason": "other", "note": text},
                             headers=htmx_headers() if n % 2 else {})  # fmt: skip
        assert_inert(posted, f"flag note {text!r}")
        with app.app_context():
            note = db.session.scalar(db.select(Flag.note).order_by(Flag.id.desc()))
        if clean_text(text) and len(clean_text(text)) <= 500:
            assert note == clean_text(text), text
    auth.login(make.user(Role.MODERATOR))
    assert_inert(client.get("/moderation"), "review queue with the notes")


@pytest.fixture
def admin(client, auth, make):
    auth.login(make.user(Role.ADMIN))


def test_board_and_category_names(app, client, make, admin, generous_limits):
    slug = None
    for n, text in enumerate(ADMIN_SAMPLE):
        created = client.post("/admin/boards", data={"name": text, "slug": f"b{n}"})
        assert_inert(created, f"new board {text!r}")
        if created.status_code == 303:
            slug = f"b{n}"
            with app.app_context():
                board = db.session.scalar(db.select(Board).filter_by(slug=slug))
                assert board.name == clean_text(text)
        else:
            assert not 1 <= len(clean_text(text)) <= 80, text
        saved = client.post(f"/admin/boards/{slug or 'b0'}", data={
            "name": "Board", "description": text, "votes_per_user": "0",
            "max_votes_per_idea": "1"}, follow_redirects=True)  # fmt: skip
        assert_inert(saved, f"board description {text!r}")
        added = client.post(f"/admin/boards/{slug or 'b0'}/categories", data={"name": text},
                            follow_redirects=True)  # fmt: skip
        assert_inert(added, f"category {text!r}")
        with app.app_context():
            names = db.session.scalars(db.select(Category.name)).all()
        if re.search("[a-z0-9]", clean_text(text).lower()) and len(clean_text(text)) <= 80:
            assert clean_text(text) in names, text
    for path in ("/", "/admin/boards", "/roadmap", "/search", f"/b/{slug}", f"/b/{slug}/new"):
        assert_inert(client.get(path), path)


def test_guidelines(app, client, admin, generous_limits):
    for text in ADMIN_SAMPLE:
        saved = client.post("/admin/site", data={"site_name": "Stimme", "accent": "#1f6feb",
                                                 "guidelines": text})  # fmt: skip
        assert_inert(saved, f"guidelines {text!r}")
        if saved.status_code == 303:
            with app.test_request_context():
                assert site_settings()["guidelines"] == clean_text(text)
        else:
            assert len(clean_text(text)) > 5_000, text
    assert_inert(client.get("/admin/site"), "site settings")


def test_webhook_url(app, client, admin, generous_limits):
    """A payload as the address is refused (and shown again, inert); on a real address's
    path it is stored as given (never sent: nothing here runs the worker)."""
    for text in ADMIN_SAMPLE:
        refused = client.post("/admin/webhooks", data={"url": text, "events": "idea.created",
                                                       "description": text})  # fmt: skip
        assert_inert(refused, f"webhook address {text!r}")
        url = webhook_url(text)
        added = client.post("/admin/webhooks", data={"url": url, "events": "idea.created",
                                                     "description": text[:200]})  # fmt: skip
        assert_inert(added, f"webhook address {url!r}")
        if added.status_code == 303:
            with app.app_context():
                hook = db.session.scalar(db.select(Webhook).order_by(Webhook.id.desc()))
                assert hook.url == url and hook.description == one_line(text[:200])
                hook.is_active = False
                db.session.commit()
            assert_inert(client.get(added.headers["Location"]), f"webhook {url!r}")
    assert_inert(client.get("/admin/webhooks"), "webhooks")
    assert_inert(client.get("/admin/audit"), "audit log")
