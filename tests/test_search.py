"""Search finds what people mean and never shows what they may not see (SPEC section 5).

The contract tests run against every backend available: Whoosh always, SQLite's FTS5
when the suite runs on SQLite, PostgreSQL's full-text search when it runs on PostgreSQL.
"""

import gc
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from conftest import htmx_headers
from portal.extensions import db
from portal.models import Comment, Idea, Role, SearchTask
from portal.search import get_backend, sqlite_backend
from portal.search.base import SearchQuery
from portal.search.indexing import apply_pending, reindex_all, repair_drift
from portal.search.sql_backend import SqlBackend

ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
BACKENDS = ["whoosh", "postgres"] if ON_POSTGRES else ["sqlite", "whoosh"]


@contextmanager
def switched_to(app, name: str):
    """The app searching with backend `name`, its index built from what exists so far."""
    saved = app.config["SEARCH_BACKEND"], app.extensions.pop("search", None)
    app.config["SEARCH_BACKEND"] = name
    with app.app_context():
        reindex_all()
    yield name
    app.config["SEARCH_BACKEND"] = saved[0]
    app.extensions.pop("search", None)
    if saved[1] is not None:
        app.extensions["search"] = saved[1]


@pytest.fixture(params=BACKENDS)
def backend(request, app, caplog):
    """Each backend in turn, which must answer every search itself."""
    with switched_to(app, request.param):
        yield request.param
        fallbacks = [r.getMessage() for r in caplog.records if "from SQL" in r.getMessage()]
        assert not fallbacks, f"{request.param} fell back to SQL: {fallbacks}"


@pytest.fixture
def whoosh(app):
    with switched_to(app, "whoosh"):
        yield


@pytest.fixture
def fts5(app):
    if ON_POSTGRES:
        pytest.skip("FTS5 lives in a SQLite database; this run is on PostgreSQL")
    with switched_to(app, "sqlite"):
        yield


@pytest.fixture
def catalogue(make):
    """A board with ideas worth searching for."""
    board = make.board("features", name="Feature requests")
    other = make.board("mobile", name="Mobile app", categories=("Notifications",))
    author = make.user()
    numbers = {
        "export": make.idea(
            board, author, "Export reports as CSV", "Finance needs monthly numbers."
        ),
        "dark": make.idea(
            board, author, "Dark mode for the editor", "Easier on the eyes at night."
        ),
        "notify": make.idea(other, author, "Push notifications for mentions", "Only for mentions."),
        "body_only": make.idea(board, author, "Calendar sync", "Please export events as iCal."),
        "mode_dark": make.idea(board, author, "Editor mode that is dark", "Another wording."),
        "planned": make.idea(
            board, author, "Bulk export of attachments", "Zip them.", status="planned"
        ),  # fmt: skip
    }
    return numbers


def titles(response) -> list[str]:
    return [t for t in SEARCHED_TITLES if t in response.text]


SEARCHED_TITLES = [
    "Export reports as CSV",
    "Dark mode for the editor",
    "Push notifications for mentions",
    "Calendar sync",
    "Editor mode that is dark",
    "Bulk export of attachments",
]


class Answer:
    """A search page as a reader sees it: highlights do not split the words."""

    def __init__(self, response):
        self.status_code = response.status_code
        self.raw = response.text
        self.text = re.sub(r"</?mark>", "", response.text)


def search(client, query, **params):
    return Answer(client.get("/search", query_string={"q": query, **params}))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("exporting", "Export reports as CSV"),  # stemming
        ('"dark mode"', "Dark mode for the editor"),  # phrase
        ("notif*", "Push notifications for mentions"),  # prefix
        ("notifcation", "Push notifications for mentions"),  # one letter dropped
        ("mentoins", "Push notifications for mentions"),  # two letters swapped
        ("attachmnets", "Bulk export of attachments"),  # swapped, and the stem changes
    ],
)
def test_queries_find_what_people_mean(client, catalogue, backend, query, expected):
    response = search(client, query)
    assert response.status_code == 200
    assert expected in response.text


def test_a_word_the_index_knows_is_not_taken_for_a_typo(client, catalogue, make, backend):
    make.idea(make.board("reviews"), make.user(), "Expert reviews", "Outside help.")
    found = titles(search(client, "export"))
    assert "Export reports as CSV" in found
    assert "Expert reviews" not in search(client, "export").text


def test_phrase_needs_the_words_in_order(client, catalogue, backend):
    found = titles(search(client, '"dark mode"'))
    assert "Dark mode for the editor" in found
    assert "Editor mode that is dark" not in found


def test_title_weighs_more_than_description(client, catalogue, backend):
    page = search(client, "export").text
    assert page.index("Export reports as CSV") < page.index("Calendar sync")


def test_snippets_are_highlighted_and_escaped(client, make, backend):
    board = make.board()
    make.idea(board, make.user(), "Export <b>bold</b> reports", "Export with <script>x</script>")
    page = search(client, "export").raw
    assert "<mark>" in page
    # Escaped by the Whoosh formatter, dropped by ts_headline: never markup.
    assert "<script>x" not in page and "<b>bold" not in page


def test_filters_by_board_and_status_with_counts(client, catalogue, backend):
    page = search(client, "export").text
    assert "Feature requests (3)" in page
    assert "Planned (1)" in page
    planned = search(client, "export", status="planned")
    assert titles(planned) == ["Bulk export of attachments"]
    # The count is of what the filter leaves; the facets still count every match.
    assert "1 idea found" in planned.text and "Feature requests (3)" in planned.text
    mobile = search(client, "mentions", board="mobile")
    assert titles(mobile) == ["Push notifications for mentions"]
    assert "1 idea found" in mobile.text


def test_the_sql_fallback_counts_what_the_filters_leave(app, catalogue):
    """The plain SQL search the site falls back on counts and filters as the index does."""
    everything = SearchQuery(text="export", boards=["features", "mobile"])
    planned = SearchQuery(text="export", boards=["features", "mobile"], status="planned")
    with app.app_context():
        first, narrowed = SqlBackend().search(everything), SqlBackend().search(planned)
    assert first.total == 3 and first.facets["status"] == {"open": 2, "planned": 1}
    assert narrowed.total == 1 and narrowed.facets == first.facets
    assert [hit.number for hit in narrowed.hits] == [catalogue["planned"]]


def test_fts5_counts_a_few_matches_as_it_counts_many(app, catalogue, fts5, monkeypatch):
    """Up to BROAD matches are grouped in one read, beyond it each board and status is a
    count of its own: both give the same facets."""
    queries = [SearchQuery(text=word, boards=["features", "mobile"]) for word in
               ("export", "mentions", "notifications", "csv")]  # fmt: skip
    with app.app_context():
        grouped = [get_backend().search(q) for q in queries]
        monkeypatch.setattr(sqlite_backend, "BROAD", 0)
        counted = [get_backend().search(q) for q in queries]
    assert [r.facets for r in grouped] == [r.facets for r in counted]
    assert [r.total for r in grouped] == [r.total for r in counted]
    assert grouped[0].facets == {"board": {"features": 3}, "status": {"open": 2, "planned": 1}}


def test_broken_syntax_is_searched_as_words(client, catalogue, backend):
    for query in ['"dark AND (', "export OR", "(((", "*", "NOT", ":", "title:"]:
        response = search(client, query)
        assert response.status_code == 200, query


def test_hidden_deleted_held_and_private_ideas_stay_hidden(client, make, auth, app, backend):
    board = make.board()
    secret = make.board("sandbox", is_private=True)
    author = make.user()
    for title, fields in [
        ("Hidden roadmap export", {"is_hidden": True}),
        ("Deleted roadmap export", {"is_deleted": True}),
        ("Held roadmap export", {"is_held": True}),
    ]:
        make.idea(board, author, title, **fields)
    make.idea(secret, author, "Private roadmap export")
    make.idea(board, author, "Public roadmap export")
    page = search(client, "roadmap").text
    assert "Public roadmap export" in page
    for title in ("Hidden", "Deleted", "Held", "Private"):
        assert f"{title} roadmap export" not in page
    auth.login(make.user(Role.MODERATOR))
    assert "Private roadmap export" in search(client, "roadmap").text


def test_internal_notes_are_never_searchable(client, make, app, backend):
    number = make.idea(make.board(), make.user(), "Single sign-on with Okta")
    owner = make.user(Role.OWNER)
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        db.session.add(Comment(idea_id=idea.id, author_id=owner.id, body="zebracorn budget",
                               body_html="<p>zebracorn budget</p>", is_internal=True))  # fmt: skip
        db.session.commit()
    assert "Single sign-on with Okta" not in search(client, "zebracorn").text


def test_duplicates_are_left_out_unless_asked(client, make, backend):
    board = make.board()
    make.idea(board, make.user(), "Gantt chart view", status="duplicate")
    make.idea(board, make.user(), "Gantt chart for projects")
    page = search(client, "gantt").text
    assert "Gantt chart for projects" in page and "Gantt chart view" not in page
    assert "Gantt chart view" in search(client, "gantt", duplicates="1").text


def test_fragment_and_page(client, catalogue, backend):
    fragment = search(client, "export").text
    assert "<html" in fragment
    response = client.get("/search?q=export", headers=htmx_headers())
    assert "<html" not in response.text and 'id="results"' in response.text


def test_a_posted_idea_is_findable_after_the_request(client, make, auth, app):
    make.board()
    auth.login(make.user())
    client.post("/b/features/new", data={"title": "Kanban swimlanes by owner", "confirmed": "1"})
    assert "Kanban swimlanes by owner" in search(client, "swimlanes").text
    with app.app_context():
        assert db.session.scalar(db.select(SearchTask.id)) is None


def test_an_edit_replaces_the_old_text(client, make, auth, app, backend):
    author = make.user()
    number = make.idea(make.board(), author, "Quarterly invoices")
    auth.login(author)
    client.post(f"/ideas/{number}/edit", data={"title": "Yearly invoices", "body": ""})
    assert "Yearly invoices" in search(client, "yearly").text
    assert "Yearly invoices" not in search(client, "quarterly").text


def test_updates_queued_before_a_crash_are_applied_by_the_worker(make, app, whoosh):
    """A process that dies after commit leaves its SearchTask rows; the worker applies them."""
    board = make.board()
    author = make.user()
    with app.app_context():
        from portal.models import Board, User
        from portal.operations.ideas import submit_idea

        submit_idea(db.session.get(User, author.id), db.session.get(Board, board),
                    "Offline mode for field teams", "")  # fmt: skip
        db.session.commit()  # ... and the process is killed before applying
    client = app.test_client()
    assert "Offline mode for field teams" not in search(client, "offline").text
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "Offline mode for field teams" in search(client, "offline").text


@pytest.mark.parametrize("name", [b for b in BACKENDS if b != "postgres"])  # it keeps no index
def test_drift_is_found_and_repaired(make, app, client, name):
    number = make.idea(make.board(), make.user(), "Audit log export")
    with switched_to(app, name), app.app_context():
        with get_backend().writing() as writer:
            writer.delete(number)  # the index lost an entry behind our back
        db.session.commit()
        assert "Audit log export" not in search(client, "audit").text
        assert repair_drift() == 1
        apply_pending()
    assert "Audit log export" in search(client, "audit").text


def test_a_locked_index_keeps_updates_queued(make, app, client, whoosh):
    board = make.board()
    author = make.user()
    with app.app_context(), get_backend().writing():  # another process holds the writer lock
        make.idea(board, author, "Time tracking per task")  # its apply finds the lock
    with app.app_context():
        assert db.session.scalar(db.select(SearchTask.id)) is not None
        assert apply_pending() == 1
    assert "Time tracking per task" in search(client, "tracking").text


# Whoosh leaves a file open when it fails to read a corrupt table of contents.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_corrupt_index_falls_back_to_sql_and_is_rebuilt(make, app, client, caplog, whoosh):
    make.idea(make.board(), make.user(), "Gantt chart for projects")
    with app.app_context():
        live = Path(app.config["SEARCH_INDEX_DIR"]) / "current"
        for path in live.resolve().iterdir():
            path.write_bytes(b"garbage")
        app.extensions.pop("search", None)  # a process that starts now
    response = search(client, "gantt")
    assert response.status_code == 200
    assert "Gantt chart for projects" in response.text
    assert "simple search" in response.text
    assert "search index unavailable" in caplog.text
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "simple search" not in search(client, "gantt").text
    gc.collect()  # let the leaked file's warning fall inside this test


def survives_losing_the_index(make, app, client, lose_index) -> None:
    """Searches answer from SQL, a post meanwhile succeeds, and the worker rebuilds."""
    board = make.board()
    make.idea(board, make.user(), "Gantt chart for projects")
    with app.app_context():
        lose_index()
    response = search(client, "gantt")
    assert response.status_code == 200 and "Gantt chart for projects" in response.text
    assert "simple search" in response.text
    # A new idea meanwhile stays queued rather than starting an index without the others.
    make.idea(board, make.user(), "Gantt export as PDF")
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    answer = search(client, "gantt")
    assert "simple search" not in answer.text
    assert "Gantt chart for projects" in answer.text and "Gantt export as PDF" in answer.text


def test_a_missing_index_folder_still_answers(make, app, client, whoosh):
    def delete_folder():
        shutil.rmtree(app.config["SEARCH_INDEX_DIR"])
        app.extensions.pop("search", None)

    survives_losing_the_index(make, app, client, delete_folder)


def test_a_missing_fts5_table_still_answers(make, app, client, fts5, caplog):
    def drop_table():
        db.session.execute(text("DROP TABLE idea_fts_terms"))
        db.session.execute(text("DROP TABLE idea_fts"))
        db.session.commit()

    survives_losing_the_index(make, app, client, drop_table)
    assert "search index unavailable" in caplog.text


def test_fts5_changes_with_the_idea_in_one_transaction(make, app, client, fts5):
    board, author = make.board(), make.user()
    with app.app_context():
        from portal.models import Board, User
        from portal.operations.ideas import submit_idea

        submit_idea(db.session.get(User, author.id), db.session.get(Board, board),
                    "Offline mode for field teams", "")  # fmt: skip
        db.session.rollback()  # the post failed: its index entry goes with it
        assert "Offline mode" not in search(client, "offline").text
        submit_idea(db.session.get(User, author.id), db.session.get(Board, board),
                    "Offline mode for field teams", "")  # fmt: skip
        db.session.commit()  # no queue, no worker: findable at once
        assert db.session.scalar(db.select(SearchTask.id)) is None
    assert "Offline mode for field teams" in search(client, "offline").text


def test_a_broad_query_ranks_ideas_named_for_it_first(client, make, fts5, monkeypatch):
    from portal.search import sqlite_backend

    monkeypatch.setattr(sqlite_backend, "BROAD", 1)  # as if "export" were in thousands
    board, author = make.board(), make.user()
    make.idea(board, author, "Calendar sync", "Please export events as iCal.")
    for n in range(21):
        make.idea(board, author, f"Export option {n}", "Finance asks for it.")
    first = search(client, "export")
    assert first.text.count("Export option") == 20 and "Calendar sync" not in first.text
    assert "<mark>export</mark>" in first.raw.lower()
    second = search(client, "export", page=2)
    assert "Calendar sync" in second.text and second.text.count("Export option") == 1


def test_reindex_swaps_in_a_new_index(make, app, client, whoosh):
    make.idea(make.board(), make.user(), "Gantt chart for projects")
    folder = Path(app.config["SEARCH_INDEX_DIR"])
    before = os.readlink(folder / "current")
    result = app.test_cli_runner().invoke(args=["search-reindex"])
    assert result.exit_code == 0 and "Indexed 1 ideas" in result.output
    assert os.readlink(folder / "current") != before
    assert "Gantt chart for projects" in search(client, "gantt").text


def test_similar_ideas_while_typing(client, make, auth, app, backend):
    board = make.board()
    author = make.user()
    make.idea(board, author, "Dark mode for dashboards")
    declined = make.idea(board, author, "Dark theme for the mobile app", status="declined")
    owner = make.user(Role.OWNER)
    with app.app_context():
        from portal.models import StatusChange

        idea = db.session.scalar(db.select(Idea).filter_by(number=declined))
        db.session.add(StatusChange(idea_id=idea.id, author_id=owner.id, from_status="open",
                                    to_status="declined", response="We follow the OS theme.",
                                    response_html="<p>We follow the OS theme.</p>"))  # fmt: skip
        db.session.commit()
    auth.login(make.user())
    response = client.get("/similar", query_string={"board": "features", "title": "dark mode"},
                          headers=htmx_headers())  # fmt: skip
    assert "<html" not in response.text
    assert "Dark mode for dashboards" in response.text
    assert "We follow the OS theme." in response.text
    assert response.text.count("data-vote-count") == 2


def test_without_javascript_the_first_submit_shows_similar_ideas(client, make, auth, app):
    make.idea(make.board(), make.user(), "Dark mode for dashboards")
    auth.login(make.user())
    first = client.post("/b/features/new", data={"title": "Dark mode please", "body": "Eyes!"})
    assert first.status_code == 200
    assert "Dark mode for dashboards" in first.text and "Post idea anyway" in first.text
    assert "Eyes!</textarea>" in first.text
    second = client.post("/b/features/new", data={"title": "Dark mode please", "body": "Eyes!",
                                                  "confirmed": "1"})  # fmt: skip
    assert second.status_code == 303


def test_a_shared_common_word_does_not_stop_the_post(client, make, auth, app, backend):
    # Issue 21 point 5: "every" matched a two-factor idea and stopped every post.
    make.idea(make.board(), make.user(), "Require 2FA for every member of a workspace")
    auth.login(make.user())
    answer = client.post("/b/features/new", data={"title": "CSV export for every list view",
                                                  "body": "For our finance team."})  # fmt: skip
    assert answer.status_code == 303


def test_a_true_duplicate_stops_the_post_with_the_choice_first(client, make, auth, backend):
    number = make.idea(make.board(), make.user(), "Two-factor authentication")
    make.idea(make.board("other"), make.user(), "Two-factor authentication on mobile")
    auth.login(make.user())
    answer = client.post("/b/features/new", data={"title": "Two factor authentication for accounts",
                                                  "body": "Please."})  # fmt: skip
    assert answer.status_code == 200
    page = answer.text
    choice = page.index("These ideas look like yours: vote for one, or post yours anyway.")
    assert choice < page.index('name="title"') < page.index('name="body"')
    assert 'class="similar-choice" tabindex="-1" autofocus' in page
    assert f"#{number}" in page and "on mobile" not in page  # this board only
    assert page.count("Post idea anyway") == 2


def test_weak_matches_show_while_typing_but_do_not_stop(client, make, auth, backend):
    make.idea(make.board(), make.user(), "Dark mode for dashboards and reports")
    auth.login(make.user())
    typing = client.get("/similar", query_string={"board": "features", "title": "Dark corners"},
                        headers=htmx_headers())  # fmt: skip
    assert "Dark mode for dashboards and reports" in typing.text
    posted = client.post("/b/features/new", data={"title": "Dark corners", "body": "Hm."})
    assert posted.status_code == 303
