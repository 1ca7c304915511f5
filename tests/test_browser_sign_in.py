"""Signing in with an OpenID Connect provider in a real browser (SPEC section 12): chromium
presses our "Sign in with …" button and fills the provider's own login page (panva's
oidc-provider on loopback, tests/identity_provider.py), then comes back to the live server.

Each test leaves a full-page screenshot in tests/artifacts/.
"""

import pytest
from browser import ARTIFACTS
from identity_provider import IdentityProvider
from playwright.sync_api import expect
from test_browser import DESKTOP, PHONE, browse, stored_votes

from conftest import free_port
from portal.extensions import db
from portal.models import SignInLink, User

pytestmark = pytest.mark.browser

NAME = "company"
LABEL = "Company Login"


@pytest.fixture(scope="module")
def provider(live):
    """The provider, allowed back to this module's live server, and the live server's app
    configured with it as OIDC_PROVIDERS=company would; both undone afterwards."""
    running = IdentityProvider([f"{live.url}/signin/oidc/{NAME}/callback"])
    before = live.app.config["OIDC_PROVIDERS"]
    live.app.config["OIDC_PROVIDERS"] = {NAME: running.settings(label=LABEL)}
    yield running
    live.app.config["OIDC_PROVIDERS"] = before
    running.stop()


@pytest.fixture
def browsing(chromium, live, factory, provider):
    """Like test_browser's: our pages' console errors fail the test. The provider's
    development login page is not ours: it asks Google for a font (aborted: only loopback
    is reached) and has no favicon."""
    context, browsing = browse(chromium, live, javascript=True)
    elsewhere = []
    browsing.page.on(
        "console",
        lambda message: (
            elsewhere.append(message.text)
            if message.type == "error" and not message.location["url"].startswith(live.url)
            else None
        ),
    )
    yield browsing
    context.close()
    ours = list(browsing.console_errors)
    for text in elsewhere:
        ours.remove(text)
    assert ours == [], ours


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"oidc_{name}.png"), full_page=True)


def log_in_at_provider(page, login: str) -> None:
    """The provider's own development login page: any login name, any password."""
    expect(page.locator("input[name=login]")).to_be_visible()
    assert page.url.startswith("http://127.0.0.1:") and "/interaction/" in page.url, page.url
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("anything")
    page.locator("button[type=submit]").click()


def links(live) -> list[tuple[str, str, str]]:
    with live.app.app_context():
        rows = db.session.execute(
            db.select(User.email, SignInLink.provider, SignInLink.subject).join(
                SignInLink, SignInLink.user_id == User.id
            )
        )
        return [tuple(row) for row in rows]


def test_a_vote_pressed_before_signing_in_with_the_provider_is_counted(browsing, factory, live):
    """SPEC section 12: the intent survives signing in through the provider."""
    number = factory.idea(factory.board(), factory.user(), "Export reports as CSV")
    page = browsing.page
    page.goto(f"/ideas/{number}")
    page.get_by_role("button", name="Vote").click()  # htmx: answered with a navigation
    expect(page.get_by_text("Sign in or sign up and your vote will be counted.")).to_be_visible()
    assert "/signin" in page.url, page.url
    screenshot(page, "signin_page")
    page.get_by_role("link", name=f"Sign in with {LABEL}").click()

    log_in_at_provider(page, "ada@example.com")
    expect(page.get_by_text("Your vote is counted.")).to_be_visible()
    assert page.url == f"{live.url}/ideas/{number}", page.url
    expect(page.locator(f"#vote-{number} .vote-count")).to_have_text("1")
    expect(page.locator(f"#vote-{number} .vote-button")).to_have_text("Remove vote")
    expect(page.get_by_role("link", name="Ada")).to_be_visible()  # signed in
    screenshot(page, "idea_after_signing_in")
    assert stored_votes(live, number) == (1, 1)
    assert links(live) == [("ada@example.com", NAME, "ada@example.com")]

    page.goto("/me")
    expect(page.get_by_role("heading", name="Ada", exact=True)).to_be_visible()
    expect(page.get_by_text("Export reports as CSV")).to_be_visible()  # under "My votes"
    screenshot(page, "profile")


def test_an_unverified_address_of_an_existing_account_is_refused_readably(browsing, factory, live):
    factory.user(email="ada@example.com", name="Ada Existing")
    page = browsing.page
    page.goto("/signin")
    page.get_by_role("link", name=f"Sign in with {LABEL}").click()

    log_in_at_provider(page, "unverified:ada@example.com")
    expect(page.get_by_role("heading", name="Signing in did not work")).to_be_visible()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("does not say that the address is verified")
    expect(alert).to_contain_text(f"link {LABEL} on your account page")
    assert page.url.startswith(f"{live.url}/signin/oidc/{NAME}/callback"), page.url
    screenshot(page, "refused_unverified")
    # The browser's console reports the 400 itself; that is the page working as meant.
    browsing.console_errors[:] = [e for e in browsing.console_errors if "status of 400" not in e]
    assert links(live) == []
    page.goto("/me")
    assert "/signin" in page.url, f"signed in after all: {page.url}"  # /me sends visitors away
    with live.app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1


def test_a_provider_that_does_not_answer_gets_a_readable_page(browsing, factory, live, monkeypatch):
    down = {"issuer": f"http://127.0.0.1:{free_port()}", "client_id": "x", "client_secret": "y",
            "label": "Sleepy Login", "scopes": "openid email"}  # fmt: skip
    monkeypatch.setitem(live.app.config["OIDC_PROVIDERS"], "sleepy", down)
    page = browsing.page
    page.goto("/signin")
    expect(page.get_by_role("link", name=f"Sign in with {LABEL}")).to_be_visible()
    with page.expect_response(lambda answer: "/signin/oidc/sleepy" in answer.url) as answered:
        page.get_by_role("link", name="Sign in with Sleepy Login").click()
    assert answered.value.status == 502
    expect(page.get_by_role("heading", name="Signing in did not work")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Sleepy Login does not answer just now")
    screenshot(page, "provider_down")
    # The browser's console reports the 502 itself; that is the page working as meant.
    browsing.console_errors[:] = [e for e in browsing.console_errors if "502" not in e]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_provider_button_heads_the_sign_in_page_at_full_width(
    chromium, live, factory, provider, viewport
):
    context, browsing = browse(chromium, live, javascript=True, viewport=viewport)
    try:
        page = browsing.page
        page.goto("/signin")
        button = page.get_by_role("link", name=f"Sign in with {LABEL}").bounding_box()
        email = page.get_by_label("Email").bounding_box()
        divider = page.get_by_text("or with your email address").bounding_box()
        assert button["y"] + button["height"] <= divider["y"] < email["y"]
        assert abs(button["width"] - email["width"]) <= 1, (button, email)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the sign-in page scrolls sideways by {overflow}px"
        name = "phone_signin_page" if viewport is PHONE else "signin_page_without_intent"
        screenshot(page, name)
        assert browsing.console_errors == []
    finally:
        context.close()
