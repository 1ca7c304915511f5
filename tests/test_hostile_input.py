"""No input, however odd, breaks a page or runs as script.

The Big List of Naughty Strings and a sample of PayloadsAllTheThings' XSS payloads go into
every field people type into and every part of a URL; each answer must be a page (never a
500) in which the text stays text.
"""

import json
import random
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from werkzeug.security import generate_password_hash

from conftest import PASSWORD, htmx_headers
from portal.operations import accounts

DATA = Path("/work/shared/data")
XSS_SAMPLE = 200
# Lists of event-handler names, not payloads.
NOT_PAYLOADS = {"0xcela_event_handlers.txt", "port_swigger_xss_cheatsheet_event_handlers.txt"}


def naughty_strings() -> list[str]:
    return json.loads((DATA / "blns" / "blns.json").read_text(encoding="utf-8"))


def xss_payloads() -> list[str]:
    payloads = set()
    for path in sorted((DATA / "xss-payloadsallthethings").glob("*.txt")):
        if path.name not in NOT_PAYLOADS:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            payloads.update(line for line in lines if line.strip())
    return random.Random(20240601).sample(sorted(payloads), XSS_SAMPLE)


EXTRA = [
    "\x00",
    "Null\x00byte in the middle",
    "\ufeffBOM first",
    "\ud7ff\ue000\uffff",
    "﷽" * 30,
    "a" * 10_001,
    "x" * 121,
    "<scr<script>ipt>alert(1)</script>",
    '"><svg/onload=alert(1)>',
    "javascript:alert(document.domain)",
    "{{ config }}{% raw %}{% endraw %}",
    "'; DROP TABLE idea; --",
    "% _ \\ ' \" ` $ ( ) *",
    "2147483648",
    "99999999999999999999",
    "-1",
    "⁰⁴⁵",
    "١٢٣",
]
HOSTILE = naughty_strings() + xss_payloads() + EXTRA


@pytest.fixture(scope="module")
def hostile():
    assert len(naughty_strings()) == 515
    return HOSTILE


# --- what a browser would run ---------------------------------------------------------

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "data"}
SCRIPT_SCHEME = re.compile(r"^(javascript|vbscript|data\s*:\s*text/html)", re.I)


class ScriptFinder(HTMLParser):
    """Parses a page and records anything in it that a browser would execute."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> event handler")
            if name in URL_ATTRIBUTES and value and is_script_url(value):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name == "srcdoc":
                self.problems.append(f"<{tag} srcdoc>")
        if tag == "script":
            self.scripts += 1
            source = dict(attrs).get("src") or ""
            if not (source.startswith("/static/vendor/htmx-") and dict(attrs).get("nonce")):
                self.problems.append(f"<script {attrs!r}>")
        if tag in ("iframe", "object", "embed", "base", "frame", "frameset"):
            self.problems.append(f"<{tag}> element")

    handle_startendtag = handle_starttag


def is_script_url(value: str) -> bool:
    """Browsers drop whitespace and control characters before reading the scheme."""
    return bool(SCRIPT_SCHEME.match(re.sub(r"[\x00-\x20\x7f]+", "", value)))


def assert_inert(response, what: str) -> None:
    assert response.status_code != 500, what
    if response.mimetype != "text/html":
        return
    page = response.text
    finder = ScriptFinder()
    finder.feed(page)
    finder.close()
    assert not finder.problems, f"{what}: {finder.problems}"
    # Only the page's own htmx script tag; any other "<script" came from input unescaped.
    assert len(re.findall(r"<script", page, re.I)) == finder.scripts <= 1, what


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def generous_limits(app):
    """Hundreds of posts from one person in a minute are the point here."""
    previous = dict(app.config["RATE_LIMITS"])
    app.config["RATE_LIMITS"].update({name: "100000 per minute" for name in previous})
    # Hundreds of index commits would dominate the run; the worker's path is tested elsewhere.
    app.config["SEARCH_APPLY_IN_REQUEST"] = False
    yield
    app.config["SEARCH_APPLY_IN_REQUEST"] = True
    app.config["RATE_LIMITS"].clear()
    app.config["RATE_LIMITS"].update(previous)


def quick_hash(password: str) -> str:
    return generate_password_hash(password, method="pbkdf2:sha256:1")


@pytest.fixture
def fast_hashing(monkeypatch):
    """One hash round instead of scrypt: these tests are about text, not password strength."""
    monkeypatch.setattr(accounts, "generate_password_hash", quick_hash)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", quick_hash("not a real password"))


@pytest.fixture
def board_with_ideas(make):
    board = make.board()
    author = make.user(name="Ada")
    make.idea(board, author, "Export reports as CSV", status="planned")
    make.idea(board, author, "Dark mode for the editor")
    return board


# --- the tests ----------------------------------------------------------------------------


def test_idea_title_and_description(client, auth, make, generous_limits, hostile):
    make.board()
    auth.login(make.user())
    for n, text in enumerate(hostile[::25]):  # a first submit looks for similar ideas
        posted = client.post(
            "/b/features/new", data={"title": text, "body": text, "submission_key": f"s{n}"}
        )
        assert_inert(posted, f"similar ideas for {text!r}")
    for n, text in enumerate(hostile):
        posted = client.post(
            "/b/features/new",
            data={"title": text, "body": text, "submission_key": f"a{n}", "confirmed": "1"},
        )
        assert_inert(posted, f"new idea {text!r}")
        if posted.status_code != 303:  # refused, or similar ideas shown first: post anyway
            posted = client.post(
                "/b/features/new",
                data={"title": f"#{n} {text}"[:120], "body": text[:10_000],
                      "submission_key": f"b{n}", "confirmed": "1"},
            )  # fmt: skip
            assert_inert(posted, f"new idea #{n} {text!r}")
        if posted.status_code == 303:
            location = posted.headers["Location"]
            assert_inert(client.get(location), f"idea page for {text!r}")
            if n % 10 == 0:
                assert_inert(client.get(location, headers=htmx_headers()), f"fragment {text!r}")
                assert_inert(client.get(f"{location}/edit"), f"edit form {text!r}")
    for page in range(1, len(hostile) // 20 + 2):
        listing = client.get(f"/b/features?sort=new&page={page}")
        assert_inert(listing, f"board page {page}")
    assert_inert(client.get("/me"), "profile")


def test_comments(client, auth, make, generous_limits, hostile):
    board = make.board()
    author = make.user()
    auth.login(make.user())
    numbers = []
    for n, text in enumerate(hostile):
        if n % 50 == 0:  # keep each page to fifty comments
            numbers.append(make.idea(board, author, f"Discussion {n}"))
        posted = client.post(f"/ideas/{numbers[-1]}/comments", data={"body": text})
        assert_inert(posted, f"comment {text!r}")
    for number in numbers:
        assert_inert(client.get(f"/ideas/{number}"), f"idea {number}")
        fragment = client.post(
            f"/ideas/{number}/comments", data={"body": HOSTILE[number]}, headers=htmx_headers()
        )
        assert_inert(fragment, f"comments fragment {number}")


def test_sign_up_display_name(app, make, generous_limits, fast_hashing, hostile):
    idea = make.idea(make.board(), make.user())
    for n, text in enumerate(hostile):
        client = app.test_client()
        email = f"naughty{n}@example.com"
        signed_up = client.post(
            "/signup", data={"email": email, "name": text, "password": PASSWORD}
        )
        assert_inert(signed_up, f"sign-up as {text!r}")
        if signed_up.status_code != 303:
            continue
        welcome = client.post(
            "/signin", data={"email": email, "password": PASSWORD}, follow_redirects=True
        )
        assert_inert(welcome, f"welcome for {text!r}")  # the name is in the flash and header
        if n % 5 == 0:
            client.post(f"/ideas/{idea}/comments", data={"body": "Hello from me"})
    assert_inert(app.test_client().get(f"/ideas/{idea}"), "idea with naughty commenters")


def test_sign_in_and_reset_fields(client, generous_limits, fast_hashing, hostile):
    for text in hostile:
        assert_inert(client.post("/signin", data={"email": text, "password": text}), text)
        assert_inert(client.post("/reset", data={"email": text}), text)


def test_board_filters(client, board_with_ideas, hostile):
    for n, text in enumerate(hostile):
        filters = {name: text for name in ("sort", "status", "category", "page")}
        response = client.get("/b/features", query_string=filters)
        assert response.status_code == 200, text
        if not text.isdecimal():  # a number is a real page; anything else is ignored
            assert "Export reports as CSV" in response.text, text
        assert_inert(response, f"filters {text!r}")
        if n % 10 == 0:
            fragment = client.get("/b/features", query_string=filters, headers=htmx_headers())
            assert fragment.status_code == 200 and "<html" not in fragment.text
            assert_inert(fragment, f"fragment with filters {text!r}")


def test_vote_weight(client, auth, make, generous_limits, hostile):
    number = make.idea(make.board(max_votes_per_idea=3), make.user())
    auth.login(make.user())
    for n, text in enumerate(hostile):
        fragment = client.post(
            f"/ideas/{number}/vote", data={"weight": text}, headers=htmx_headers()
        )
        assert fragment.status_code == 200, text
        assert_inert(fragment, f"weight {text!r}")
        if n % 10 == 0:  # the plain form, and the page that shows its message
            voted = client.post(f"/ideas/{number}/vote", data={"weight": text, "next": text})
            assert voted.status_code == 303, text
            assert_inert(client.get(voted.headers["Location"]), f"after weight {text!r}")


def test_urls(client, auth, make, board_with_ideas, hostile):
    auth.login(make.user())
    for text in hostile:
        part = quote(text.encode("utf-8", "surrogatepass"), safe="")
        for path in (f"/ideas/{part}", f"/b/{part}", f"/{part}", f"/comments/{part}/edit"):
            response = client.get(path)
            assert response.status_code in (200, 404, 405), path
            assert_inert(response, path)
        for path in ("/signin", "/search"):
            assert_inert(client.get(path, query_string={"next": text, "q": text}), path)


def test_invalid_utf8_and_raw_bytes(client, auth, make, board_with_ideas, generous_limits):
    number = make.idea(board_with_ideas, make.user(), "Bytes idea here")
    auth.login(make.user())
    form = {"content_type": "application/x-www-form-urlencoded"}
    raw_bodies = [
        b"title=%FF%FE%FDbroken&body=%C3%28%A0%A1",
        b"title=Valid+title&body=%ED%A0%80surrogate",
        b"title=%00%00%00%00%00&body=%00",
        b"title=\xff\xfe raw&body=\xc3\x28",
        b"%%%&&&===",
    ]
    for body in raw_bodies:
        assert_inert(client.post("/b/features/new", data=body, **form), repr(body))
        assert_inert(client.post(f"/ideas/{number}/comments", data=body, **form), repr(body))
        assert_inert(client.post("/signup", data=body, **form), repr(body))
    for query in ("sort=%FF", "status=%C3%28", "page=%00", "category=%ED%A0%80", "%%%"):
        assert client.get(f"/b/features?{query}").status_code == 200, query
    for path in ("/ideas/%FF", "/b/%C3%28", "/b/%00", "/%ED%A0%80", "/b/features/new%00"):
        assert client.get(path).status_code in (200, 404), path
