"""Idea cards on board pages and search results (issue 21): labels, a plain excerpt, the
comments every reader sees and, on budget boards, the weight the reader gave."""

import gzip
import re
import secrets

import pytest
from sqlalchemy import event

from conftest import htmx_headers, vote_for
from portal.extensions import db
from portal.markup import plain_excerpt, render_markdown
from portal.models import Category, Comment, Idea, Role, User
from portal.operations.comments import add_comment
from portal.operations.moderation import moderate
from portal.operations.votes import cast_vote

MARKED_UP = (
    "## Why\n\nWe **really** need   _CSV_ exports of [every report](https://example.com/r)"
    " and <b>raw</b> tags &amp; entities.\n\n- one\n- two\n\n"
    + " ".join(f"word{n}" for n in range(80))
)
CARD = re.compile(r'<article class="idea-card" id="idea-(\d+)">(.*?)</article>', re.S)
EXCERPT = re.compile(r'<p class="excerpt">(.*?)</p>', re.S)


def cards(html: str) -> dict[int, str]:
    return {int(number): body for number, body in CARD.findall(html)}


def test_an_excerpt_is_plain_text_cut_at_a_word():
    excerpt = plain_excerpt(render_markdown(MARKED_UP))
    assert excerpt.startswith("Why We really need CSV exports of every report and <b>raw</b>")
    assert "&amp;" not in excerpt and "tags & entities. one two word0" in excerpt
    assert "**" not in excerpt and "_CSV_" not in excerpt and "](" not in excerpt
    assert "  " not in excerpt and "\n" not in excerpt
    assert excerpt.endswith("…") and 160 <= len(excerpt) <= 181
    last = excerpt[:-1].rsplit(" ", 1)[1]
    assert re.fullmatch(r"word\d+", last) and f" {last} " in MARKED_UP  # a whole word


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Short and sweet.", "Short and sweet."),
        ("", ""),
        ("line one\nline two\n\n\n   line three", "line one line two line three"),
        ("x" * 400, "x" * 180 + "…"),  # one endless word is cut where it must be
    ],
)
def test_short_and_odd_bodies(body, expected):
    assert plain_excerpt(render_markdown(body)) == expected


def test_a_long_body_is_read_only_as_far_as_needed_but_never_comes_out_short():
    # Links take many characters of HTML and few of text: the first slice reads short.
    links = " ".join(f"[a](https://example.com/{'p' * 200}{n})" for n in range(20))
    excerpt = plain_excerpt(render_markdown(links + " " + "tail " * 60))
    assert excerpt.startswith("a a a") and "tail" in excerpt and excerpt.endswith("…")


@pytest.fixture
def discussed(app, make):
    """A planned idea in Reporting with a Markdown body, two public comments, an internal
    note, a hidden comment and a deleted one."""
    board = make.board()
    author = make.user(name="Author")
    number = make.idea(board, author, "Export every report as CSV", MARKED_UP, status="planned")
    owner = make.user(Role.OWNER)
    moderator = make.user(Role.MODERATOR)
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        idea.category = db.session.scalar(db.select(Category).filter_by(name="Reporting"))
        people = {u.id: db.session.get(User, u.id) for u in (author, owner, moderator)}
        for text in ("Yes please", "Me too"):
            add_comment(people[author.id], idea, text)
        add_comment(people[owner.id], idea, "Internal: big customer asks", internal=True)
        for action in ("hide", "delete"):
            comment = add_comment(people[author.id], idea, f"Spam to {action}")
            db.session.flush()
            moderate(people[moderator.id], "comment", comment, action, "spam")
        db.session.commit()
        assert db.session.scalar(db.select(db.func.count(Comment.id))) == 5
    return number, owner


@pytest.mark.parametrize("where", ["/b/features", "/search?q=report"])
@pytest.mark.parametrize("staff", [False, True])
def test_a_card_shows_labels_excerpt_and_the_comments_everyone_sees(
    client, auth, discussed, where, staff
):
    number, owner = discussed
    if staff:
        auth.login(owner)  # staff read the note and the hidden comment, but not in a count
    page = client.get(where).text
    card = cards(page)[number]
    assert '<span class="status status-active" data-status="planned">Planned</span>' in card
    assert '<span class="tag">Reporting</span>' in card
    assert "2 comments" in card
    if where.startswith("/b/"):
        (excerpt,) = EXCERPT.findall(card)
        assert excerpt == str(plain_excerpt(render_markdown(MARKED_UP))).replace(
            "&", "&amp;"
        ).replace("<", "&lt;").replace(">", "&gt;")
        assert "<b>" not in card and "<strong>" not in card and "<h3>" not in card
        assert excerpt.startswith("Why We really need CSV exports")
    else:
        assert '<p class="snippet">' in card  # search shows the hit's highlighted snippet


def test_a_card_without_a_description_shows_no_empty_excerpt(client, make):
    board = make.board()
    make.idea(board, make.user(), "An idea with nothing more to say", body="")
    page = client.get("/b/features").text
    assert "An idea with nothing more to say" in page and 'class="excerpt"' not in page


@pytest.fixture
def boards(app, make):
    """A budget board and one without a budget, each with an idea Alice gave 3 votes."""
    budget = make.board("mobile", votes_per_user=5, max_votes_per_idea=3)
    free = make.board("web", max_votes_per_idea=3)
    author = make.user()
    numbers = {
        slug: make.idea(board, author, f"Offline mode for {slug}")
        for slug, board in (("mobile", budget), ("web", free))
    }
    alice, bob = make.user(name="Alice"), make.user(name="Bob")
    with app.app_context():
        person = db.session.get(User, alice.id)
        for number in numbers.values():
            cast_vote(person, db.session.scalar(db.select(Idea).filter_by(number=number)), 3)
        db.session.commit()
    return numbers, alice, bob


def gave(card: str) -> str | None:
    found = re.search(r'<span class="gave" id="gave-\d+"( hidden)?>(.*?)</span>', card)
    return None if found is None else found.group(2)


def test_the_weight_given_shows_on_budget_boards_to_its_giver_only(app, boards):
    numbers, alice, bob = boards
    clients = {}
    for person in (alice, bob):
        clients[person.name] = client = app.test_client()
        client.post("/signin", data={"email": person.email, "password": "correct horse battery"})
        client.get("/")  # shows the welcome message: a page with a message is never shared
    # Bob's page is filled in over the render kept for Alice (portal/memberpages.py).
    seen = {name: client.get("/b/mobile").text for name, client in clients.items()}
    kept = app.extensions["pagecache"]._pages
    assert any(key[0] == "member" and key[3] == "/b/mobile" for key in kept)
    assert gave(cards(seen["Alice"])[numbers["mobile"]]) == "You gave 3 votes"
    assert gave(cards(seen["Bob"])[numbers["mobile"]]) == ""
    assert "You gave" not in seen["Bob"]
    visitor = app.test_client().get("/b/mobile").text
    assert gave(cards(visitor)[numbers["mobile"]]) == "" and "You gave" not in visitor
    # No budget, no count to keep: the widget's "✓ Voted ×3" says it all.
    web = clients["Alice"].get("/b/web").text
    assert "✓ Voted ×3" in web and gave(cards(web)[numbers["web"]]) is None
    found = clients["Alice"].get("/search?q=offline").text
    assert gave(cards(found)[numbers["mobile"]]) == "You gave 3 votes"
    assert gave(cards(found)[numbers["web"]]) is None


def test_a_vote_from_a_card_updates_its_mark_and_only_there(app, boards):
    numbers, alice, bob = boards
    client = app.test_client()
    client.post("/signin", data={"email": bob.email, "password": "correct horse battery"})
    number = numbers["mobile"]
    from_card = client.post(
        f"/ideas/{number}/vote",
        data={"action": "vote", "weight": "2", "card": "1"},
        headers=htmx_headers(),
    ).text
    assert (
        f'<span class="gave" id="gave-{number}" hx-swap-oob="true">You gave 2 votes</span>'
        in from_card
    )
    # The idea page's widget has no card around it: nothing out of band to miss its target.
    from_page = client.post(
        f"/ideas/{number}/vote", data={"action": "retract"}, headers=htmx_headers()
    ).text
    assert "Remove vote" not in from_page and 'id="gave-' not in from_page
    assert gave(cards(client.get("/b/mobile").text)[number]) == ""


def statements(app, client, path: str) -> int:
    seen = []

    def note(*_args):
        seen.append(1)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", note)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
    return len(seen)


@pytest.mark.parametrize("where", ["/b/mobile?sort=new", "/search?q=export"])
def test_a_page_of_twenty_cards_costs_the_queries_of_one(
    app, make, auth, client, monkeypatch, where
):
    monkeypatch.setitem(app.config, "PAGE_CACHE_SECONDS", 0)  # count a real render
    board = make.board("mobile", votes_per_user=50, max_votes_per_idea=3)
    people = [make.user() for _ in range(2)]
    first = make.idea(board, people[0], "Export number one", MARKED_UP)
    vote_for(app, first, people[1])
    auth.login(people[1])
    client.get(where)  # first-time look-ups (settings, statuses) aside
    one = statements(app, client, where)
    for n in range(24):
        number = make.idea(board, people[n % 2], f"Export number {n + 2}", MARKED_UP)
        with app.app_context():
            idea = db.session.scalar(db.select(Idea).filter_by(number=number))
            add_comment(db.session.get(User, people[0].id), idea, "Yes")
            db.session.commit()
        vote_for(app, number, people[1])
    page = client.get(where).text
    assert len(cards(page)) == 20 and page.count("You gave 1 vote") == 20
    assert statements(app, client, where) == one


def test_a_full_board_page_stays_small(app, make, auth, client):
    """Twenty cards with the longest titles and bodies, weighted votes and a budget: the
    page a phone downloads stays under 60 KB compressed."""
    board = make.board("mobile", votes_per_user=50, max_votes_per_idea=3)
    people = [make.user(), make.user()]
    for n in range(20):
        # Words that differ from card to card: compression finds no repeats to fold.
        words = " ".join(secrets.token_urlsafe(6) for _ in range(1000))
        title = f"{n:02d} {words}"[:120].strip()
        number = make.idea(board, people[0], title, words)
        vote_for(app, number, people[1])
    auth.login(people[1])
    client.get("/")  # the welcome message
    page = client.get("/b/mobile").data
    assert len(cards(page.decode())) == 20
    assert len(gzip.compress(page)) < 60_000
