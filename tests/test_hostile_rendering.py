"""Every payload of both corpora, in every field, in every place that shows the field: the
page runs nothing, and the text is there as it was stored.

The data is written in bulk (the point here is rendering; tests/test_hostile_input.py sends
a sample through the real forms). One site is built for the whole module:

- one idea per payload, on boards of 30: the payload is its title, description, category
  and its author's display name, and the team's response when it was completed;
- "thread" ideas holding every payload as a comment (by that payload's author), as an
  official answer and as a status change;
- flags with every payload as the note, webhooks with every payload in the address,
  boards with every payload as name and description.

Each place is read as often as it takes to show every payload once (pages, boards, or a
window moved through the items where a place has no paging). The figures are written to
tests/artifacts/hostile-figures-<database>-<worker>.json, one file per worker that ran a part.
"""

import json
import os
import re
from collections import defaultdict
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from hostile import (
    MARKER,
    add_person,
    add_threads,
    assert_inert,
    build_site,
    corpus,
    insert_rows,
    items_for,
    one_line,
    problems_in,
    shown,
    webhook_url,
)
from lxml import etree
from werkzeug.datastructures import MultiDict

from conftest import empty_tables, htmx_headers, text_and_html
from portal.extensions import db, limiter
from portal.mail import build_message
from portal.markup import clean_text
from portal.models import (
    AuditEntry,
    Board,
    Comment,
    Flag,
    Idea,
    Notification,
    OutboxMessage,
    Role,
    StatusChange,
    Subscription,
    User,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from portal.notifications import fan_out
from portal.operations import ValidationError
from portal.operations.admin import GUIDELINES_MAX, save_site
from portal.operations.webhooks.editing import validate_webhook
from portal.search import get_backend
from portal.settings import save_settings, site_settings
from portal.views import roadmap

pytestmark = pytest.mark.long  # make test-long: every payload in every place that shows it

ARTIFACTS = Path(__file__).parent / "artifacts"
ATOM = {"atom": "http://www.w3.org/2005/Atom"}
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
FIGURES: dict[str, int] = defaultdict(int)
# Places that show one item per request (an idea's page, a mail) get every STRIDE-th payload:
# about 10 ms a request would make the whole corpus cost minutes. HOSTILE_STRIDE=1 runs all.
STRIDE = int(os.environ.get("HOSTILE_STRIDE", "16"))
FULL = STRIDE == 1  # make test-long: every payload in every place
# From test_guidelines on, the tests build the site again on a worker of their own: in full
# the module takes 7 minutes in one process, each part about half (tests/conftest.py). The
# first part ends with test_notifications, which reads the notices test_mails left.
WORLD_STARTS = ("test_guidelines",)


def sparser(factor: int) -> int:
    """A sample's step for the dearest places (mails, searches); every payload when FULL."""
    return 1 if FULL else STRIDE * factor


def cover(field: str, place: str, count: int = 1) -> None:
    FIGURES[f"{field} | {place}"] += count


@pytest.fixture(scope="module", autouse=True)
def figures(app):
    FIGURES.clear()
    yield
    ARTIFACTS.mkdir(exist_ok=True)
    database = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
    name = f"hostile-figures-{database}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.json"
    (ARTIFACTS / name).write_text(json.dumps(dict(sorted(FIGURES.items())), indent=1))


@pytest.fixture(autouse=True)
def _clean_state():
    """Overrides conftest's: this module builds its site once and only reads it."""
    limiter.reset()
    yield


class Site:
    def __init__(self, items, admin, owner, moderator):
        self.items, self.admin, self.owner, self.moderator = items, admin, owner, moderator
        self.boards = sorted({item.board for item in items}, key=lambda slug: int(slug[1:]))


@pytest.fixture(scope="module")
def site(app):
    with app.app_context():
        empty_tables()
        get_backend().rebuild([])
        admin = add_person("Ada Admin", Role.ADMIN, email="admin@example.com")
        owner = add_person("Olga Owner", Role.OWNER, email="owner@example.com")
        moderator = add_person("Mo Moderator", Role.MODERATOR, email="moderator@example.com")
        db.session.flush()
        items = items_for(corpus())
        build_site(items, owner)
        for user in (admin, owner, moderator):
            db.session.refresh(user)
            db.session.expunge(user)
    return Site(items, admin, owner, moderator)


def get(client, path, what, status=200, **options):
    response = client.get(path, **options)
    assert response.status_code == status, (what, path, response.status_code)
    assert_inert(response, what)
    return response.text


def assert_shows(page: str, texts, what: str) -> None:
    for text in texts:
        assert shown(text) in page, f"{what}: {text!r} is not shown as it was stored"


def assert_holds(page: str, htmls, what: str) -> None:
    for html in htmls:
        assert html in page, f"{what}: the sanitised HTML is not shown as stored"


def assert_in_order(page: str, fragments, what: str) -> None:
    """Each fragment appears in page after the one before: one pass over a long page."""
    position = 0
    for fragment in fragments:
        found = page.find(fragment, position)
        assert found >= 0, f"{what}: {fragment[:200]!r} is not shown (in order) as stored"
        position = found + len(fragment)


def as_xml(text: str) -> str:
    """What an Atom feed holds of text: XML 1.0 cannot carry U+FFFE, U+FFFF or C0 controls."""
    return NOT_XML.sub("", text)


def feed(client, path: str):
    """The feed at path, parsed; every HTML content in it runs nothing."""
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.mimetype == "application/atom+xml", path
    root = etree.fromstring(response.data)
    for content in root.iterfind(".//atom:content", ATOM):
        assert content.get("type") in ("html", "text"), path
        problems = problems_in(content.text or "")
        assert not problems, f"{path}: {problems}"
    return root


def contents(root) -> list[str]:
    return [content.text or "" for content in root.iterfind(".//atom:content", ATOM)]


def by_board(site):
    boards = defaultdict(list)
    for item in site.items:
        boards[item.board].append(item)
    return boards


# --- lists of ideas -------------------------------------------------------------------------


@pytest.fixture
def long_pages(app, monkeypatch):
    """100 ideas a page instead of 20: the same templates, a fifth of the requests."""
    monkeypatch.setitem(app.config, "PER_PAGE", 100)
    monkeypatch.setattr(roadmap, "CHANGELOG_PAGE", 100)
    monkeypatch.setattr(roadmap, "LANE_SHOWN", 10_000)  # whole lanes: every item on one page
    return 100


def test_board_pages(client, site, long_pages):
    """Every board page, sorted newest first, and every STRIDE-th board's htmx fragments."""
    per_page = long_pages
    for b, (slug, items) in enumerate(by_board(site).items()):
        for page in range(1, -(-len(items) // per_page) + 1):
            listed = items[(page - 1) * per_page : page * per_page]  # newest first, as built
            kinds = [({}, "board page")]
            if b % STRIDE == 0:
                kinds.append((htmx_headers(), "board fragment"))
            for headers, place in kinds:
                # Any status: by default a board leaves out the closed ideas.
                html = get(
                    client, f"/b/{slug}?status=&sort=new&page={page}", place, headers=headers
                )
                assert_shows(html, [item.title for item in listed], place)
                assert_shows(html, [item.name for item in listed], place)  # author, category
                for field in ("title", "display name", "category"):
                    cover(field, place, len(listed))
                if page == 1 and not headers:
                    assert_shows(html, [item.name for item in items], "board filter")
                    cover("category", "board filter", len(items))


def test_idea_pages_fragments_and_feeds(client, site):
    """One page per idea (every STRIDE-th): title, description, category, author and the
    team's response; every other one of those also as an htmx fragment, and its feed."""
    for k, item in enumerate(site.items[::STRIDE]):
        fragment = FULL or k % 2
        kinds = [({}, "idea page")] + ([(htmx_headers(), "idea fragment")] if fragment else [])
        for headers, place in kinds:
            html = get(client, f"/ideas/{item.number}", place, headers=headers)
            assert_shows(html, [item.title, item.name], place)
            assert_holds(html, [item.body_html], place)
            for field in ("title", "description", "category", "display name", "response"):
                cover(field, place)
        if FULL or k % 2 == 0:
            root = feed(client, f"/ideas/{item.number}/feed.atom")
            title = root.findtext("atom:title", namespaces=ATOM)
            assert title == as_xml(f"#{item.number} {item.title}")
            assert as_xml(item.body_html) in contents(root)
            cover("title", "idea feed")
            cover("response", "idea feed")


def test_roadmap_and_changelog(client, site, long_pages):
    for slug, items in by_board(site).items():
        html = get(client, f"/roadmap?board={slug}", "roadmap")
        assert_shows(html, [item.title for item in items], "roadmap")
        cover("title", "roadmap", len(items))
    per_page, page, items = long_pages, 1, site.items  # completed newest first, as built
    while listed := items[(page - 1) * per_page : page * per_page]:
        html = get(client, f"/changelog?page={page}", "changelog")
        assert_shows(html, [item.title for item in listed], "changelog")
        assert_holds(html, [item.body_html for item in listed], "changelog")
        cover("title", "changelog", len(listed))
        cover("response", "changelog", len(listed))
        page += 1


def test_search_results_with_highlights(client, site, long_pages):
    """A word every description holds lists every idea: titles and snippets as the search
    backend highlights them."""
    per_page = long_pages
    seen = set()
    for page in range(1, -(-len(site.items) // per_page) + 1):
        html = get(client, f"/search?q={MARKER}&page={page}", "search results")
        assert html.count("<mark>") >= per_page or page * per_page >= len(site.items)
        seen.update(int(n) for n in re.findall(r'id="idea-(\d+)"', html))
    assert seen == {item.number for item in site.items}
    cover("title", "search results", len(seen))
    cover("description", "search results (snippet)", len(seen))


def entry_texts(root, path: str) -> list[str]:
    """The text at path (or the attribute, after "@") in each entry, "" where empty."""
    path, _, attribute = path.partition("@")
    found = [entry.find(path, ATOM) for entry in root.iterfind("atom:entry", ATOM)]
    return [(e.get(attribute) if attribute else e.text) or "" for e in found]


def test_feeds_of_boards_and_changelog(client, site):
    for slug, items in by_board(site).items():
        root = feed(client, f"/b/{slug}/feed.atom")
        assert entry_texts(root, "atom:title") == [as_xml(item.title) for item in items]
        names = entry_texts(root, "atom:author/atom:name")
        assert names == [as_xml(item.name) for item in items]
        labels = entry_texts(root, "atom:category@label")
        assert labels == [as_xml(item.name) for item in items]
        assert contents(root) == [as_xml(item.body_html) for item in items]
        root = feed(client, f"/changelog.atom?board={slug}")
        assert entry_texts(root, "atom:title") == [as_xml(item.title) for item in items]
        assert contents(root) == [as_xml(item.body_html) for item in items]
        for field in ("title", "description", "display name", "category"):
            cover(field, "board feed", len(items))
        cover("title", "changelog feed", len(items))
        cover("response", "changelog feed", len(items))


def test_api_answers(client, api, site, roomy_limits):
    """JSON keeps every text exactly as stored; the HTML in it runs nothing."""
    by_number = {item.number: item for item in site.items}
    page, seen = 1, 0
    while True:
        path = f"/api/v1/ideas?sort=new&per_page=100&page={page}"
        answer = (api.get(path) if page == 1 else client.get(path)).get_json()
        for idea in answer["ideas"]:
            item = by_number[idea["number"]]
            assert (idea["title"], idea["body"], idea["author"]["name"]) == (
                item.title,
                item.body,
                item.name,
            )
            assert idea["body_html"] == item.body_html and not problems_in(idea["body_html"])
            seen += 1
        if not answer["has_next"]:
            break
        page += 1
    assert seen == len(site.items)
    for field in ("title", "description", "display name"):
        cover(field, "API ideas", seen)
    boards = api.get("/api/v1/boards").get_json()["boards"]
    names = [c["name"] for board in boards for c in board["categories"]]
    assert sorted(names) == sorted(item.name for item in site.items)
    cover("category", "API boards", len(names))
    for item in site.items[:: sparser(4)]:
        hits = client.get("/api/v1/search", query_string={"q": item.text}).get_json()["hits"]
        for hit in hits:
            assert not problems_in(hit["snippet"]) and not problems_in(hit["body_html"])
            assert set(re.findall(r"</?([a-z]+)", hit["snippet"])) <= {"mark"}
        cover("search query", "API search")


# --- threads: every payload as a comment, a response and an official answer -----------------


class Threads:
    def __init__(self, comments: int, answers: int):
        self.comments, self.answers = comments, answers


@pytest.fixture(scope="module")
def threads(app, site):
    """See hostile.add_threads: every payload as a comment (flagged, with payloads as the
    notes) and as a status change's response."""
    with app.app_context():
        return Threads(*add_threads(site.items, site.owner.id, STRIDE))


def test_every_payload_as_a_comment_response_and_answer(client, api, site, threads):
    html = get(client, f"/ideas/{threads.comments}", "idea page")
    comments = [(shown(item.name), item.body_html) for item in site.items]
    assert_in_order(html, [part for comment in comments for part in comment], "idea page")
    cover("comment", "idea page", len(site.items))
    cover("display name", "idea page (comments)", len(site.items))
    html = get(client, f"/ideas/{threads.answers}", "idea page")
    assert_in_order(html, [item.body_html for item in site.items], "idea page")
    cover("response", "idea page (timeline)", len(site.items))
    for number, field in ((threads.comments, "official answer"), (threads.answers, "response")):
        root = feed(client, f"/ideas/{number}/feed.atom")
        assert contents(root) == [as_xml(item.body_html) for item in reversed(site.items)]
        cover(field, "idea feed", len(site.items))
    page, seen = 1, []
    while True:
        path = f"/api/v1/ideas/{threads.comments}/comments?per_page=100&page={page}"
        answer = client.get(path).get_json()
        seen += [(c["body"], c["body_html"], c["author"]["name"]) for c in answer["comments"]]
        if not answer["has_next"]:
            break
        page += 1
    assert seen == [(item.body, item.body_html, item.name) for item in site.items]
    assert all(not problems_in(body_html) for _, body_html, _ in seen)
    cover("comment", "API comments", len(seen))
    cover("display name", "API comments", len(seen))
    api.get(f"/api/v1/ideas/{threads.comments}/comments?per_page=100")  # as described


def test_review_queue(app, client, auth, site, threads):
    """The queue shows 100 items at a time: each round handles the shown flags. Every
    STRIDE-th idea also waits for approval, with its title, description and author."""
    auth.login(site.moderator)
    by_comment = {item.comment_id: item for item in site.items}
    notes = items = 0
    while True:
        html = get(client, "/moderation", "review queue")
        keys = [int(k) for k in re.findall(r'id="queue-comment-(\d+)"', html)]
        if not keys:
            break
        with app.app_context():
            flags = db.session.scalars(db.select(Flag).where(Flag.comment_id.in_(keys))).all()
            for flag in flags:
                assert shown(flag.note) in html
                flag.resolved_at = utcnow()
            db.session.commit()
        for key in keys:
            assert shown(by_comment[key].name) in html and by_comment[key].body_html in html
        notes, items = notes + len(flags), items + len(keys)
    assert notes == len(site.items)
    cover("flag note", "review queue", notes)
    for field in ("comment", "display name"):
        cover(field, "review queue", items)
    held = site.items[::STRIDE]
    set_held(app, held, True)
    try:
        seen = set()
        while len(seen) < len(held):
            html = get(client, "/moderation", "review queue")
            keys = {int(k) for k in re.findall(r'id="queue-idea-(\d+)"', html)}
            assert keys - seen, "the queue shows no new held idea"
            for item in held:
                if item.idea_id in keys:
                    assert shown(item.title) in html and shown(item.name) in html
                    assert item.body_html in html
            set_held(app, [item for item in held if item.idea_id in keys], False)
            seen |= keys
        for field in ("title", "description", "display name"):
            cover(field, "review queue (held)", len(seen))
    finally:
        set_held(app, held, False)


def set_held(app, items, held: bool) -> None:
    with app.app_context():
        ids = [item.idea_id for item in items]
        db.session.execute(db.update(Idea).where(Idea.id.in_(ids)).values(is_held=held))
        db.session.commit()


# --- staff pages ----------------------------------------------------------------------------


def test_admin_pages(client, auth, site):
    auth.login(site.admin)
    windows = -(-len(site.items) // 50)  # the people list shows 50 at a time
    for window in range(windows):
        html = get(client, f"/admin/users?q=.w{window}@", "admin people")
        listed = site.items[window * 50 : (window + 1) * 50]
        assert_shows(html, [item.name for item in listed], "admin people")
        cover("display name", "admin people", len(listed))
    for b, (slug, items) in enumerate(by_board(site).items()):
        html = get(client, f"/admin/boards/{slug}", "admin board")
        assert_shows(html, [item.name for item in items], "admin board")
        cover("category", "admin board", len(items))
        if b % STRIDE == 0:
            html = get(client, f"/b/{slug}/new", "new idea form")
            assert_shows(html, [item.name for item in items], "new idea form")
            cover("category", "new idea form", len(items))


def test_mails(app, mailbox, site, threads):
    """Every 4×STRIDE-th idea's status change, mailed to a follower named with the next
    payload, and every 4×STRIDE-th comment, mailed to the comment thread's follower: the
    message as the outbox holds it, and a sample through a real SMTP server."""
    sample = site.items[:: sparser(4)]
    with app.app_context():
        before = utcnow() - timedelta(days=5)
        reader = add_person("Rita Reader", email="reader@example.com")
        db.session.flush()
        thread = db.session.scalar(db.select(Idea).filter_by(number=threads.comments))
        db.session.add(
            Subscription(user_id=reader.id, idea_id=thread.id, level="all", created_at=before)
        )
        for item in sample:
            follower = site.items[(item.n + 1) % len(site.items)]
            db.session.add(
                Subscription(
                    user_id=follower.user_id,
                    idea_id=item.idea_id,
                    level="status",
                    created_at=before,
                )
            )
        db.session.commit()
        changes = dict(
            db.session.execute(
                db.select(StatusChange.idea_id, StatusChange.id).where(
                    StatusChange.idea_id.in_([item.idea_id for item in sample])
                )
            ).all()
        )
        comments = db.session.scalars(
            db.select(Comment.id).filter_by(idea_id=thread.id).order_by(Comment.id)
        ).all()
        db.session.execute(db.update(OutboxMessage).values(sent_at=utcnow()))
        for item in sample:
            fan_out({"event": "status_changed", "status_change_id": changes[item.idea_id]})
            fan_out({"event": "comment_posted", "comment_id": comments[item.n]})
        db.session.commit()
        rows = db.session.scalars(
            db.select(OutboxMessage)
            .filter_by(kind="email", sent_at=None)
            .order_by(OutboxMessage.id)
        ).all()
        messages = [(row.id, row.payload) for row in rows]
    assert len(messages) == 2 * len(sample)
    folded = 0
    for (_, status_mail), (_, comment_mail), item in zip(
        messages[::2], messages[1::2], sample, strict=True
    ):
        follower = site.items[(item.n + 1) % len(site.items)]
        message = read_back(status_mail)
        text, html = parts(message)
        assert shown(item.title) in html and shown(follower.name) in html
        assert item.body_html in html and item.title in text and item.body in text
        assert status_mail["subject"].startswith(f"#{item.number} {item.title}"[:200])
        folded += subject_folded(message, status_mail["subject"])
        text, html = parts(read_back(comment_mail))
        assert shown(item.name) in html and item.body_html in html
        assert item.name in text and item.body in text
    for field in ("title", "response", "display name", "comment"):
        cover(field, "mail (HTML and text parts)", len(sample))
    cover("title", "mail subject", len(sample))
    cover("title", "mail subject that loses a space between encoded words", folded)
    with app.app_context():  # through SMTP: a sample of the sample
        through = [message_id for message_id, _ in messages[:: max(1, len(messages) // 40)]]
        db.session.execute(
            db.update(OutboxMessage)
            .where(OutboxMessage.id.not_in(through))
            .values(sent_at=utcnow())
        )
        db.session.commit()
    received = mailbox.receive()
    assert len(received) == len(through)
    for message in received:
        text, html = text_and_html(message)
        assert not problems_in(html)
    cover("mail", "through SMTP", len(received))


def read_back(payload: dict):
    """The message the outbox would send for payload, as a mail reader parses it."""
    sent = bytes(build_message("Stimme <no-reply@localhost>", payload))
    return message_from_bytes(sent, policy=policy.default)


def subject_folded(message, subject: str) -> bool:
    """Whether the subject reads back with a space lost: Python's header folder drops the
    space between two encoded words it splits a line at (CPython gh-144156). The parser's
    leading space after a fold right behind "Subject:" (gh-124452) is no change."""
    read = message["Subject"].lstrip(" ")
    if read == subject:
        return False
    assert read.replace(" ", "") == subject.replace(" ", ""), read
    return True


def parts(message) -> tuple[str, str]:
    """The text and HTML parts of a message, the HTML checked."""
    text, html = text_and_html(message)
    problems = problems_in(html)
    assert not problems, problems
    return text, html


def test_notifications(app, client, auth, site, threads):
    """The comment thread's follower got a notice per mailed comment, naming its author."""
    with app.app_context():
        reader = db.session.scalar(db.select(User).filter_by(email="reader@example.com"))
        db.session.refresh(reader)
        db.session.expunge(reader)
    auth.login(reader)
    seen = 0
    while True:
        html = get(client, "/notifications", "notifications")
        with app.app_context():
            notices = db.session.scalars(
                db.select(Notification)
                .filter_by(user_id=reader.id)
                .order_by(Notification.created_at.desc(), Notification.id.desc())
                .limit(50)
            ).all()
            if not notices:
                break
            for notice in notices:
                assert shown(notice.text) in html
            seen += len(notices)
            db.session.execute(
                db.delete(Notification).where(Notification.id.in_([n.id for n in notices]))
            )
            db.session.commit()
    assert seen == len(site.items[:: sparser(4)])
    cover("display name", "notifications", seen)


def test_guidelines(app, client, auth, site):
    """The community guidelines are one setting of at most 5,000 characters: the payloads go
    in as paragraphs of as few settings as hold them all."""
    chunks, chunk = [], []
    for item in site.items:
        text = clean_text(item.text)
        if chunk and len("\n\n".join([*chunk, text])) > GUIDELINES_MAX:
            chunks.append("\n\n".join(chunk))
            chunk = []
        chunk.append(text[:GUIDELINES_MAX])
    chunks.append("\n\n".join(chunk))
    auth.login(site.admin)
    try:
        for guidelines in chunks:
            with app.app_context():
                save_site(
                    db.session.get(User, site.admin.id),
                    {"site_name": "Stimme", "accent": "#1f6feb", "guidelines": guidelines},
                )
                db.session.commit()
                stored = site_settings()
            assert stored["guidelines"] == clean_text(guidelines)
            html = get(client, f"/b/{site.items[0].board}/new", "new idea form")
            assert_holds(html, [stored["guidelines_html"]], "new idea form")
            html = get(client, "/admin/site", "admin site")
            assert_shows(html, [clean_text(guidelines)], "admin site")
    finally:
        with app.app_context():
            save_settings({"guidelines": "", "guidelines_html": ""})
            db.session.commit()
    cover("guidelines", "new idea form", len(site.items))
    cover("guidelines", "admin site form", len(site.items))
    cover("guidelines", "settings holding them", len(chunks))


def test_search_queries(client, site):
    """Every 2×STRIDE-th payload as a search: shown in the box, the title and the count
    line, with the ideas it finds highlighted."""
    for item in site.items[:: sparser(2)]:
        query = clean_text(item.text)[:200]
        html = get(client, "/search", "search", query_string={"q": item.text})
        if query.strip():
            assert_shows(html, [query], "search")
        cover("search query", "search page")


def test_webhooks(app, client, auth, site):
    """A webhook per payload (paused: nothing is sent), with the payload in its address
    and description; a delivery log whose answers are the payloads; the audit log."""
    hooks, refused = [], []
    with app.app_context():
        admin = db.session.get(User, site.admin.id)
        for item in site.items:
            form = MultiDict(
                {
                    "url": webhook_url(item.text),
                    "events": "idea.created",
                    "description": one_line(item.text)[:200],
                }
            )
            try:
                hooks.append((item, validate_webhook(form)))
            except ValidationError as invalid:
                refused.append((item.text, invalid.fields))
        ids = insert_rows(
            Webhook,
            [
                {
                    **values,
                    "secret": "whsec_test",
                    "is_active": False,
                    "failure_streak": 0,
                    "created_by_id": admin.id,
                }
                for _, values in hooks
            ],
        )
        insert_rows(
            AuditEntry,
            [
                {
                    "actor_id": admin.id,
                    "action": "webhook.create",
                    "target_type": "webhook",
                    "target_id": hook_id,
                    "after": {"url": values["url"], "description": values["description"]},
                }
                for hook_id, (_, values) in zip(ids, hooks, strict=True)
            ],
        )
        insert_rows(
            WebhookDelivery,
            [
                {
                    "webhook_id": ids[0],
                    "event": "idea.created",
                    "body": "{}",
                    "attempts": 1,
                    "response_code": 500,
                    "response_excerpt": item.text[:500],
                    "error": item.text[:500],
                    "last_attempt_at": utcnow(),
                }
                for item in site.items
            ],
        )
        db.session.commit()
    assert refused == [], refused[:5]
    auth.login(site.admin)
    html = get(client, "/admin/webhooks", "admin webhooks")
    shown_hooks = [shown(v[k]) for _, v in hooks for k in ("url", "description") if v[k]]
    assert_in_order(html, shown_hooks, "admin webhooks")
    cover("webhook URL", "admin webhooks", len(hooks))
    cover("webhook description", "admin webhooks", len(hooks))
    for hook_id, (_, values) in list(zip(ids, hooks, strict=True))[::STRIDE]:
        html = get(client, f"/admin/webhooks/{hook_id}", "admin webhook")
        assert_shows(html, [values["url"]], "admin webhook")
        cover("webhook URL", "admin webhook")
    page = 1
    while True:
        html = get(client, f"/admin/webhooks/{ids[0]}/deliveries?page={page}", "deliveries")
        if 'rel="next"' not in html:
            break
        page += 1
    cover("receiver's answer", "delivery log", len(site.items))
    page = 1
    while True:
        html = get(client, f"/admin/audit?page={page}", "audit log")
        if 'rel="next"' not in html:
            break
        page += 1
    cover("webhook URL", "audit log", len(hooks))


def test_boards_named_with_payloads(app, client, auth, site):
    """A board per payload: its name and description everywhere boards are listed, and
    every STRIDE-th board's own page, feed and admin page. Runs last: the boards stay."""
    with app.app_context():
        rows = [
            {
                "slug": f"p{item.n}",
                "name": item.name,
                "position": 1000 + item.n,
                "description": clean_text(item.text)[:2000],
            }
            for item in site.items
        ]
        insert_rows(Board, rows)
        db.session.commit()
    for path, place in (("/", "board list"), ("/roadmap", "roadmap"), ("/search", "search")):
        html = get(client, path, place)
        assert_in_order(html, [shown(row["name"]) for row in rows], place)
        cover("board name", place, len(rows))
    html = get(client, "/", "board list")
    assert_in_order(html, [shown(r[k]) for r in rows for k in ("name", "description")], "boards")
    cover("board description", "board list", len(rows))
    boards = {b["slug"]: b for b in client.get("/api/v1/boards").get_json()["boards"]}
    assert all(
        (boards[r["slug"]]["name"], boards[r["slug"]]["description"])
        == (r["name"], r["description"])
        for r in rows
    )
    cover("board name", "API boards", len(rows))
    for row in rows[::STRIDE]:
        html = get(client, f"/b/{row['slug']}", "board page")
        assert_shows(html, [row["name"], row["description"]], "board page")
        root = feed(client, f"/b/{row['slug']}/feed.atom")
        assert root.findtext("atom:subtitle", namespaces=ATOM) in (as_xml(row["description"]), None)
        for field in ("board name", "board description"):
            cover(field, "board page")
            cover(field, "board feed")
    auth.login(site.admin)
    html = get(client, "/admin/boards", "admin boards")
    assert_in_order(html, [shown(row["name"]) for row in rows], "admin boards")
    cover("board name", "admin boards", len(rows))
    for row in rows[::STRIDE]:
        html = get(client, f"/admin/boards/{row['slug']}", "admin board")
        assert_shows(html, [row["name"], row["description"]], "admin board")
        cover("board name", "admin board form")
        cover("board description", "admin board form")
