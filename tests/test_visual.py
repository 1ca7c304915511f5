"""A visual check (issue 21): the main pages of a small, lived-in portal, for a visitor and a
signed-in customer, at 375 and 1280 px. Each page leaves a full-page screenshot in
tests/artifacts/visual/<who>-<width>-<page>.png, which CI keeps for a person to look at;
nothing scrolls sideways on a phone; and axe-core finds no WCAG 2.1 A/AA violation of any
impact on the pages tests/test_accessibility.py does not already check for that person."""

import pytest
from browser import ARTIFACTS
from test_accessibility import PAGES, axe_findings
from test_browser import TIMEOUT_MS, _only_local, sign_in

from conftest import Factory
from portal.extensions import db
from portal.models import Idea, Role, User
from portal.operations.comments import add_comment
from portal.operations.status import change_status
from portal.operations.votes import cast_vote

pytestmark = pytest.mark.browser

SCREENSHOTS = ARTIFACTS / "visual"
VIEWPORTS = {375: {"width": 375, "height": 812}, 1280: {"width": 1280, "height": 800}}

# Each person's main pages by the name their screenshot carries; {number} is an idea with
# votes, comments and an official answer.
VISITOR_PAGES = {
    "home": "/",
    "board": "/b/features",
    "budget-board": "/b/priorities",
    "idea": "/ideas/{number}",
    "search": "/search?q=export",
    "roadmap": "/roadmap",
    "changelog": "/changelog",
    "new-idea": "/b/features/new",
    "signin": "/signin",
}
SEEN_BY = {"visitor": VISITOR_PAGES, "customer": VISITOR_PAGES | {"me": "/me"}}


def a_small_portal(factory: Factory, live) -> tuple[int, User]:
    """Two boards, one with a budget of votes, ideas in most statuses with votes, comments
    and answers from the product owner; returns the answered idea and a customer."""
    features = factory.board(categories=("Reporting", "Integrations"), name="Product ideas")
    priorities = factory.board(
        "priorities", categories=("Q3",), name="Our priorities", votes_per_user=10,
        max_votes_per_idea=3,
    )  # fmt: skip
    owner = factory.user(Role.OWNER, name="Olga Owner")
    customer = factory.user(name="Clara Kundin")
    people = [factory.user(name=name) for name in ("Ana Autor", "Ben Berger", "Chris Chen")]
    ideas = {
        "csv": (features, "Export reports as CSV", "planned", "We will build this next quarter."),
        "dark": (features, "Dark mode for the dashboard", "started", "Being built now."),
        "sso": (features, "Single sign-on with Okta", "completed", "Shipped in 4.2."),
        "fax": (features, "Send invoices by fax", "declined", "Fax is not coming back."),
        "keys": (features, "Keyboard shortcuts for the inbox", "under_review", ""),
        "slack": (features, "Post new ideas to a Slack channel", "open", ""),
        "api": (priorities, "A public API for time entries", "open", ""),
        "audit": (priorities, "An audit log for admins", "planned", "Next after the API."),
    }
    numbers = {
        key: factory.idea(board, people[n % 3], title, "We need **this** every week.")
        for n, (key, (board, title, _status, _answer)) in enumerate(ideas.items())
    }
    with live.app.app_context():
        owner_row = db.session.get(User, owner.id)
        voters = [db.session.get(User, person.id) for person in [customer, *people]]
        for n, (key, (_board, _title, status, answer)) in enumerate(ideas.items()):
            idea = db.session.scalar(db.select(Idea).filter_by(number=numbers[key]))
            for voter in voters[: 1 + n % len(voters)]:
                if voter.id != idea.author_id and idea.status == "open":
                    cast_vote(voter, idea, weight=2 if idea.board.has_budget else 1)
            if status != "open":
                change_status(owner_row, idea, status, answer)
        csv = db.session.scalar(db.select(Idea).filter_by(number=numbers["csv"]))
        add_comment(voters[1], csv, "Would love this for the finance team's month end.")
        add_comment(owner_row, csv, "Which columns do you need first?", official=True)
        add_comment(voters[0], csv, "Date, project, hours and the rate, please.")
        db.session.commit()
    return numbers["csv"], customer


@pytest.mark.parametrize("width", VIEWPORTS)
@pytest.mark.parametrize("who", SEEN_BY)
def test_main_pages_look_finished(chromium, live, factory, who, width):
    number, customer = a_small_portal(factory, live)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(base_url=live.url, viewport=VIEWPORTS[width])
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", _only_local)
    page = context.new_page()
    findings, overflows = [], []
    try:
        if who == "customer":
            sign_in(page, customer)
        for name, path in SEEN_BY[who].items():
            url = path.format(number=number)
            answer = page.goto(url)
            assert answer.ok, f"{url}: HTTP {answer.status}"
            page.screenshot(path=str(SCREENSHOTS / f"{who}-{width}-{name}.png"), full_page=True)
            if path not in PAGES[who]:  # test_accessibility.py runs axe on the others
                findings += axe_findings(page, f"{url} ({who}, {width} px)")
            sideways = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if width == 375 and sideways > 0:
                overflows.append(f"{url} scrolls sideways by {sideways}px ({who})")
    finally:
        context.close()
    assert findings == [], "\n".join(findings)
    assert overflows == [], "\n".join(overflows)
