"""A customer in a real browser: sign up, post, vote, comment and sort, with and without JS.

Debian's chromium, driven by Playwright, talks to a live server of an app of its own (CSRF
on, mail to a folder, BASE_URL at the live server). Every request that does not go to
127.0.0.1 is aborted. Each test leaves a full-page screenshot in tests/artifacts/.
"""

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from browser import ARTIFACTS
from playwright.sync_api import expect

from conftest import PASSWORD
from portal import totp
from portal.extensions import db
from portal.models import Comment, Idea, Role, User, Vote, utcnow
from portal.operations.tokens import create_token, user_for_token
from portal.operations.votes import cast_vote
from portal.operations.webhooks.editing import create_webhook
from portal.operations.webhooks.queueing import EVENTS
from portal.worker import drain

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# Records CSP violations the page sees; Playwright injects it outside the page's CSP.
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""

expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Browsing:
    """A page plus what its console said; errors fail the test in the fixture's teardown."""

    page: object
    console_errors: list = field(default_factory=list)


def _only_local(route) -> None:
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


def browse(chromium, live, javascript: bool, viewport=DESKTOP):
    context = chromium.new_context(
        base_url=live.url, java_script_enabled=javascript, viewport=viewport
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", _only_local)
    page = context.new_page()
    browsing = Browsing(page)
    page.on(
        "console",
        lambda message: (
            browsing.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: browsing.console_errors.append(str(error)))
    page.add_init_script(CSP_WATCH)
    return context, browsing


@pytest.fixture
def browsing(chromium, live, factory):
    context, browsing = browse(chromium, live, javascript=True)
    yield browsing
    context.close()
    assert browsing.console_errors == [], browsing.console_errors


@pytest.fixture
def nojs(chromium, live, factory):
    context, browsing = browse(chromium, live, javascript=False)
    yield browsing
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, user) -> None:
    """Sign in through the form, as the customer would."""
    page.goto("/signin")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Welcome back, {user.name}.")).to_be_visible()


def mark_document(page) -> None:
    """Tag the loaded document; a navigation would throw the tag away."""
    page.evaluate("window.__marker = 1")


def assert_same_document(page) -> None:
    assert page.evaluate("window.__marker") == 1, "the page reloaded"


def card(page, number):
    return page.locator(f"#idea-{number}")


def card_titles(page) -> list[str]:
    return page.locator("#idea-list .idea-card h2").all_inner_texts()


def vote_with(live, number, voters) -> None:
    with live.app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        for voter in voters:
            cast_vote(db.session.get(User, voter.id), idea)
        db.session.commit()


def stored_votes(live, number) -> tuple[int, int]:
    """The idea's kept vote count and the number of vote rows behind it."""
    with live.app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        rows = db.session.scalar(db.select(db.func.count()).where(Vote.idea_id == idea.id))
        return idea.vote_count, rows


def sortable_board(factory, live) -> tuple[int, int]:
    """A board where trending puts the popular idea first and new puts the fresh one first."""
    board = factory.board()
    author = factory.user(name="Ana Autor")
    popular = factory.idea(board, author, "Popular idea: dark mode")
    fresh = factory.idea(board, author, "Fresh idea: keyboard shortcuts")
    vote_with(live, popular, [factory.user() for _ in range(3)])
    return popular, fresh


# --- With JavaScript -------------------------------------------------------------------


def test_sign_up_and_confirm_by_the_mailed_link(browsing, live):
    page = browsing.page
    page.goto("/signup")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label("Display name").fill("Nora Newcomer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Check your email")).to_be_visible()

    live.drain_outbox()
    mail = live.newest_mail()
    assert mail["To"] == "newcomer@example.com"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    link = re.search(rf"{re.escape(live.url)}/verify/\S+", text)
    assert link, text
    page.goto(link.group(0))  # opening the link only asks: scanners open links too
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_text("your email address is confirmed")).to_be_visible()
    screenshot(page, "signup_confirmed")
    with live.app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email="newcomer@example.com"))
        assert user.email_verified_at is not None
    sign_in(page, user)
    expect(page.get_by_role("link", name="Nora Newcomer")).to_be_visible()


def test_a_vote_pressed_before_signing_up_is_counted_after_confirming(browsing, factory, live):
    """SPEC section 12: the intent survives signing up, confirming the address included."""
    number = factory.idea(factory.board(), factory.user(), "Export reports as CSV")
    page = browsing.page
    page.goto(f"/ideas/{number}")
    page.get_by_role("button", name="Vote").click()  # htmx: answered with a navigation
    expect(page.get_by_text("Sign in or sign up and your vote will be counted.")).to_be_visible()
    page.locator("#main").get_by_role("link", name="Sign up").click()
    expect(page.get_by_text("Sign in or sign up and your vote will be counted.")).to_be_visible()
    page.get_by_label("Email").fill("vera@example.com")
    page.get_by_label("Display name").fill("Vera Voter")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Check your email")).to_be_visible()

    live.drain_outbox()
    text = live.newest_mail().get_body(preferencelist=("plain",)).get_content()
    link = re.search(rf"{re.escape(live.url)}/verify/\S+", text)
    page.goto(link.group(0))
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_text("Your vote is counted.")).to_be_visible()
    assert page.url.endswith(f"/ideas/{number}")
    expect(page.locator(f"#vote-{number} .vote-count")).to_have_text("1")
    expect(page.locator(f"#vote-{number} .vote-button")).to_have_text("Remove vote")
    expect(page.get_by_role("link", name="Vera Voter")).to_be_visible()  # signed in
    screenshot(page, "intent_vote_after_confirming")
    assert stored_votes(live, number) == (1, 1)


def test_two_factor_set_up_and_sign_in(browsing, factory):
    page = browsing.page
    user = factory.user()
    sign_in(page, user)
    page.goto("/me")
    page.get_by_role("link", name="Set up two-factor sign-in").click()
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    assert qr.evaluate("image => image.naturalWidth") > 0  # the data: URI the policy allows
    secret = page.locator("[data-secret]").inner_text()
    screenshot(page, "two_factor_setup")
    page.get_by_label("Code from the app").fill(totp.code_at(secret, totp.current_step()))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    screenshot(page, "two_factor_recovery_codes")

    page.get_by_role("button", name="Sign out").click()
    page.goto("/signin")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/signin/code$"))
    page.get_by_label("Authentication code").fill(totp.code_at(secret, totp.current_step() + 1))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Welcome back, {user.name}.")).to_be_visible()
    assert page.evaluate("window.__cspViolations") == []
    page.goto("/me#security")
    expect(page.get_by_text("Two-factor sign-in is on.")).to_be_visible()
    screenshot(page, "two_factor_signed_in")


def test_post_an_idea(browsing, factory):
    page = browsing.page
    factory.board()
    sign_in(page, factory.user())
    page.goto("/b/features")
    page.get_by_role("link", name="Post an idea").click()
    page.get_by_label("Title", exact=True).fill("Export reports as CSV")
    page.get_by_label("Description").fill("Our finance team needs the **monthly** numbers.")
    # The similar-ideas lookup runs 300 ms after typing: leaving while it is on its way
    # aborts it, which htmx reports on the console.
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Post idea").click()
    expect(page).to_have_url(re.compile(r"/ideas/\d+"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Export reports as CSV")
    expect(page.locator(".prose strong")).to_have_text("monthly")
    expect(page.locator("[data-vote-count]")).to_have_text("0")
    screenshot(page, "idea_posted")


def test_idea_form_shows_errors_and_keeps_what_was_typed(browsing, factory):
    page = browsing.page
    factory.board()
    sign_in(page, factory.user())
    page.goto("/b/features/new")
    page.get_by_label("Title", exact=True).fill("CSV")
    page.get_by_label("Description").fill("A long explanation I do not want to type again.")
    page.wait_for_load_state("networkidle")  # the similar-ideas lookup, as above
    page.get_by_role("button", name="Post idea").click()
    expect(page.locator(".field-error")).to_contain_text("The title needs 5 to 120 characters.")
    expect(page.get_by_label("Title", exact=True)).to_have_value("CSV")
    expect(page.get_by_label("Title", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Description")).to_have_value(
        "A long explanation I do not want to type again."
    )
    screenshot(page, "idea_form_errors")
    browsing.console_errors[:] = [e for e in browsing.console_errors if "status of 422" not in e]


def test_board_fits_a_phone_screen(chromium, live, factory):
    context, browsing = browse(chromium, live, javascript=True, viewport=PHONE)
    try:
        page = browsing.page
        board = factory.board()
        author = factory.user()
        factory.idea(board, author, "Let admins export every report as a spreadsheet file")
        number = factory.idea(board, author, "Dark mode")
        sign_in(page, factory.user())
        for path in ("/b/features", f"/ideas/{number}"):
            page.goto(path)
            expect(page.locator("[data-vote-count]").first).to_be_visible()
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
            screenshot(page, f"phone_{'board' if path.startswith('/b/') else 'idea'}")
        assert browsing.console_errors == []
    finally:
        context.close()


def test_vote_and_unvote_without_reload(browsing, factory, live):
    """The button says what pressing it does: "Vote", then "Remove vote", then "Vote"."""
    page = browsing.page
    number = factory.idea(factory.board(), factory.user())
    sign_in(page, factory.user())
    page.goto("/b/features")
    mark_document(page)
    widget = card(page, number)

    with page.expect_request(lambda request: "/vote" in request.url) as voted:
        widget.get_by_role("button", name="Vote", exact=True).click()
    assert voted.value.headers.get("x-csrftoken"), "htmx sent no CSRF header"
    expect(widget.locator("[data-vote-count]")).to_have_text("1")
    expect(widget.get_by_text("✓ Voted")).to_be_visible()
    expect(widget.get_by_role("button", name="Vote", exact=True)).to_have_count(0)
    expect(page.locator("#announcer")).to_have_text("Your vote is counted: 1 vote in all.")
    assert_same_document(page)
    assert stored_votes(live, number) == (1, 1)
    screenshot(page, "vote_htmx")

    widget.get_by_role("button", name="Remove vote").click()
    expect(widget.locator("[data-vote-count]")).to_have_text("0")
    expect(widget.get_by_text("✓ Voted")).to_have_count(0)
    expect(widget.get_by_role("button", name="Remove vote")).to_have_count(0)
    expect(page.locator("#announcer")).to_have_text("Your vote is taken back: 0 votes in all.")
    assert stored_votes(live, number) == (0, 0)

    widget.get_by_role("button", name="Vote", exact=True).click()
    expect(widget.get_by_role("button", name="Remove vote")).to_be_visible()
    expect(widget.locator("[data-vote-count]")).to_have_text("1")
    assert_same_document(page)
    assert stored_votes(live, number) == (1, 1)


def test_a_weighted_vote_is_one_compact_control_on_a_narrow_phone(chromium, live, factory):
    """A budget board with weights: weight and "Vote", then "Change" and "Remove vote", at 375px."""
    context, browsing = browse(
        chromium, live, javascript=True, viewport={"width": 375, "height": 812}
    )
    try:
        page = browsing.page
        board = factory.board("mobile", votes_per_user=5, max_votes_per_idea=3)
        author = factory.user()
        number = factory.idea(board, author, "Offline mode for the mobile app")
        factory.idea(board, author, "Let admins export every report as a spreadsheet file")
        sign_in(page, factory.user())
        page.goto("/b/mobile")
        mark_document(page)
        widget = page.locator(f"#vote-{number}")
        budget = page.locator("#budget")
        expect(budget).to_have_text("5 of 5 votes left in this board")

        widget.get_by_label("Weight").select_option("2")
        widget.get_by_role("button", name="Vote", exact=True).click()
        expect(widget.get_by_text("✓ Voted ×2")).to_be_visible()
        expect(widget.locator("[data-vote-count]")).to_have_text("2")
        expect(budget).to_have_text("3 of 5 votes left in this board")
        expect(widget.get_by_label("Weight")).to_have_value("2")
        expect(widget.get_by_role("button", name="Change")).to_be_visible()
        expect(widget.get_by_role("button", name="Remove vote")).to_be_focused()
        expect(page.locator("#announcer")).to_contain_text("Your vote is counted: 2 votes in all.")
        screenshot(page, "vote_weighted_phone_375")
        assert_fits(page, widget)

        widget.get_by_label("Weight").select_option("3")
        widget.get_by_role("button", name="Change").click()
        expect(widget.get_by_text("✓ Voted ×3")).to_be_visible()
        expect(budget).to_have_text("2 of 5 votes left in this board")
        expect(widget.get_by_role("button", name="Change")).to_be_focused()

        widget.get_by_role("button", name="Remove vote").click()
        expect(widget.locator("[data-vote-count]")).to_have_text("0")
        expect(budget).to_have_text("5 of 5 votes left in this board")
        expect(widget.get_by_role("button", name="Vote", exact=True)).to_be_focused()
        expect(widget.get_by_role("button", name="Change")).to_have_count(0)
        assert_fits(page, widget)
        assert_same_document(page)
        assert browsing.console_errors == []
    finally:
        context.close()


def assert_fits(page, widget) -> None:
    """Nothing scrolls sideways, and every control of the widget lies inside it."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the board scrolls sideways by {overflow}px"
    box = widget.bounding_box()
    for control in widget.locator("button, select").all():
        inner = control.bounding_box()
        assert box["x"] <= inner["x"] and inner["x"] + inner["width"] <= box["x"] + box["width"]
        assert inner["height"] < 40, f"{control.inner_text()!r} wraps: {inner}"


def test_vote_budget_updates_without_reload(browsing, factory):
    page = browsing.page
    board = factory.board("integrations", votes_per_user=2)
    author = factory.user()
    first = factory.idea(board, author, "Sync contacts with Salesforce")
    second = factory.idea(board, author, "Post new ideas to Slack")
    sign_in(page, factory.user())
    page.goto("/b/integrations")
    budget = page.locator("#budget")
    expect(budget).to_have_text("2 of 2 votes left in this board")
    mark_document(page)

    card(page, first).get_by_role("button", name="Vote", exact=True).click()
    expect(budget).to_have_text("1 of 2 votes left in this board")
    card(page, second).get_by_role("button", name="Vote", exact=True).click()
    expect(budget).to_have_text("0 of 2 votes left in this board")
    expect(card(page, second).locator("[data-vote-count]")).to_have_text("1")
    card(page, first).get_by_role("button", name="Remove vote").click()
    expect(budget).to_have_text("1 of 2 votes left in this board")
    assert_same_document(page)
    expect(page.locator("#budget")).to_have_count(1)
    screenshot(page, "vote_budget")


def test_comment_without_reload(browsing, factory, live):
    page = browsing.page
    number = factory.idea(factory.board(), factory.user())
    sign_in(page, factory.user(name="Carla Commenter"))
    page.goto(f"/ideas/{number}")
    expect(page.get_by_text("No comments yet.")).to_be_visible()
    mark_document(page)

    page.get_by_label("Comment").fill("We would use this *every* week.")
    page.get_by_role("button", name="Post comment").click()
    comment = page.locator("#comments .event.comment")
    expect(comment).to_have_count(1)
    expect(comment).to_contain_text("Carla Commenter")
    expect(comment.locator("em")).to_have_text("every")
    expect(page.get_by_text("No comments yet.")).to_have_count(0)
    expect(page.get_by_label("Comment")).to_have_value("")
    assert_same_document(page)
    with live.app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Comment)) == 1
    screenshot(page, "comment_htmx")


def test_status_change_with_a_response_without_reload(browsing, factory):
    page = browsing.page
    number = factory.idea(factory.board(), factory.user(), "Dark mode for the editor")
    sign_in(page, factory.user(Role.OWNER, name="Olga Owner"))
    page.goto(f"/ideas/{number}")
    mark_document(page)

    page.get_by_role("link", name="Change status").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    screenshot(page, "status_dialog")
    dialog.get_by_label("New status").select_option(label="Planned")
    dialog.get_by_label("Public response").fill("Coming in **March**.")
    dialog.get_by_role("button", name="Change status").click()

    change = page.locator("#comments .event.status-change")
    expect(change).to_have_count(1)
    expect(change).to_contain_text("Olga Owner changed the status")
    expect(change.locator("strong")).to_have_text("March")
    expect(page.locator(".idea-main .meta [data-status]")).to_have_text("Planned")
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert_same_document(page)
    screenshot(page, "status_changed")


def test_roadmap_filters_by_board_without_reload(browsing, factory, live):
    page = browsing.page
    author = factory.user()
    web, mobile = factory.board("web"), factory.board("mobile", categories=())
    for board, title, status in [
        (web, "Dark mode for the editor", "planned"),
        (web, "Export reports as CSV", "started"),
        (mobile, "Offline mode on iOS", "planned"),
        (mobile, "Push notifications for mentions", "completed"),
    ]:
        factory.idea(board, author, title, status=status, status_changed_at=utcnow())
    page.goto("/roadmap")
    expect(page.locator(".lane-card")).to_have_count(4)
    mark_document(page)
    screenshot(page, "roadmap")
    page.get_by_label("Board").select_option(label="Mobile")
    expect(page).to_have_url(re.compile(r"/roadmap\?board=mobile"))
    expect(page.locator(".lane-card")).to_have_count(2)
    expect(page.get_by_text("Dark mode for the editor")).to_have_count(0)
    assert_same_document(page)


def test_dashboard_switches_to_my_ideas_without_reload(browsing, factory, live):
    page = browsing.page
    board, author = factory.board(), factory.user()
    owner = factory.user(Role.OWNER, name="Olga Owner")
    factory.idea(board, author, "Dark mode for the editor", vote_count=12, assignee_id=owner.id)
    factory.idea(board, author, "Export reports as CSV", vote_count=4)
    sign_in(page, owner)
    page.goto("/dashboard")
    rows = page.locator("table.waiting tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Dark mode for the editor")
    expect(page.locator("svg.sparkline")).to_have_count(2)
    mark_document(page)
    screenshot(page, "dashboard")
    page.get_by_role("link", name="Assigned to me").click()
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/dashboard\?mine=1"))
    assert_same_document(page)


def test_admin_adds_a_status(browsing, factory):
    page = browsing.page
    sign_in(page, factory.user(Role.ADMIN, name="Ada Admin"))
    page.goto("/admin/workflow")
    page.get_by_label("Label").fill("In beta")
    page.get_by_label("Slug (in links and the API)").fill("beta")
    page.get_by_label("Phase").select_option("active")
    page.get_by_role("button", name="Add status").click()
    expect(page.get_by_text("Added the status In beta.")).to_be_visible()
    expect(page.locator('.admin-table [data-status="beta"]').first).to_have_text("In beta")
    screenshot(page, "admin_workflow")

    # Renamed in its own form, then removed: no idea has it.
    editing = page.locator("details.status-edit")
    editing.locator("summary").click()
    editing.get_by_label("Label").fill("Beta testing")
    editing.get_by_role("button", name="Save changes").click()
    expect(page.locator('.admin-table [data-status="beta"]').first).to_have_text("Beta testing")
    page.locator("details.status-edit summary").click()
    screenshot(page, "admin_workflow_edit")
    page.get_by_role("button", name="Remove Beta testing").click()
    expect(page.locator('.admin-table [data-status="beta"]')).to_have_count(0)


def test_moderator_handles_a_queued_item_without_reload(browsing, factory, live):
    page = browsing.page
    board = factory.board()
    factory.idea(board, factory.user(name="Sam Spammer"), "Casino bonus codes", is_held=True)
    factory.idea(board, factory.user(name="Hana Helpful"), "Offline mode", is_held=True)
    sign_in(page, factory.user(Role.MODERATOR, name="Mona Moderator"))
    page.goto("/moderation")
    items = page.locator(".queue-item")
    expect(items).to_have_count(2)
    mark_document(page)
    screenshot(page, "review_queue")
    spam = items.filter(has_text="Casino bonus codes")
    spam.get_by_role("button", name="Reject and block the author").click()
    expect(items).to_have_count(1)
    expect(page.get_by_text("Casino bonus codes")).to_have_count(0)
    assert_same_document(page)
    with live.app.app_context():
        spammer = db.session.scalar(db.select(User).filter_by(name="Sam Spammer"))
        assert spammer.is_blocked


def test_sort_without_reload_and_back(browsing, factory, live):
    page = browsing.page
    popular, fresh = sortable_board(factory, live)
    page.goto("/b/features")
    expect(page.locator("#idea-list .idea-card").first).to_have_id(f"idea-{popular}")
    mark_document(page)

    page.get_by_label("Sort").select_option(label="New")
    expect(page).to_have_url(re.compile(r"/b/features\?.*sort=new"))
    expect(page.locator("#idea-list .idea-card").first).to_have_id(f"idea-{fresh}")
    assert_same_document(page)
    expect(page.locator("#idea-list")).to_have_count(1)
    screenshot(page, "sort_new")

    page.get_by_label("Status").select_option(label="Planned")
    expect(page.get_by_text("No ideas match.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"status=planned"))
    assert_same_document(page)

    page.go_back()
    expect(page).to_have_url(re.compile(r"sort=new"))
    expect(page.locator("#idea-list .idea-card").first).to_have_id(f"idea-{fresh}")
    expect(page.locator(".site-header")).to_have_count(1)


def test_no_console_errors_or_csp_violations(browsing, factory):
    page = browsing.page
    number = factory.idea(factory.board(), factory.user())
    sign_in(page, factory.user())
    steps = [
        ("/b/features", "board_clean_console", "Vote", "1"),
        (f"/ideas/{number}", "idea_clean_console", "Remove vote", "0"),
    ]
    for path, name, button, count in steps:
        response = page.goto(path)
        script_src = next(
            rule
            for rule in response.headers["content-security-policy"].split(";")
            if "script-src" in rule
        )
        assert "unsafe-inline" not in script_src
        assert page.evaluate("window.htmx && window.htmx.version") == "2.0.11"
        page.locator(f"#vote-{number}").get_by_role("button", name=button, exact=True).click()
        expect(page.locator(f"#vote-{number} [data-vote-count]")).to_have_text(count)
        assert page.evaluate("window.__cspViolations") == []
        assert browsing.console_errors == []
        screenshot(page, name)


# --- Without JavaScript: plain forms post and redirect ----------------------------------


def test_nojs_vote(nojs, factory, live):
    page = nojs.page
    number = factory.idea(factory.board(), factory.user())
    sign_in(page, factory.user())
    page.goto("/b/features")
    card(page, number).get_by_role("button", name="Vote", exact=True).click()
    expect(page).to_have_url(re.compile(r"/b/features"))
    expect(card(page, number).locator("[data-vote-count]")).to_have_text("1")
    expect(card(page, number).get_by_text("Voted")).to_be_visible()
    assert stored_votes(live, number) == (1, 1)
    screenshot(page, "nojs_vote")

    card(page, number).get_by_role("button", name="Remove vote").click()
    expect(card(page, number).locator("[data-vote-count]")).to_have_text("0")
    expect(card(page, number).get_by_role("button", name="Vote", exact=True)).to_be_visible()
    assert stored_votes(live, number) == (0, 0)


def test_nojs_weighted_vote(nojs, factory, live):
    """Without JavaScript the weight, "Vote", "Change" and "Remove vote" are plain posts."""
    page = nojs.page
    board = factory.board("mobile", votes_per_user=5, max_votes_per_idea=3)
    number = factory.idea(board, factory.user(), "Offline mode for the mobile app")
    sign_in(page, factory.user())
    page.goto("/b/mobile")
    widget = card(page, number)
    widget.get_by_label("Weight").select_option("2")
    widget.get_by_role("button", name="Vote", exact=True).click()
    expect(page).to_have_url(re.compile(r"/b/mobile"))
    expect(widget.get_by_text("✓ Voted ×2")).to_be_visible()
    expect(page.locator("#budget")).to_have_text("3 of 5 votes left in this board")
    widget.get_by_label("Weight").select_option("3")
    widget.get_by_role("button", name="Change").click()
    expect(widget.get_by_text("✓ Voted ×3")).to_be_visible()
    screenshot(page, "nojs_weighted_vote")
    widget.get_by_role("button", name="Remove vote").click()
    expect(widget.locator("[data-vote-count]")).to_have_text("0")
    expect(widget.get_by_role("button", name="Vote", exact=True)).to_be_visible()
    assert stored_votes(live, number) == (0, 0)


def test_nojs_comment(nojs, factory):
    page = nojs.page
    number = factory.idea(factory.board(), factory.user())
    sign_in(page, factory.user(name="Nils Noscript"))
    page.goto(f"/ideas/{number}")
    page.get_by_label("Comment").fill("Works without JavaScript too.")
    page.get_by_role("button", name="Post comment").click()
    expect(page).to_have_url(re.compile(rf"/ideas/{number}#comment-\d+"))
    comment = page.locator("#comments .event.comment")
    expect(comment).to_contain_text("Works without JavaScript too.")
    expect(comment).to_contain_text("Nils Noscript")
    screenshot(page, "nojs_comment")


def test_nojs_status_change(nojs, factory):
    page = nojs.page
    number = factory.idea(factory.board(), factory.user())
    sign_in(page, factory.user(Role.OWNER, name="Nils Noscript"))
    page.goto(f"/ideas/{number}")
    page.get_by_role("link", name="Change status").click()
    expect(page).to_have_url(re.compile(rf"/ideas/{number}/status$"))
    page.get_by_label("New status").select_option(label="Declined")
    page.get_by_label("Public response").fill("It does not fit the product.")
    page.get_by_role("button", name="Change status").click()
    expect(page).to_have_url(re.compile(rf"/ideas/{number}$"))
    expect(page.get_by_text("The idea is now Declined.")).to_be_visible()
    change = page.locator("#comments .event.status-change")
    expect(change).to_contain_text("It does not fit the product.")
    screenshot(page, "nojs_status_change")


def test_nojs_post_idea(nojs, factory):
    page = nojs.page
    factory.board()
    sign_in(page, factory.user())
    page.goto("/b/features/new")
    page.get_by_label("Title", exact=True).fill("Single sign-on with SAML")
    page.get_by_label("Description").fill("Our IT department requires it.")
    page.get_by_role("button", name="Post idea").click()
    expect(page).to_have_url(re.compile(r"/ideas/\d+"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Single sign-on with SAML")
    expect(page.get_by_text("Your idea is posted")).to_be_visible()
    screenshot(page, "nojs_idea_posted")


def test_similar_ideas_appear_while_typing_and_take_votes(browsing, factory, live):
    page = browsing.page
    board = factory.board()
    author = factory.user()
    existing = factory.idea(board, author, "Dark mode for dashboards")
    factory.idea(board, author, "Invoices as PDF")
    sign_in(page, factory.user())
    page.goto("/b/features/new")
    mark_document(page)
    page.get_by_label("Title", exact=True).press_sequentially("dark mod", delay=40)
    similar = page.locator("#similar")
    expect(similar).to_contain_text("Is your idea already here?")
    expect(similar).to_contain_text("Dark mode for dashboards")
    expect(similar).not_to_contain_text("Invoices as PDF")
    screenshot(page, "similar_ideas")
    similar.get_by_role("button", name="Vote").click()
    expect(similar.locator("[data-vote-count]")).to_have_text("1")
    assert_same_document(page)
    assert stored_votes(live, existing) == (1, 1)


def test_nojs_similar_ideas_ask_before_posting(nojs, factory):
    page = nojs.page
    board = factory.board()
    factory.idea(board, factory.user(), "Dark mode for dashboards")
    sign_in(page, factory.user())
    page.goto("/b/features/new")
    page.get_by_label("Title", exact=True).fill("Dark mode for our dashboards")
    page.get_by_label("Description").fill("Please.")
    page.get_by_role("button", name="Post idea").click()
    expect(page.locator("#similar")).to_contain_text("Dark mode for dashboards")
    expect(page.get_by_label("Description")).to_have_value("Please.")
    # The choice at the top of the form (the button below the fields says the same).
    page.get_by_role("region").get_by_role("button", name="Post idea anyway").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dark mode for our dashboards")


def test_nojs_filter_with_apply_button(nojs, factory, live):
    page = nojs.page
    popular, fresh = sortable_board(factory, live)
    page.goto("/b/features")
    expect(page.locator("#idea-list .idea-card").first).to_have_id(f"idea-{popular}")
    page.get_by_label("Sort").select_option(label="New")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"sort=new"))
    expect(page.locator("#idea-list .idea-card").first).to_have_id(f"idea-{fresh}")
    expect(page.get_by_label("Sort")).to_have_value("new")
    screenshot(page, "nojs_filter")


# --- API tokens and webhooks ------------------------------------------------------------

NARROW = {"width": 375, "height": 812}


class ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        code = self.server.answer
        self.server.events.append(self.headers["X-Stimme-Event"])
        reply = b'{"ok": true}' if code < 300 else f"Trouble {code} here".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    """An integration's HTTP server on 127.0.0.1; set `answer` to the status it gives."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ReceiverHandler)
    server.answer, server.events = 200, []
    server.url = f"http://127.0.0.1:{server.server_port}/hooks/stimme"
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def sideways(page) -> int:
    """How many pixels the page scrolls sideways (0 when it fits the window)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_make_copy_and_revoke_an_api_token(browsing, factory, live):
    page = browsing.page
    customer = factory.user(name="Cora Customer")
    sign_in(page, customer)
    page.get_by_role("link", name="Cora Customer").click()
    tokens = page.locator("#api-tokens")
    expect(tokens.get_by_text("You have no API tokens.")).to_be_visible()

    tokens.get_by_label("Token name").fill("Zapier")
    tokens.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your new API token")
    token = page.get_by_label("Token “Zapier”").input_value()
    assert re.fullmatch(r"stm_[\w-]{43}", token), token
    screenshot(page, "api_token_new")
    me = page.request.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["id"] == customer.id  # a script uses it

    page.get_by_role("link", name="Back to your profile").click()
    row = tokens.get_by_role("listitem").filter(has_text="Zapier")
    expect(row).to_contain_text(f"{token[:12]}…")
    expect(row).to_contain_text("last used just now")
    assert token not in page.content(), "the whole token is shown again"
    screenshot(page, "profile_api_tokens")

    row.get_by_role("button", name="Revoke Zapier").click()
    expect(page.get_by_text("The token “Zapier” is revoked: it no longer works.")).to_be_visible()
    expect(tokens.get_by_text("You have no API tokens.")).to_be_visible()
    with live.app.app_context():
        assert user_for_token(token) is None


def test_an_admin_sees_a_webhook_fail_and_recover(browsing, factory, receiver):
    page = browsing.page
    receiver.answer = 500
    sign_in(page, factory.user(Role.ADMIN, name="Ada Admin"))
    page.get_by_role("link", name="Admin", exact=True).click()
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    page.get_by_label("Payload URL").fill(receiver.url)
    page.get_by_label("Description (optional)").fill("CRM sync")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.get_by_text("Added the webhook.")).to_be_visible()

    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_text("The test failed: The receiver answered HTTP 500.")).to_be_visible()
    ping = page.locator("table.deliveries tbody tr").first
    expect(ping).to_contain_text("ping")
    expect(ping.locator("[data-response-code]")).to_have_text("HTTP 500")
    expect(ping).to_contain_text("Trouble 500 here")
    screenshot(page, "webhook_deliveries_failing")

    page.get_by_role("link", name="See the webhooks").click()
    row = page.locator("table.webhooks tbody tr").first
    expect(row.locator('[data-state="failing"]')).to_have_text("failing")
    expect(row).to_contain_text("1 attempt in a row failed")
    expect(page.get_by_text("1 webhook is failing")).to_be_visible()
    screenshot(page, "webhooks_failing")
    assert receiver.events == ["ping"]

    receiver.answer = 200
    row.get_by_role("link", name=receiver.url).click()
    expect(page.get_by_label("Payload URL")).to_have_value(receiver.url)
    screenshot(page, "webhook_settings")
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_text("The test was delivered: HTTP 200")).to_be_visible()
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Webhooks").click()
    expect(row.locator('[data-state="active"]')).to_have_text("active")
    expect(row).to_contain_text("HTTP 200")
    expect(page.get_by_text("webhook is failing")).to_have_count(0)
    assert receiver.events == ["ping", "ping"]


def test_an_admin_sends_a_failed_event_again(browsing, factory, live, receiver):
    page = browsing.page
    admin = factory.user(Role.ADMIN, name="Ada Admin")
    with live.app.app_context():
        hook = create_webhook(db.session.get(User, admin.id),
                              {"url": receiver.url, "events": ["idea.created"]})  # fmt: skip
        db.session.commit()
        hook_id = hook.id
    receiver.answer = 500
    factory.idea(factory.board(), factory.user(), "Dark mode for the editor")
    with live.app.app_context():
        assert drain() == (0, 1)
    sign_in(page, admin)
    page.goto(f"/admin/webhooks/{hook_id}/deliveries")
    failed = page.locator("table.deliveries tbody tr").first
    expect(failed).to_contain_text("failed, will retry")

    receiver.answer = 200
    failed.get_by_role("button", name="Send again").click()
    expect(page.get_by_text("is queued to be sent again")).to_be_visible()
    with live.app.app_context():
        assert drain() == (1, 0)  # the old one waits out its backoff, then is not sent
    assert receiver.events == ["idea.created", "idea.created"]  # the failed try, then again
    page.reload()
    rows = page.locator("table.deliveries tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("delivered")
    expect(rows.nth(1)).to_contain_text("gave up")
    expect(rows.nth(1)).to_contain_text(re.compile(r"Sent again as #\d+\."))
    expect(page.get_by_role("button", name="Send again")).to_have_count(1)  # the old one
    expect(page.get_by_text("webhook is failing")).to_have_count(0)
    screenshot(page, "webhook_deliveries_sent_again")


def test_tokens_and_webhooks_fit_a_narrow_phone(chromium, live, factory, receiver):
    context, browsing = browse(chromium, live, javascript=True, viewport=NARROW)
    try:
        page = browsing.page
        receiver.answer = 500
        admin = factory.user(Role.ADMIN, name="Ada Admin")
        long_url = f"{receiver.url}/T024BE7LD/B01ABCDEFGH/{'x9Kq' * 20}?workspace=product-feedback"
        with live.app.app_context():
            hook = create_webhook(
                db.session.get(User, admin.id),
                {"url": long_url, "events": list(EVENTS), "description": "Slack #feedback"},
            )
            create_token(db.session.get(User, admin.id), "Nightly export to the warehouse")
            db.session.commit()
            hook_id = hook.id
        factory.idea(factory.board(), factory.user(), "Dark mode for the editor")
        with live.app.app_context():
            assert drain() == (0, 1)  # a failed event, which can be sent again
        sign_in(page, admin)
        page.goto(f"/admin/webhooks/{hook_id}")
        page.get_by_role("button", name="Send test").click()
        expect(page.get_by_text("The test failed")).to_be_visible()
        pages = [
            ("/me#api-tokens", "phone_profile_tokens"),
            ("/admin/webhooks", "phone_webhooks"),
            (f"/admin/webhooks/{hook_id}", "phone_webhook"),
            (f"/admin/webhooks/{hook_id}/deliveries", "phone_webhook_deliveries"),
        ]
        overflowing = {}
        for path, name in pages:
            page.goto(path)
            screenshot(page, name)
            overflowing[path] = sideways(page)
        expect(page.get_by_role("button", name="Send again")).to_be_visible()
        page.goto("/me")
        page.get_by_label("Token name").fill("Zapier")
        page.get_by_role("button", name="Create token").click()
        screenshot(page, "phone_api_token_new")
        overflowing["the new token page"] = sideways(page)
        assert {what: px for what, px in overflowing.items() if px > 0} == {}
        assert browsing.console_errors == []
    finally:
        context.close()
