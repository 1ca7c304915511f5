"""Branding (issue 21, point 6): admins upload a logo and a favicon, checked to be images
and small, served under their hash; colours are checked for contrast; footer links; feeds
are offered as "Follow by RSS/Atom" in the footer."""

import io
import re
import struct
import zlib

import pytest

from portal.extensions import db
from portal.models import AuditEntry, BrandImage, Role
from portal.operations.admin import contrast_ratio


def png(width: int = 4, height: int = 2) -> bytes:
    """A real, tiny PNG: one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x1f\x6f\xeb" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


CLEAN_SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 40" width="120" height="40">'
    b'<rect width="120" height="40" rx="6" fill="#7b3fe4"/>'
    b'<text x="10" y="27" font-size="20" fill="#fff" style="font-family: sans-serif">Acme</text>'
    b"</svg>"
)


def upload(client, kind: str, data: bytes, filename: str = "logo.png"):
    return client.post(f"/admin/site/{kind}", data={"image": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")  # fmt: skip


@pytest.fixture
def admin(client, make, auth):
    auth.login(make.user(Role.ADMIN))
    return client


def header_logo(page: str) -> str:
    found = re.search(r'<img class="brand-logo" src="([^"]+)" alt="([^"]*)">', page)
    assert found, "no logo in the header"
    return found.group(1), found.group(2)


def test_a_png_logo_shows_in_the_header_and_is_served_for_a_year(admin, auth, client):
    answer = upload(admin, "logo", png())
    assert answer.status_code == 303
    auth.logout()
    url, alt = header_logo(client.get("/").text)
    assert re.fullmatch(r"/brand/logo-[0-9a-f]{16}\.png", url) and alt == "Stimme"
    served = client.get(url)
    assert served.status_code == 200 and served.data == png()
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'"
    )
    assert client.get(url, headers={"If-None-Match": served.headers["ETag"]}).status_code == 304


def test_a_clean_svg_favicon_is_accepted_and_served_as_svg(admin, auth, client):
    assert upload(admin, "favicon", CLEAN_SVG, "icon.svg").status_code == 303
    auth.logout()
    page = client.get("/").text
    url = re.search(r'<link rel="icon" href="(/brand/favicon-[0-9a-f]{16}\.svg)">', page)
    assert url and "favicon.svg" not in page
    served = client.get(url.group(1))
    assert served.headers["Content-Type"].startswith("image/svg+xml")
    assert "default-src 'none'" in served.headers["Content-Security-Policy"]


def test_the_file_name_and_content_type_do_not_make_an_image(admin, app):
    answer = admin.post("/admin/site/logo", content_type="multipart/form-data",
                        data={"image": (io.BytesIO(b"MZ\x90\x00 not a picture"), "logo.png",
                                        "image/png")})  # fmt: skip
    assert answer.status_code == 422
    assert "This file is not a PNG, JPEG, WebP, GIF or SVG image." in answer.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(BrandImage.kind))) == 0


@pytest.mark.parametrize(
    ("svg", "reason"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
         "it carries a script."),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>',
         "it carries an event handler"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)">x</a></svg>',
         "it carries a javascript: link."),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>',
         "it embeds other content"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil.example/x.png"/></svg>',
         "it refers to another file or site."),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><a><set attributeName="href" '
         b'to="&#106;avascript:alert(1)"/>x</a></svg>', "it refers to another file or site."),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill: url(&#104;ttp://x.example/a)"/>'
         b"</svg>", "it refers to another file or site."),
        (b'<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
         "it declares entities"),
    ],
)  # fmt: skip
def test_an_svg_that_could_run_or_fetch_anything_is_refused_with_the_reason(admin, svg, reason):
    answer = upload(admin, "logo", svg, "logo.svg")
    assert answer.status_code == 422
    assert f"This SVG is refused: {reason}" in answer.text


def test_a_file_over_the_limit_is_refused_with_its_size(admin):
    answer = upload(admin, "favicon", png() + b"\x00" * 60 * 1024, "icon.png")
    assert answer.status_code == 422
    assert "The file has 61 KB; a favicon may have at most 50 KB." in answer.text


def test_a_new_logo_retires_the_old_address_and_removing_it_brings_the_name_back(admin, app):
    upload(admin, "logo", png())
    first, _ = header_logo(admin.get("/").text)
    upload(admin, "logo", png(8, 8))
    second, _ = header_logo(admin.get("/").text)
    assert first != second
    assert admin.get(first).status_code == 404  # the pages all point at the new one
    assert admin.get(second).status_code == 200
    assert admin.post("/admin/site/logo/remove").status_code == 303
    page = admin.get("/").text
    assert "brand-logo" not in page and admin.get(second).status_code == 404
    with app.app_context():
        entries = db.session.scalars(
            db.select(AuditEntry).filter_by(action="site.logo").order_by(AuditEntry.id)
        ).all()
    assert [(e.before["logo"] == "", e.after["logo"] == "") for e in entries] == [
        (True, False), (False, False), (False, True)]  # fmt: skip
    assert entries[0].after["type"] == "image/png" and "data" not in entries[0].after


def test_a_low_contrast_accent_is_refused_with_the_ratio(admin):
    answer = admin.post("/admin/site", data={"site_name": "Acme", "accent": "#6fa8f5"})
    assert answer.status_code == 422
    ratio = contrast_ratio("#6fa8f5", "#ffffff")
    assert (
        f"{int(ratio * 10) / 10:.1f}:1 is too little contrast with white text; at least 4.5:1."
        in answer.text
    )


def test_a_dark_header_is_refused_and_a_light_one_shows(admin, auth, client):
    refused = admin.post("/admin/site", data={"site_name": "Acme", "accent": "#1f6feb",
                                              "header": "#333333"})  # fmt: skip
    assert refused.status_code == 422
    assert "is too little contrast with the text; at least 4.5:1." in refused.text
    saved = admin.post("/admin/site", data={"site_name": "Acme", "accent": "#1f6feb",
                                            "header": "#fff8e1"})  # fmt: skip
    assert saved.status_code == 303
    auth.logout()
    assert "--header: #fff8e1;" in client.get("/").text


def test_the_contrast_is_measured_as_wcag_says():
    assert round(contrast_ratio("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast_ratio("#1f6feb", "#ffffff"), 2) == 4.63
    assert contrast_ratio("#777777", "#ffffff") < 4.5 < contrast_ratio("#767676", "#ffffff")


def test_footer_links_show_and_only_http_addresses_are_taken(admin, auth, client):
    bad = {"site_name": "Acme", "accent": "#1f6feb", "footer_links": "Run | javascript:alert(1)"}
    refused = admin.post("/admin/site", data=bad)
    assert refused.status_code == 422 and "Only http and https addresses" in refused.text
    links = "Privacy | https://acme.example/privacy\nImprint|https://acme.example/imprint"
    saved = admin.post("/admin/site", data={"site_name": "Acme", "accent": "#1f6feb",
                                            "footer_links": links})  # fmt: skip
    assert saved.status_code == 303
    auth.logout()
    page = client.get("/").text
    assert '<a href="https://acme.example/privacy" rel="noopener">Privacy</a>' in page
    assert '<a href="https://acme.example/imprint" rel="noopener">Imprint</a>' in page


def test_feeds_are_offered_as_follow_links_in_the_footer(client, make):
    number = make.idea(make.board("features"), make.user())
    page = client.get("/b/features").text
    footer = page[page.index("<footer") :]
    assert 'href="/b/features/feed.atom"' in footer and "Follow new ideas by RSS/Atom" in footer
    main = page[page.index("<main") : page.index("</main>")]
    assert "feed.atom" not in main and "Feed of new ideas" not in main
    detail = client.get(f"/ideas/{number}").text
    assert "Follow this idea by RSS/Atom" in detail[detail.index("<footer") :]
    assert "Follow by RSS/Atom" in client.get("/changelog").text


@pytest.mark.parametrize("role", [None, Role.CUSTOMER, Role.MODERATOR, Role.OWNER])
def test_only_admins_change_the_logo(client, make, auth, app, role):
    if role is not None:
        auth.login(make.user(role))
    answer = upload(client, "logo", png())
    assert answer.status_code in (303, 403)
    assert answer.status_code == 403 or "/signin" in answer.headers["Location"]
    assert client.post("/admin/site/logo/remove").status_code in (303, 403)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(BrandImage.kind))) == 0
