"""Keyboard alone, in chromium (issue 9): voting, posting, commenting and the review queue
work with Tab, Shift+Tab, Enter and Space; each htmx swap is read out by the one live
region (#announcer) and leaves focus where the person expects it.

No mouse and no clicks: a test starts at the top of a page and moves as a person would.
"""

import re

import pytest
from browser import ARTIFACTS
from playwright.sync_api import expect
from test_browser import TIMEOUT_MS, browse

from conftest import PASSWORD
from portal.models import Role
from portal.operations.status import RESPONSE_MAX

pytestmark = pytest.mark.browser

TAB_LIMIT = 80  # more presses than any page here needs to reach a control


@pytest.fixture
def page(chromium, live, factory):
    context, browsing = browse(chromium, live, javascript=True)
    yield browsing.page
    context.close()
    assert browsing.console_errors == [], browsing.console_errors


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def has_focus(locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def tab_to(page, target, key: str = "Tab") -> None:
    """Press Tab (or Shift+Tab) until target has focus; fails if it never gets there."""
    for _ in range(TAB_LIMIT):
        page.keyboard.press(key)
        if has_focus(target):
            return
    focused = page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
    raise AssertionError(f"{key} never reached {target}; focus is on {focused}")


def sign_in(page, user) -> None:
    page.goto("/signin")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"Welcome back, {user.name}.")).to_be_visible()


def announcer(page):
    return page.locator("#announcer")


def vote_button(page, number):
    """The button that casts the vote ("Vote") or takes it back ("Remove vote")."""
    return page.locator(f"#vote-{number} button[data-vote-toggle]")


def assert_focus_visible(page) -> None:
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused control shows no outline"


def toggle_vote(page, number, key: str, now: str, count: str, said: str) -> None:
    """Press the focused vote button; it comes back saying what it does now, focused."""
    page.keyboard.press(key)
    expect(vote_button(page, number)).to_have_text(now)
    expect(page.locator(f"#vote-{number} [data-vote-count]")).to_have_text(count)
    expect(announcer(page)).to_contain_text(said)
    expect(vote_button(page, number)).to_be_focused()
    assert_focus_visible(page)


def test_the_skip_link_comes_first_and_leads_into_the_page(page, factory):
    factory.board()
    page.goto("/b/features")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("main a").first).to_be_focused()


def test_vote_and_unvote_from_the_board_and_the_idea_page(page, factory):
    number = factory.idea(factory.board(), factory.user(), "Dark mode for the editor")
    sign_in(page, factory.user())
    page.goto("/b/features")
    tab_to(page, vote_button(page, number))
    expect(vote_button(page, number)).to_have_text("Vote")

    toggle_vote(page, number, "Space", "Remove vote", "1", "Your vote is counted: 1 vote in all.")
    screenshot(page, "keyboard_vote_board")
    toggle_vote(page, number, "Enter", "Vote", "0", "Your vote is taken back: 0 votes in all.")

    # On to the idea page by its title link, and the same there.
    tab_to(page, page.get_by_role("link", name="Dark mode for the editor"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/ideas/{number}"))
    tab_to(page, vote_button(page, number))
    toggle_vote(page, number, "Enter", "Remove vote", "1", "Your vote is counted")
    toggle_vote(page, number, "Space", "Vote", "0", "Your vote is taken back")


def test_post_an_idea(page, factory):
    factory.board(categories=())
    sign_in(page, factory.user())
    page.goto("/b/features")
    tab_to(page, page.get_by_role("link", name="Post an idea"))
    page.keyboard.press("Enter")
    title = page.get_by_label("Title", exact=True)
    tab_to(page, title)
    page.keyboard.type("Export reports as CSV")
    page.wait_for_load_state("networkidle")  # the similar-ideas lookup after typing
    expect(title).to_be_focused()  # the lookup's swap leaves the field alone
    page.keyboard.press("Tab")
    expect(page.get_by_label("Description")).to_be_focused()
    page.keyboard.type("Our finance team needs the monthly numbers.")
    tab_to(page, page.get_by_role("button", name="Post idea"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/ideas/\d+"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Export reports as CSV")
    expect(page.get_by_role("status")).to_contain_text("Your idea is posted.")  # a new page


def test_comment_on_an_idea(page, factory, live):
    number = factory.idea(factory.board(), factory.user())
    sign_in(page, factory.user(name="Carla Commenter"))
    page.goto(f"/ideas/{number}")
    box = page.get_by_label("Comment")
    tab_to(page, box)
    page.keyboard.type("We would use this every week.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Post comment")).to_be_focused()
    page.keyboard.press("Enter")

    comment = page.locator("#comments .event.comment")
    expect(comment).to_have_count(1)
    expect(comment).to_contain_text("We would use this every week.")
    expect(comment).to_be_focused()  # the new comment is read out where it now stands
    expect(announcer(page)).to_have_text("Your comment is posted.")
    expect(page.get_by_label("Comment")).to_have_value("")
    screenshot(page, "keyboard_comment")

    # From the new comment, the next Tab reaches the emptied box for another one.
    tab_to(page, page.get_by_label("Comment"))


def test_a_moderator_handles_the_review_queue(page, factory):
    board = factory.board()
    for title in ("Casino bonus codes", "Offline mode", "Export to Excel"):
        factory.idea(board, factory.user(), title, is_held=True)
    sign_in(page, factory.user(Role.MODERATOR, name="Mona Moderator"))
    page.goto("/moderation")
    items = page.locator(".queue-item")
    expect(items).to_have_count(3)

    # Approve the first: it leaves, and focus goes to the next item's first action.
    tab_to(page, items.nth(0).get_by_role("button", name="Approve", exact=True))
    page.keyboard.press("Enter")
    expect(items).to_have_count(2)
    expect(announcer(page)).to_have_text("Approve: done.")
    expect(items.nth(0).locator("button").first).to_be_focused()
    assert_focus_visible(page)

    # Hide the next, with a reason typed into the field just before its buttons.
    tab_to(page, items.nth(0).get_by_label("Reason for hiding"), key="Shift+Tab")
    page.keyboard.type("Breaks guideline 2: no ads")
    tab_to(page, items.nth(0).get_by_role("button", name="Hide"))
    page.keyboard.press("Space")
    expect(items).to_have_count(1)
    expect(announcer(page)).to_have_text("Hide: done.")
    expect(items.nth(0).locator("button").first).to_be_focused()
    screenshot(page, "keyboard_queue")

    # The last one: the queue is empty, focus rests on its heading.
    tab_to(page, items.nth(0).get_by_role("button", name="Approve", exact=True))
    page.keyboard.press("Enter")
    expect(items).to_have_count(0)
    expect(announcer(page)).to_have_text("Approve: done.")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    expect(page.get_by_text("Nothing waits for review.")).to_be_visible()


def test_hiding_without_a_reason_keeps_the_item_and_focus(page, factory):
    factory.idea(factory.board(), factory.user(), "Casino bonus codes", is_held=True)
    sign_in(page, factory.user(Role.MODERATOR))
    page.goto("/moderation")
    hide = page.locator(".queue-item").get_by_role("button", name="Hide")
    tab_to(page, hide)
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Say which guideline it breaks")
    expect(hide).to_be_focused()


def test_search_results_are_counted_aloud_and_the_field_keeps_focus(page, factory):
    board = factory.board()
    author = factory.user()
    factory.idea(board, author, "Export reports as CSV")
    factory.idea(board, author, "Export invoices to PDF")
    page.goto("/search")
    field = page.get_by_label("Search for")
    tab_to(page, field)
    page.keyboard.type("export")
    expect(announcer(page)).to_have_text("2 ideas found for “export”", timeout=TIMEOUT_MS)
    expect(page.locator("#results .idea-card")).to_have_count(2)
    expect(field).to_be_focused()


def test_status_dialog_opens_with_focus_inside_and_escape_closes_it(page, factory):
    number = factory.idea(factory.board(), factory.user(), "Dark mode for the editor")
    sign_in(page, factory.user(Role.OWNER))
    page.goto(f"/ideas/{number}")
    opener = page.get_by_role("link", name="Change status")
    tab_to(page, opener)
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_label("New status")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(opener).to_be_focused()

    page.keyboard.press("Enter")
    status = page.get_by_label("New status")
    expect(status).to_be_focused()
    page.keyboard.type("Planned")  # a closed select picks the option typed
    tab_to(page, page.get_by_role("dialog").get_by_role("button", name="Change status"))
    page.keyboard.press("Enter")
    expect(announcer(page)).to_have_text("The status is now Planned.")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("link", name="Change status")).to_be_focused()


def test_a_refused_status_change_keeps_the_page_and_focuses_the_field(page, factory):
    number = factory.idea(factory.board(), factory.user(), "Dark mode for the editor")
    sign_in(page, factory.user(Role.OWNER))
    page.goto(f"/ideas/{number}")
    tab_to(page, page.get_by_role("link", name="Change status"))
    page.keyboard.press("Enter")
    response = page.get_by_label("Public response")
    tab_to(page, response)
    page.keyboard.insert_text("far too long " * (RESPONSE_MAX // 10))
    tab_to(page, page.get_by_role("dialog").get_by_role("button", name="Change status"))
    page.keyboard.press("Enter")
    expect(response).to_have_attribute("aria-invalid", "true")
    expect(response).to_be_focused()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dark mode for the editor")


def test_paging_the_board_reads_the_page_and_starts_at_its_first_idea(page, factory, live):
    board = factory.board()
    author = factory.user()
    for title in ("Dark mode", "Export reports as CSV", "Offline mode"):
        factory.idea(board, author, title)
    per_page, live.app.config["PER_PAGE"] = live.app.config["PER_PAGE"], 2
    try:
        page.goto("/b/features?sort=new")
        tab_to(page, page.get_by_role("link", name="Next →"))
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"page=2"))
        expect(announcer(page)).to_have_text("1 idea on page 2.")
        expect(page.locator("#idea-list h2 a")).to_be_focused()
        tab_to(page, page.get_by_role("link", name="← Previous"))
        page.keyboard.press("Enter")
        expect(announcer(page)).to_have_text("2 ideas on page 1.")
        expect(page.locator("#idea-list h2 a").first).to_be_focused()
    finally:
        live.app.config["PER_PAGE"] = per_page


def test_follow_and_unfollow_an_idea_in_place(page, factory):
    number = factory.idea(factory.board(), factory.user(), "Calendar sync")
    sign_in(page, factory.user(name="Fiona Follower"))
    page.goto(f"/ideas/{number}")
    page.evaluate("window.notReloaded = true")
    follow = page.get_by_role("button", name="Follow", exact=True)
    tab_to(page, follow)
    page.keyboard.press("Enter")

    unfollow = page.get_by_role("button", name="Unfollow")
    expect(unfollow).to_be_focused()
    expect(page.locator("#follow .following")).to_have_text("Following (all activity)")
    expect(announcer(page)).to_have_text("You are following this idea.")
    screenshot(page, "keyboard_follow")

    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Follow", exact=True)).to_be_focused()
    expect(page.locator("#follow .following")).to_have_count(0)
    expect(announcer(page)).to_have_text("You will no longer get updates on this idea.")
    assert page.evaluate("window.notReloaded === true"), "the page was loaded again"

    page.reload()  # what was chosen was saved, not only shown
    expect(page.get_by_role("button", name="Follow", exact=True)).to_be_visible()
