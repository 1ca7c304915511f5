"""Hostile text for the tests: the corpora, what each field stores, and the checks that a
page built from them runs nothing.

The corpora are the Big List of Naughty Strings (515 strings) and the XSS payload lists of
PayloadsAllTheThings (about 1,880 unique payloads), kept in ../shared/data beside the
repository. A field stores a payload the way its operation would (control characters
stripped, whitespace collapsed in one-line fields, cut to the field's length); the checks
then look for that stored text, escaped, in every place that shows it.
"""

import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape
from sqlalchemy import func, insert

from conftest import PASSWORD_HASH
from portal.extensions import db
from portal.markup import ALLOWED_TAGS, clean_text, render_markdown
from portal.models import (
    Board,
    Category,
    Comment,
    Counter,
    Flag,
    Idea,
    Role,
    StatusChange,
    User,
    utcnow,
)
from portal.search.indexing import reindex_all

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
# Lists of event-handler names, not payloads.
NOT_PAYLOADS = {"0xcela_event_handlers.txt", "port_swigger_xss_cheatsheet_event_handlers.txt"}


def _data_folder() -> Path:
    for folder in (Path(os.environ.get("HOSTILE_DATA", DATA)), Path("/work/shared/data")):
        if (folder / "blns" / "blns.json").exists():
            return folder
    message = f"the hostile-input corpora are missing from {DATA}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def naughty_strings() -> list[str]:
    """The Big List of Naughty Strings, in its order (515, four of them repeated)."""
    return json.loads((_data_folder() / "blns" / "blns.json").read_text(encoding="utf-8"))


def xss_payloads() -> list[str]:
    """Every distinct non-blank line of the XSS payload files, sorted."""
    payloads = set()
    for path in sorted((_data_folder() / "xss-payloadsallthethings").glob("*.txt")):
        if path.name not in NOT_PAYLOADS:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            payloads.update(line for line in lines if line.strip())
    return sorted(payloads)


def corpus() -> list[str]:
    """Both corpora, each distinct string once: naughty strings first, then payloads."""
    return list(dict.fromkeys([*naughty_strings(), *xss_payloads()]))


# --- what a field stores ------------------------------------------------------------------


def one_line(text: str) -> str:
    """A title, name or description: control characters out, whitespace runs one space."""
    return " ".join(clean_text(text).split())


def fit(text: str, low: int, high: int, n: int) -> str:
    """text made to fit a field of low..high characters: too short gets the item's number
    (so that it is still there to find), too long is cut, as the field cannot hold more."""
    if len(text) < low:
        text = f"{text} №{n}".strip()
    return text[:high]


def title_of(text: str, n: int) -> str:
    return fit(one_line(text), 5, 120, n)


def name_of(text: str, n: int) -> str:
    return fit(one_line(text), 1, 80, n)


def block_of(text: str, n: int, high: int) -> str:
    """A Markdown body, comment or response (never empty: an empty one is not shown)."""
    return fit(clean_text(text), 1, high, n)


def shown(text: str) -> str:
    """How text appears in an HTML or XML page: escaped by Jinja."""
    return str(escape(text))


# --- what a browser would run ---------------------------------------------------------------

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _template_tags() -> frozenset[str]:
    tags = set()
    for path in TEMPLATES.rglob("*.*"):
        if path.suffix in (".html", ".xml"):
            tags.update(re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", path.read_text(encoding="utf-8")))
    return frozenset(tag.lower() for tag in tags)


# Elements our templates write, and those the sanitiser lets through (plus search's <mark>).
KNOWN_TAGS = _template_tags() | ALLOWED_TAGS | {"mark"}
NEVER = frozenset(
    {
        "script",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "base",
        "style",
        "template",
        "portal",
        "noembed",
        "xmp",
        "plaintext",
    }
)
URL_ATTRIBUTES = frozenset(
    {
        "href",
        "src",
        "action",
        "formaction",
        "xlink:href",
        "poster",
        "data",
        "background",
        "lowsrc",
        "dynsrc",
        "srcset",
        "ping",
        "cite",
        "longdesc",
        "manifest",
        "codebase",
        "classid",
        "archive",
        "usemap",
        "icon",
        "profile",
        "to",
        "from",
        "values",
        "by",
    }
)
SCRIPT_SCHEME = re.compile(r"(javascript|vbscript|livescript|data|mocha|jar):", re.I)
BAD_STYLE = re.compile(r"url\s*\(|expression|javascript|behavior|binding|@import", re.I)
# Our own: the vendored htmx and static/js/stimme.js, with this request's nonce.
OWN_SCRIPT = re.compile(r"/static/(vendor/htmx-[\d.]+\.min|js/stimme)\.js")
OWN_SCRIPTS = 2  # htmx and static/js/stimme.js


def is_script_url(value: str) -> bool:
    """Whether a browser reads value as a script URL. As the URL standard says, it drops
    control characters and spaces around the URL and tabs and newlines anywhere in it; a
    control character left inside ("java\x01script:") makes the scheme no scheme."""
    url = re.sub(r"[\t\n\r]", "", value.strip("".join(map(chr, range(0x21)))))
    return bool(SCRIPT_SCHEME.match(url))


class ScriptFinder(HTMLParser):
    """Parses a page and records anything in it that a browser would run, and any element
    that neither our templates nor the sanitiser write (a sign that input became markup)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name, value in attrs:
            self._attribute(tag, name, value or "")
        if tag == "script":
            self.scripts += 1
            if not (OWN_SCRIPT.fullmatch(values.get("src") or "") and values.get("nonce")):
                self.problems.append(f"<script {attrs!r}>")
        elif tag in NEVER:
            self.problems.append(f"<{tag}> element")
        elif tag not in KNOWN_TAGS:
            self.problems.append(f"<{tag}> element that no template writes")
        if tag == "meta" and "http-equiv" in values:
            self.problems.append(f"<meta http-equiv={values['http-equiv']!r}>")
        if tag == "link" and (values.get("rel") or "") not in ("icon", "stylesheet", "alternate"):
            self.problems.append(f"<link rel={values.get('rel')!r}>")

    def _attribute(self, tag: str, name: str, value: str) -> None:
        if name.startswith("on"):
            self.problems.append(f"<{tag} {name}=...> event handler")
        elif name in URL_ATTRIBUTES and is_script_url(value):
            self.problems.append(f"<{tag} {name}={value[:80]!r}>")
        elif name in ("srcdoc", "xmlns:xlink", "formaction", "http-equiv") and tag != "meta":
            self.problems.append(f"<{tag} {name}>")
        elif name == "style" and BAD_STYLE.search(value):
            self.problems.append(f"<{tag} style={value[:80]!r}>")

    handle_startendtag = handle_starttag


def problems_in(html: str) -> list[str]:
    """What in html a browser would run; [] when it is inert."""
    finder = ScriptFinder()
    finder.feed(html)
    finder.close()
    problems = finder.problems
    # Only the page's own script tags; any other "<script" came from input unescaped.
    if len(re.findall(r"<script", html, re.I)) != finder.scripts:
        problems.append("a <script that the parser did not see as an element")
    if finder.scripts > OWN_SCRIPTS:
        problems.append(f"{finder.scripts} script elements")
    return problems


def assert_inert(response, what: str) -> None:
    """The answer is no server error, and an HTML answer runs nothing from input."""
    assert response.status_code != 500, what
    if response.mimetype == "text/html":
        problems = problems_in(response.text)
        assert not problems, f"{what}: {problems}"


def assert_shown(page: str, texts, what: str, escaped: bool = True) -> int:
    """Every text appears in page exactly as stored (escaped where page is markup), and
    none that holds markup appears unescaped; returns how many were checked."""
    count = 0
    for text in texts:
        if escaped:
            assert shown(text) in page, f"{what}: {text!r} is not shown as it was stored"
            if re.search(r"<[a-zA-Z!/?]", text):
                assert text not in page, f"{what}: {text!r} appears unescaped"
        else:
            assert text in page, f"{what}: {text!r} is not shown as it was stored"
        count += 1
    return count


# --- a site full of hostile text, written in bulk -----------------------------------------

PER_BOARD = 30  # a board's feed shows its 30 newest ideas
MARKER = "zebra"  # in every hostile description, so one search lists them all


@dataclass
class Item:
    """What one payload became in each field that holds it."""

    n: int
    text: str
    title: str
    name: str
    body: str
    body_html: str
    number: int = 0
    board: str = ""
    user_id: int = 0
    category_id: int = 0
    idea_id: int = 0
    comment_id: int = 0  # on the thread of comments


def items_for(texts: list[str]) -> list[Item]:
    items = []
    for n, text in enumerate(texts):
        body = f"{block_of(text, n, 9_000)}\n\n{MARKER}"
        items.append(
            Item(n, text, title_of(text, n), name_of(text, n), body, render_markdown(body))
        )
    return items


def add_person(name: str, role: Role = Role.CUSTOMER, email: str | None = None, **fields) -> User:
    fields.setdefault("created_at", utcnow() - timedelta(days=2))
    user = User(
        email=email or f"{secrets.token_hex(6)}@example.com",
        name=name,
        password_hash=PASSWORD_HASH,
        email_verified_at=utcnow(),
        **fields,
    )
    user.role = role
    db.session.add(user)
    return user


def insert_rows(model, rows: list[dict]) -> list[int]:
    """Insert rows in one statement and return their ids, in order."""
    statement = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(db.session.scalars(statement, rows))


def person_email(n: int) -> str:
    """The address of item n's author; `.wK@` finds the 50 of window K (admins' people list
    shows 50 at a time)."""
    return f"hostile{n}.w{n // 50}@example.com"


def build_site(items: list[Item], owner: User, per_board: int = PER_BOARD) -> None:
    """Ideas, one per item, on boards of per_board: each with the item's title, description
    (Markdown), category and author, and a status change to completed with the item's text
    as the team's response. Call in an app context; commits, and indexes the ideas."""
    now = utcnow()
    people = [
        {
            "email": person_email(item.n),
            "name": item.name,
            "password_hash": PASSWORD_HASH,
            "role_value": int(Role.CUSTOMER),
            "email_verified_at": now,
            "created_at": now - timedelta(days=2),
        }
        for item in items
    ]
    authors = insert_rows(User, people)
    boards = insert_rows(
        Board,
        [
            {"slug": f"h{b}", "name": f"Board {b}", "position": b, "description": "Hostile ideas."}
            for b in range(-(-len(items) // per_board))
        ],
    )
    board_of = [boards[item.n // per_board] for item in items]
    categories = insert_rows(
        Category,
        [{"board_id": board_of[item.n], "slug": f"c{item.n}", "name": item.name} for item in items],
    )
    first = (db.session.scalar(db.select(func.max(Idea.number))) or 0) + 1
    ideas = insert_rows(
        Idea,
        [
            {
                "number": first + item.n,
                "board_id": board_of[item.n],
                "category_id": categories[item.n],
                "author_id": authors[item.n],
                "title": item.title,
                "body": item.body,
                "body_html": item.body_html,
                "status": "completed",
                "vote_count": 0,
                "comment_count": 0,
                "trending": 0.0,
                "created_at": now - timedelta(days=1, seconds=item.n),
                "updated_at": now - timedelta(seconds=item.n),
                "status_changed_at": now - timedelta(seconds=item.n),
            }
            for item in items
        ],
    )
    insert_rows(
        StatusChange,
        [
            {
                "idea_id": ideas[item.n],
                "author_id": owner.id,
                "from_status": "open",
                "to_status": "completed",
                "response": item.body,
                "response_html": item.body_html,
                "created_at": now - timedelta(seconds=item.n),
            }
            for item in items
        ],
    )
    slugs = {board: f"h{b}" for b, board in enumerate(boards)}
    for item in items:
        item.number, item.board = first + item.n, slugs[board_of[item.n]]
        item.user_id, item.category_id, item.idea_id = (
            authors[item.n],
            categories[item.n],
            ideas[item.n],
        )
    counter = db.session.get(Counter, "idea_number") or Counter(name="idea_number")
    counter.value = first + len(items) - 1
    db.session.add(counter)
    db.session.commit()
    reindex_all()


def add_threads(items: list[Item], owner_id: int, stride: int) -> tuple[int, int]:
    """Two ideas: the first has every item as a comment by its author (marked as the team's
    answer, so that its feed carries them), every stride-th comment flagged by the authors
    of the next stride items with their text as the notes; the second has every item as a
    status change's response. Returns their numbers; commits."""
    now = utcnow()
    number = db.session.scalar(db.select(func.max(Idea.number)))
    board_id = db.session.scalar(db.select(Idea.board_id).filter_by(number=number))
    ideas = insert_rows(
        Idea,
        [
            {
                "number": number + k,
                "board_id": board_id,
                "author_id": owner_id,
                "title": title,
                "body": "",
                "body_html": "",
                "status": "planned",
                "vote_count": 0,
                "comment_count": len(items) if k == 1 else 0,
                "trending": 0.0,
                "created_at": now - timedelta(days=3),
                "updated_at": now,
            }
            for k, title in ((1, "Every payload as a comment"), (2, "Every payload as an answer"))
        ],
    )
    at = [now - timedelta(days=2) + timedelta(seconds=item.n) for item in items]
    comments = insert_rows(
        Comment,
        [
            {
                "idea_id": ideas[0],
                "author_id": item.user_id,
                "body": item.body,
                "body_html": item.body_html,
                "is_official": True,
                "created_at": at[item.n],
            }
            for item in items
        ],
    )
    insert_rows(
        StatusChange,
        [
            {
                "idea_id": ideas[1],
                "author_id": owner_id,
                "from_status": "open",
                "to_status": "planned",
                "response": item.body,
                "response_html": item.body_html,
                "created_at": at[item.n],
            }
            for item in items
        ],
    )
    insert_rows(
        Flag,
        [
            {
                "user_id": items[(item.n + 1) % len(items)].user_id,
                "comment_id": comments[item.n - item.n % stride],
                "reason": "other",
                "note": note_of(item),
                "created_at": at[item.n],
            }
            for item in items
        ],
    )
    counter = db.session.get(Counter, "idea_number")
    counter.value = number + 2
    db.session.commit()
    for item in items:
        item.comment_id = comments[item.n]
    return number + 1, number + 2


def note_of(item: Item) -> str:
    """A flag's note: at most 500 characters."""
    return fit(clean_text(item.text), 1, 500, item.n)


def webhook_url(text: str) -> str:
    """An address on this machine's discard port, with the payload as its path."""
    return "http://127.0.0.1:9/" + re.sub(r"\s+", "", clean_text(text))[:1900]
