"""Every main page, for the people who use it, in chromium at 375 and 1280 px, and in
German on a phone, where its longer words are the likeliest to break a layout (issue 9):
axe-core finds no WCAG 2.1 A/AA violation of any impact, nothing scrolls sideways on
a phone, and nothing is loaded from another origin. Screenshots of each page are kept in
tests/artifacts/ (CI keeps them as artefacts)."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from babel.support import Translations
from browser import ARTIFACTS
from playwright.sync_api import expect
from test_browser import TIMEOUT_MS, vote_with

import portal
from conftest import PASSWORD
from portal.extensions import db
from portal.models import Comment, Idea, Role, User
from portal.operations.comments import add_comment
from portal.operations.flags import flag
from portal.operations.status import change_status
from portal.operations.workflow_admin import add_status

pytestmark = pytest.mark.browser

WIDTHS = {"phone": {"width": 375, "height": 812}, "desktop": {"width": 1280, "height": 900}}
SEEN_AS = [("phone", "en"), ("desktop", "en"), ("phone", "de")]  # (viewport, language)
GERMAN = Translations.load(str(Path(portal.__file__).parent / "translations"), ["de"])
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
AXE = Axe()

# Each person's main pages; {number} is an idea with comments, votes and a status answer.
PAGES = {
    "visitor": ["/", "/b/features", "/ideas/{number}", "/search?q=export", "/roadmap",
                "/changelog", "/signin", "/signup", "/reset"],
    "customer": ["/b/features", "/ideas/{number}", "/b/features/new", "/me", "/notifications"],
    "moderator": ["/moderation", "/ideas/{number}"],
    "owner": ["/dashboard", "/ideas/{number}/status"],
    "admin": ["/admin/boards", "/admin/site", "/admin/workflow", "/admin/users",
              "/admin/webhooks", "/admin/audit"],
}  # fmt: skip


def a_lived_in_site(factory, live) -> tuple[int, dict[str, User]]:
    """A board with ideas, votes, comments, an answered idea and a flag to review."""
    board = factory.board()
    people = {role.name.lower(): factory.user(role, name=f"{role.name.title()} Person")
              for role in (Role.CUSTOMER, Role.MODERATOR, Role.OWNER, Role.ADMIN)}  # fmt: skip
    author = factory.user(name="Ana Autor")
    number = factory.idea(board, author, "Export reports as CSV", "We need **this** weekly.")
    factory.idea(board, author, "Dark mode for the dashboard")
    vote_with(live, number, [people["customer"], author])
    with live.app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        owner = db.session.get(User, people["owner"].id)
        add_comment(db.session.get(User, author.id), idea, "Would love this for finance.")
        change_status(owner, idea, "planned", "We will build this next quarter.")
        comment = add_comment(db.session.get(User, people["customer"].id), idea, "Me too!")
        db.session.flush()
        flag(db.session.get(User, author.id), db.session.get(Comment, comment.id), "spam")
        admin = db.session.get(User, people["admin"].id)
        add_status(admin, "beta", "In beta", "#8250df", "active")  # its own edit form
        db.session.commit()
    return number, people


def sign_in(page, person, language: str) -> None:
    """Through the form, in the browser's language, as the person would."""
    say = GERMAN.gettext if language == "de" else str
    page.goto("/signin")
    page.get_by_label(say("Email"), exact=True).fill(person.email)
    page.get_by_label(say("Password"), exact=True).fill(PASSWORD)
    page.get_by_role("button", name=say("Sign in"), exact=True).click()
    expect(page.get_by_text(say("Welcome back, %(name)s.") % {"name": person.name})).to_be_visible()


def axe_findings(page, where: str) -> list[str]:
    """What axe-core finds on the page against WCAG 2.1 A/AA, whatever its impact, one line
    each, starting with where (tests/test_visual.py uses it too)."""
    findings = []
    for violation in AXE.run(page, options=WCAG_21_AA).response["violations"]:
        targets = [node["target"] for node in violation["nodes"]][:5]
        findings.append(
            f"{where}: {violation['id']} ({violation['impact']}): {violation['help']} {targets}"
        )
    return findings


def visit(chromium, live, viewport, language, person, paths, number) -> tuple[list, list]:
    """Each page's axe findings and sideways scrolling; asserts no foreign request
    and that every page answers in the browser's language."""
    foreign = []

    def only_local(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    context = chromium.new_context(
        base_url=live.url,
        viewport=WIDTHS[viewport],
        locale={"en": "en-US", "de": "de-DE"}[language],
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", only_local)
    page = context.new_page()
    findings, overflows = [], []
    try:
        if person:
            sign_in(page, person, language)
        for path in paths:
            url = path.format(number=number)
            answer = page.goto(url)
            assert answer.ok, f"{url}: HTTP {answer.status}"
            assert page.locator("html").get_attribute("lang") == language, url
            findings += axe_findings(page, f"{url} ({viewport}, {language})")
            sideways = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if sideways > 0:
                overflows.append(
                    f"{url} scrolls sideways by {sideways}px at {viewport} ({language})"
                )
            ARTIFACTS.mkdir(exist_ok=True)
            name = url.strip("/").replace("/", "_").replace("?", "_").replace("=", "-") or "home"
            role = person.role.name.lower() if person else "visitor"
            page.screenshot(
                path=str(ARTIFACTS / f"a11y_{role}_{name}_{viewport}_{language}.png"),
                full_page=True,
            )
    finally:
        context.close()
    assert foreign == [], f"pages asked other origins for {foreign}"
    return findings, overflows


@pytest.mark.parametrize(("viewport", "language"), SEEN_AS)
@pytest.mark.parametrize("role", PAGES)
def test_main_pages_pass_axe_and_fit_the_screen(chromium, live, factory, role, viewport, language):
    number, people = a_lived_in_site(factory, live)
    person = people.get(role)
    findings, overflows = visit(chromium, live, viewport, language, person, PAGES[role], number)
    assert findings == [], "\n".join(findings)
    assert overflows == [], "\n".join(overflows)
