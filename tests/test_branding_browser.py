"""The logo in the header, in chromium: uploaded through the admin page without JavaScript,
shown at a sensible size on a 375px phone and a 1280px desktop (screenshots in
tests/artifacts)."""

import pytest
from browser import ARTIFACTS
from test_branding import CLEAN_SVG
from test_browser import browse

from conftest import PASSWORD
from portal.models import Role

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [375, 1280])
def test_the_logo_fits_the_header_on_a_phone_and_a_desktop(chromium, live, factory, tmp_path,
                                                           width):  # fmt: skip
    admin = factory.user(Role.ADMIN, name="Ada Admin", email="ada@example.com")
    factory.board("features")
    context, browsing = browse(chromium, live, javascript=False,
                               viewport={"width": width, "height": 800})  # fmt: skip
    page = browsing.page
    page.goto("/signin")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/admin/site")
    logo = tmp_path / "acme.svg"
    logo.write_bytes(CLEAN_SVG)
    page.set_input_files("#image-logo", str(logo))
    page.locator("form[action='/admin/site/logo'] button").click()
    assert "The new logo is saved." in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#branding").screenshot(path=str(ARTIFACTS / f"branding-admin-{width}.png"))
    page.goto("/")
    image = page.locator("header .brand-logo")
    assert image.get_attribute("alt") == "Stimme"
    box = image.bounding_box()
    assert box and 30 <= box["height"] <= 48 and box["width"] <= width * 0.6
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"branding-header-{width}.png"),
                    clip={"x": 0, "y": 0, "width": width, "height": 200})  # fmt: skip
    context.close()
