"""Visitors' pages come from memory, and every write shows at once, in every process
(issue 7, point 3): portal/pagecache.py."""

import re
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from conftest import PASSWORD, htmx_headers
from portal import create_app, pagecache
from portal.extensions import db
from portal.models import Board, Comment, Counter, Idea, Role
from portal.pagecache import Page, PageCache

PAGES = ["/", "/b/features", "/b/features?sort=new&status=open", "/ideas/{number}"]


def other_process(app, tmp_path, **config):
    """A second instance of the portal on the suite's database, as another gunicorn worker
    or machine would be; its pages stay a minute unless a write makes them stale."""
    return create_app(
        {
            "ENV": {"PORTAL_ENV": "development"},
            "INSTANCE_PATH": str(tmp_path / "other"),
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "PAGE_CACHE_SECONDS": 60,
            **config,
        }
    )


@pytest.fixture
def other(app, tmp_path):
    second = other_process(app, tmp_path)
    yield second
    with second.app_context():
        db.session.remove()
        db.engine.dispose()


@contextmanager
def statements(app):
    """The SQL statements the app sends while the block runs: through SQLAlchemy, and the
    page cache's version reads on its own connection (counted as "version read")."""
    seen = []

    def count(_conn, _cursor, statement, *_args):
        if not statement.startswith(("BEGIN", "PRAGMA")):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    versions = app.extensions["pagecache"].versions
    reads = versions.reads
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)
        seen += ["version read"] * (versions.reads - reads)


def nonce_of(response) -> tuple[str, str]:
    """The nonce the policy allows, and the one on the page's script."""
    policy = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    script = re.search(r'<script[^>]*nonce="([^"]+)"', response.text)
    return policy, script.group(1) if script else ""


def without_nonce(response) -> str:
    return response.text.replace(nonce_of(response)[1] or "\0", "")


def signed_in(app, user):
    client = app.test_client()
    answer = client.post("/signin", data={"email": user.email, "password": PASSWORD})
    assert answer.status_code == 303
    return client


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("fragment", [False, True])
def test_a_visitors_second_view_comes_from_the_cache(other, make, path, fragment):
    number = make.idea(make.board(), make.user(), "Dark mode for the editor")
    path, headers = path.format(number=number), htmx_headers() if fragment else {}
    visitor = other.test_client()
    with statements(other) as rendering:
        first = visitor.get(path, headers=headers)
    with statements(other) as cached:
        second = visitor.get(path, headers=headers)
    assert first.status_code == second.status_code == 200
    assert len(rendering) > 2  # the version read and the page's queries
    assert cached == ["version read"]
    assert without_nonce(second) == without_nonce(first)
    assert second.headers["Cache-Control"] == "public, max-age=60"
    assert {"HX-Request", "Cookie"} <= set(re.split(r",\s*", second.headers["Vary"]))
    if not fragment:
        assert "Dark mode for the editor" in second.text


def test_htmx_fragments_and_pages_are_kept_apart(other, make):
    make.idea(make.board(), make.user())
    visitor = other.test_client()
    for _ in range(2):
        page = visitor.get("/b/features")
        fragment = visitor.get("/b/features", headers=htmx_headers())
        assert page.text.startswith("<!doctype html>")
        assert fragment.text.lstrip().startswith('<section id="idea-list"')


def test_cached_answers_carry_this_answers_nonce(other, make):
    make.idea(make.board(), make.user())
    visitor = other.test_client()
    first, second = visitor.get("/b/features"), visitor.get("/b/features")
    for answer in (first, second):
        policy, script = nonce_of(answer)
        assert policy == script
    assert nonce_of(first)[0] != nonce_of(second)[0]


def test_visitors_get_no_cookie_but_forms_they_submit_do(app, make, tmp_path):
    strict = other_process(app, tmp_path, WTF_CSRF_ENABLED=True)
    number = make.idea(make.board(), make.user())
    visitor = strict.test_client()
    for path in [page.format(number=number) for page in PAGES]:
        for headers in ({}, htmx_headers()):
            answer = visitor.get(path, headers=headers)
            assert answer.status_code == 200
            assert "Set-Cookie" not in answer.headers, path
            assert answer.headers["Cache-Control"].startswith("public")
    for form in ("/signin", "/signup"):
        answer = strict.test_client().get(form)
        assert 'name="csrf_token"' in answer.text
        assert answer.headers.getlist("Set-Cookie")
        assert "public" not in answer.headers.get("Cache-Control", "")
    with strict.app_context():
        db.engine.dispose()


WRITES = {
    # what someone does through the first process, and what a visitor sees in the second
    "new idea": ("/b/features", lambda w: w.post_idea("Offline mode"), "Offline mode"),
    "comment": ("/ideas/{number}", lambda w: w.comment("Me too, please"), "Me too, please"),
    "status change": ("/ideas/{number}", lambda w: w.change_status(), "Planned"),
    "vote": ("/b/features", lambda w: w.vote(), 'data-vote-count="1"'),
    "moderator hides": ("/b/features", lambda w: w.hide(), None),
}


class Writer:
    """People acting through the suite's app: the first process."""

    def __init__(self, app, make, number):
        self.app, self.make, self.number = app, make, number

    def as_(self, role):
        return signed_in(self.app, self.make.user(role))

    def post_idea(self, title):
        data = {"title": title, "confirmed": "1"}  # past the similar ideas
        answer = self.as_(Role.CUSTOMER).post("/b/features/new", data=data)
        assert answer.status_code == 303

    def comment(self, body):
        answer = self.as_(Role.CUSTOMER).post(f"/ideas/{self.number}/comments", data={"body": body})
        assert answer.status_code == 303

    def change_status(self):
        answer = self.as_(Role.OWNER).post(
            f"/ideas/{self.number}/status", data={"status": "planned", "response": "Soon."}
        )
        assert answer.status_code == 303

    def vote(self):
        assert self.as_(Role.CUSTOMER).post(f"/ideas/{self.number}/vote").status_code == 303

    def hide(self):
        with self.app.app_context():
            idea_id = db.session.scalar(db.select(Idea.id).filter_by(number=self.number))
        answer = self.as_(Role.MODERATOR).post(
            f"/moderation/idea/{idea_id}", data={"action": "hide", "reason": "Spam"}
        )
        assert answer.status_code == 303


@pytest.mark.parametrize("write", WRITES)
def test_a_write_in_one_process_shows_at_once_in_another(app, other, make, write):
    number = make.idea(make.board(), make.user(), "Dark mode for the editor")
    path, act, shown = WRITES[write]
    path = path.format(number=number)
    visitor = other.test_client()
    before = visitor.get(path)
    with statements(other) as cached:
        visitor.get(path)
    assert cached == ["version read"]  # kept for a minute, unless something changes
    act(Writer(app, make, number))
    after = visitor.get(path)
    if shown is None:  # hidden: gone from the board
        assert "Dark mode for the editor" in before.text
        assert "Dark mode for the editor" not in after.text
        assert visitor.get(f"/ideas/{number}").status_code == 404
    else:
        assert shown not in before.text
        assert shown in after.text


def test_signed_in_pages_are_never_cached(app, other, make):
    number = make.idea(make.board(), make.user())
    person = signed_in(other, make.user(name="Vera Voter"))
    visitor = other.test_client()
    visitor.get("/b/features")
    visitor.get("/b/features")  # the visitors' copy, kept
    page = person.get("/b/features")
    assert "Vera Voter" in page.text and "Sign out" in page.text
    assert page.headers["Cache-Control"] == "private, no-cache"
    person.post(f"/ideas/{number}/vote")
    with statements(other) as rendering:
        again = person.get("/b/features")
    assert any("FROM idea" in statement for statement in rendering)  # rendered
    assert "✓ Voted" in again.text and 'data-vote-count="1"' in again.text
    assert "Vera Voter" not in visitor.get("/b/features").text


def test_private_boards_answer_404_to_visitors_however_often(app, other, make):
    board = make.board("secret", is_private=True)
    make.idea(board, make.user(), "Internal roadmap")
    staff = signed_in(other, make.user(Role.MODERATOR))
    assert staff.get("/b/secret").status_code == 200
    visitor = other.test_client()
    for _ in range(2):
        assert visitor.get("/b/secret").status_code == 404
    assert "Internal roadmap" in staff.get("/b/secret").text


def test_a_board_made_private_leaves_the_cache(app, other, make):
    board = make.board()
    make.idea(board, make.user(), "Internal roadmap")
    visitor = other.test_client()
    assert visitor.get("/b/features").status_code == 200
    assert visitor.get("/b/features").status_code == 200
    with app.app_context():
        db.session.get(Board, board).is_private = True
        db.session.commit()
    assert visitor.get("/b/features").status_code == 404


def test_flashed_messages_are_never_cached(other, make):
    make.idea(make.board(), make.user())
    flashed = other.test_client()
    with flashed.session_transaction() as session:
        session["_flashes"] = [("info", "A message for one visitor")]
    page = flashed.get("/b/features")
    assert "A message for one visitor" in page.text
    assert "public" not in page.headers.get("Cache-Control", "")
    for client in (flashed, other.test_client()):
        for _ in range(2):
            assert "A message for one visitor" not in client.get("/b/features").text


def test_zero_seconds_switches_the_cache_off(app, make, tmp_path):
    off = other_process(app, tmp_path, PAGE_CACHE_SECONDS=0)
    make.idea(make.board(), make.user())
    visitor = off.test_client()
    visitor.get("/b/features")
    with statements(off) as rendering:
        answer = visitor.get("/b/features")
    assert any("FROM idea" in statement for statement in rendering)  # rendered
    assert "public" not in answer.headers.get("Cache-Control", "")
    with off.app_context():
        db.engine.dispose()


# -- the version number -------------------------------------------------------------------


def version(app, name=pagecache.PAGES) -> int | None:
    with app.app_context():
        return db.session.scalar(db.select(Counter.value).filter_by(name=name))


def test_only_committed_changes_visitors_see_move_the_version(app, make):
    number = make.idea(make.board(), make.user())
    start = version(app)
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        idea.title = "Never saved"
        db.session.flush()
        db.session.rollback()
    assert version(app) == start
    with app.app_context():
        db.session.get(Counter, "idea_number").value += 0  # not something visitors see
        db.session.add(Counter(name="unrelated", value=1))
        db.session.commit()
    assert version(app) == start
    settings = version(app, pagecache.SETTINGS)
    with app.app_context():  # a bulk statement, never flushed
        db.session.execute(db.update(Comment).values(body="x"))
        db.session.execute(db.update(Idea).values(vote_count=Idea.vote_count + 1))
        db.session.commit()
    assert version(app) == start + 1
    assert version(app, pagecache.SETTINGS) == settings  # not the configuration


def test_a_rolled_back_savepoint_keeps_the_change_before_it(app, make):
    number = make.idea(make.board(), make.user())
    start = version(app)
    with app.app_context():
        db.session.scalar(db.select(Idea).filter_by(number=number)).title = "Saved title"
        db.session.flush()
        savepoint = db.session.begin_nested()
        db.session.add(Counter(name="unrelated", value=1))
        savepoint.rollback()
        db.session.commit()
    assert version(app) == start + 1


def test_the_cache_keeps_a_bounded_number_of_fresh_pages():
    cache = PageCache(seconds=5, size=2)
    later = time.monotonic() + 5
    for key in ("a", "b", "c"):
        cache.put((key,), Page(7, later, (b"<p>", b"</p>"), "text/html"))
    assert cache.get(("a",), 7) is None  # the oldest made room
    assert cache.get(("b",), 7).body("N") == b"<p>N</p>"
    assert cache.get(("c",), 8) is None  # another version: stale
    cache.put(("d",), Page(7, time.monotonic() - 1, (b"",), "text/html"))
    assert cache.get(("d",), 7) is None  # past its seconds


def test_every_page_keeps_the_configuration_until_an_admin_changes_it(app, other, make):
    make.idea(make.board(), make.user())
    person = signed_in(other, make.user())
    person.get("/b/features")
    with statements(other) as seen:
        assert "Stimme" in person.get("/b/features").text
    read = " ".join(seen)
    assert "version read" in read
    assert "custom_status" not in read and "site_setting" not in read
    before = version(app, pagecache.SETTINGS)
    admin = signed_in(app, make.user(Role.ADMIN))
    answer = admin.post("/admin/site", data={"site_name": "Ideenbox", "accent": "#1f6feb"})
    assert answer.status_code == 303
    assert version(app, pagecache.SETTINGS) == before + 1
    assert "Ideenbox" in person.get("/b/features").text  # exact, in the other process too
    assert "Ideenbox" in other.test_client().get("/b/features").text
    status = {"slug": "beta", "label": "In beta", "colour": "#123456", "phase": "active"}
    assert admin.post("/admin/statuses", data=status).status_code == 303
    assert "In beta" in person.get("/b/features").text


def test_a_database_without_the_versions_gets_them_without_waiting(app, client, make):
    make.user(email="ann@example.com")
    with app.app_context():
        db.session.execute(db.delete(Counter))
        db.session.commit()
    started = time.monotonic()  # a POST whose transaction holds SQLite's write lock
    refused = client.post("/signin", data={"email": "ann@example.com", "password": "wrong"})
    assert refused.status_code in (200, 422) and time.monotonic() - started < 5
    assert version(app) is None
    assert client.get("/").status_code == 200  # a visitor's page makes them
    assert version(app) is not None and version(app, pagecache.SETTINGS) is not None
