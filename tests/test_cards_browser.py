"""Idea cards in a real browser at a phone's and a laptop's width: every part visible,
nothing wider than the screen. Screenshots go to tests/artifacts/cards_*.png."""

import re

import pytest
from browser import ARTIFACTS
from playwright.sync_api import expect

from conftest import PASSWORD
from portal.extensions import db
from portal.models import Category, Idea, User
from portal.operations.comments import add_comment
from portal.operations.votes import cast_vote

pytestmark = pytest.mark.browser

IDEAS = [
    ("Export every report as CSV", "planned", "Reporting", 2,
     "Our finance team rebuilds the **monthly report** by hand in a spreadsheet. A CSV export"
     " of every report, with the filters applied, would save them a day each month and"
     " remove copy-and-paste errors.\n\n- columns as shown\n- dates in ISO format"),
    ("Single sign-on with Okta", "started", "Integrations", 0,
     "We manage 400 people in Okta and want them to sign in without another password."),
    ("Dark mode", "open", None, 1,
     "Please add a dark theme that follows the system setting. Working late at night with"
     " a bright white page is tiring, and most of the tools we use have one by now."),
    ("Keyboard shortcuts for voting and moving between ideas on a board", "under_review",
     "Reporting", 0, ""),
]  # fmt: skip


@pytest.fixture
def board_page(live, factory):
    board = factory.board("product", votes_per_user=10, max_votes_per_idea=3,
                          name="Product ideas")  # fmt: skip
    author, voter = factory.user(name="Mira Author"), factory.user(name="Vera Voter")
    numbers = [factory.idea(board, author, title, body, status=status)
               for title, status, _category, _comments, body in IDEAS]  # fmt: skip
    with live.app.app_context():
        writer = db.session.get(User, author.id)
        for number, (_title, _status, category, comments, _body) in zip(
            numbers, IDEAS, strict=True
        ):
            idea = db.session.scalar(db.select(Idea).filter_by(number=number))
            idea.category = db.session.scalar(db.select(Category).filter_by(name=category))
            for n in range(comments):
                add_comment(writer, idea, f"Comment {n}")
        first = db.session.scalar(db.select(Idea).filter_by(number=numbers[0]))
        cast_vote(db.session.get(User, voter.id), first, 3)
        db.session.commit()
    return voter, numbers


@pytest.mark.parametrize(("name", "width"), [("phone", 375), ("laptop", 1280)])
def test_board_cards_read_well_on_a_phone_and_a_laptop(chromium, live, board_page, name, width):
    voter, numbers = board_page
    context = chromium.new_context(base_url=live.url, viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto("/signin")
        page.get_by_label("Email").fill(voter.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto("/b/product?status=")
        first = page.locator(f"#idea-{numbers[0]}")
        expect(first.locator(".excerpt")).to_contain_text("Our finance team rebuilds the monthly")
        expect(first.locator(".excerpt")).to_have_text(re.compile(r"\w…$"))
        expect(first.locator("[data-status]")).to_have_text("Planned")
        expect(first.locator(".tag")).to_have_text("Reporting")
        expect(first.locator(".comments")).to_have_text("2 comments")
        expect(first.locator(".gave")).to_have_text("You gave 3 votes")
        expect(page.locator(f"#idea-{numbers[1]} .gave")).to_be_hidden()
        expect(page.locator(f"#idea-{numbers[3]} .excerpt")).to_have_count(0)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        for card in page.locator(".idea-card").all():  # nothing spills out of a card
            box, summary = card.bounding_box(), card.locator(".idea-summary").bounding_box()
            assert summary["x"] + summary["width"] <= box["x"] + box["width"] + 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"cards_board_{name}.png"), full_page=True)
        page.goto("/search?q=report")
        found = page.locator(f"#results #idea-{numbers[0]}")
        expect(found.locator(".snippet mark").first).to_have_text(re.compile("report", re.I))
        expect(found.locator(".gave")).to_have_text("You gave 3 votes")
        expect(found.locator(".in-board")).to_have_text("in Product ideas")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(ARTIFACTS / f"cards_search_{name}.png"), full_page=True)
    finally:
        context.close()


def test_the_weight_given_follows_a_vote_without_reload(chromium, live, board_page):
    voter, numbers = board_page
    context = chromium.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    try:
        page.goto("/signin")
        page.get_by_label("Email").fill(voter.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto("/b/product?status=")
        page.evaluate("window.__marker = 1")
        first, second = (page.locator(f"#idea-{number}") for number in numbers[:2])
        first.get_by_label("Weight").select_option("2")
        first.get_by_role("button", name="Change").click()
        expect(first.locator(".gave")).to_have_text("You gave 2 votes")
        second.get_by_role("button", name="Vote", exact=True).click()
        expect(second.locator(".gave")).to_have_text("You gave 1 vote")
        first.get_by_role("button", name="Remove vote").click()
        expect(first.locator(".gave")).to_be_hidden()
        expect(page.locator("#budget")).to_contain_text("9 of 10 votes left")
        assert page.evaluate("window.__marker") == 1, "the page reloaded"
        assert errors == []
    finally:
        context.close()
