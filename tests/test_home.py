"""The home page invites action: a way to post, boards with labelled counts, the most wanted
and the recently completed ideas with labelled figures."""

import re
from datetime import timedelta

import pytest
from browser import ARTIFACTS
from playwright.sync_api import expect
from sqlalchemy import event
from test_browser import browse, screenshot

from conftest import htmx_headers
from portal import statuses
from portal.extensions import db
from portal.models import Board, utcnow
from portal.queries import phase_tallies

# Title, status and votes of the ideas the screenshots show.
SHOWN = [
    ("Export every report as CSV", "planned", 42),
    ("Dark mode", "open", 17),
    ("Single sign-on with Okta", "started", 9),
    ("Keyboard shortcuts", "under_review", 1),
    ("Audit log export", "completed", 23),
    ("Slack notifications", "completed", 5),
]


def post_links(page: str) -> list[str]:
    """Where each "Post an idea" link on the page goes, in order."""
    return re.findall(r'<a class="button[^"]*" href="([^"]+)">Post an idea', page)


def test_one_board_posts_straight_to_its_form(client, make):
    make.board("features")
    page = client.get("/").text
    assert post_links(page) == ["/b/features/new"]
    assert client.get("/b/features/new").status_code == 200


def test_several_boards_offer_a_choice(client, make):
    make.board("features", name="Feature requests")
    make.board("mobile", name="Mobile app")
    page = client.get("/").text
    assert post_links(page) == ["#boards", "/b/features/new", "/b/mobile/new"]
    assert 'id="boards"' in page


def test_no_boards_no_call_to_post(client):
    assert post_links(client.get("/").text) == []


def board_card(page: str, name: str) -> str:
    start = page.index(f">{name}</a>")
    return page[start : page.index("</li>", start)]


def test_board_cards_count_ideas_by_phase(client, make):
    features, mobile = make.board("features", name="Features"), make.board("mobile", name="Mobile")
    author = make.user()
    for status in ("open", "open", "under_review", "planned", "started", "completed",
                   "declined", "duplicate"):  # fmt: skip
        make.idea(features, author, f"A {status} idea", status=status)
    make.idea(mobile, author, "Offline mode", status="completed")
    make.idea(features, author, "Hidden idea", is_hidden=True)
    page = client.get("/").text
    features_card = board_card(page, "Features")
    assert "3 open ideas" in features_card
    assert "2 planned or in progress" in features_card
    assert "1 completed" in features_card
    mobile_card = board_card(page, "Mobile")
    assert "0 open ideas" in mobile_card
    assert "0 planned or in progress" in mobile_card
    assert "1 completed" in mobile_card


def test_the_board_list_fragment_keeps_its_counts_and_links(client, make):
    make.board("features", name="Features")
    make.board("mobile", name="Mobile")
    fragment = client.get("/", headers=htmx_headers()).text
    assert fragment.lstrip().startswith('<ul class="board-list" id="boards">')
    assert "0 open ideas" in board_card(fragment, "Mobile")
    assert post_links(fragment) == ["/b/features/new", "/b/mobile/new"]


def test_board_counts_take_one_query(app, make):
    boards = [make.board(slug) for slug in ("one", "two", "three")]
    author = make.user()
    for board in boards:
        make.idea(board, author, status="planned")
    with app.test_request_context():
        statuses.current()  # the workflow is read once per process, not per board
        loaded = db.session.scalars(db.select(Board)).all()
        statements = []

        def record(_connection, _cursor, statement, *_rest):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            tallies = phase_tallies(loaded)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert len(statements) == 1
    assert [t["active"] for t in tallies.values()] == [1, 1, 1]


def popular_section(page: str) -> str:
    start = page.index("Most wanted")
    return page[start : page.index("</section>", start)]


def test_most_wanted_are_sorted_by_votes_and_labelled(client, make):
    board = make.board()
    author = make.user()
    ideas = [("Some votes", 12, "open"), ("Most votes", 40, "planned"),
             ("One vote", 1, "under_review"), ("Shipped", 90, "completed")]  # fmt: skip
    for title, votes, status in ideas:
        make.idea(board, author, title, vote_count=votes, status=status)
    section = popular_section(client.get("/").text)
    titles = re.findall(r'<a href="/ideas/\d+[^"]*">([^<]+)</a>', section)
    assert titles == ["Most votes", "Some votes", "One vote"]
    figures = re.findall(r'<span class="count"><strong>(\d+)</strong> (\w+)</span>', section)
    assert figures == [("40", "votes"), ("12", "votes"), ("1", "vote")]
    assert 'data-status="planned"' in section and 'data-status="under_review"' in section
    assert "Shipped" not in section


def test_recently_completed_are_labelled(client, make):
    board = make.board()
    author = make.user()
    make.idea(board, author, "Dark mode", status="completed", vote_count=42,
              status_changed_at=utcnow() - timedelta(days=3))  # fmt: skip
    make.idea(board, author, "CSV export", status="completed", vote_count=7,
              status_changed_at=utcnow() - timedelta(days=1))  # fmt: skip
    page = client.get("/").text
    section = page[page.index("Recently completed") :]
    section = section[: section.index("</section>")]
    assert section.index("CSV export") < section.index("Dark mode")
    assert "<strong>42</strong> votes" in section
    assert "<strong>7</strong> votes" in section
    assert "completed 3 days ago" in section
    assert "completed 1 day ago" in section


@pytest.mark.browser
def test_home_page_at_phone_and_laptop_width(chromium, live, factory):
    features = factory.board("features", name="Feature requests", votes_per_user=10)
    factory.board("mobile", name="Mobile app")
    author = factory.user(name="Mira Author")
    for title, status, votes in SHOWN:
        factory.idea(features, author, title, status=status, vote_count=votes,
                     status_changed_at=utcnow() - timedelta(days=2))  # fmt: skip
    for name, viewport in [("phone", {"width": 375, "height": 812}),
                           ("laptop", {"width": 1280, "height": 900})]:  # fmt: skip
        context, browsing = browse(chromium, live, javascript=False, viewport=viewport)
        page = browsing.page
        page.goto("/")
        expect(page.get_by_role("link", name="Post an idea").first).to_be_visible()
        expect(page.get_by_text("42 votes")).to_be_visible()
        expect(page.get_by_text("2 planned or in progress").first).to_be_visible()
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= viewport["width"], f"{name}: {wide}px wide"
        screenshot(page, f"home_{name}")
        assert (ARTIFACTS / f"home_{name}.png").exists()
        page.get_by_role("link", name="Post an idea").first.click()
        expect(page).to_have_url(re.compile(r"#boards$"))
        context.close()
