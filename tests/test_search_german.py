"""German ideas are found by German stems, English ones by English stems (issue 9).

Every backend available in the run answers: SQLite's FTS5 and Whoosh on SQLite, Whoosh and
PostgreSQL's full-text search on PostgreSQL.
"""

import shutil
from pathlib import Path

import pytest
import test_search
from sqlalchemy import func, text
from test_search import BACKENDS, Answer, switched_to
from whoosh import index
from whoosh.fields import ID, STORED, TEXT, Schema

from portal.extensions import db
from portal.models import Idea
from portal.search import get_backend, similar_ideas
from portal.search.language import guess_language
from portal.search.postgres_backend import PerLanguage, titles_like
from portal.search.sqlite_backend import RANK

HOUSES = "Grundrisse des Hauses anzeigen"
NOTIFY = "Benachrichtigung bei neuen Kommentaren"
EXPORT = "Export reports as CSV"
NOTIFY_EN = "Push notifications for mentions"

# test_search.py's fixtures: each backend in turn, and SQLite's FTS5 alone.
backend, fts5 = test_search.backend, test_search.fts5


@pytest.fixture
def ideas(make):
    """German and English ideas side by side, as on a site with customers of both."""
    board = make.board("features", name="Feature requests")
    author = make.user()
    return {
        "houses": make.idea(
            board,
            author,
            HOUSES,
            "Bei den Häusern in der Liste sollte man den Grundriss sehen können, ohne jedes "
            "Exposé einzeln zu öffnen.",
        ),
        "notify": make.idea(
            board,
            author,
            NOTIFY,
            "Ich möchte eine Nachricht per E-Mail bekommen, wenn jemand auf meine Idee "
            "antwortet. Im Moment schaue ich jeden Tag nach.",
        ),
        "export": make.idea(board, author, EXPORT, "Finance needs the monthly numbers."),
        "notify_en": make.idea(
            board, author, NOTIFY_EN, "Only when someone mentions me, not for every comment."
        ),
    }


def search(client, query) -> Answer:
    return Answer(client.get("/search", query_string={"q": query}))


def language_of(app, number: int) -> str:
    with app.app_context():
        return db.session.scalar(db.select(Idea.language).filter_by(number=number))


# -- guessing the language ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Dunkler Modus für den Editor\nAbends ist die weiße Oberfläche zu hell, und "
            "ich arbeite oft bis spät in die Nacht.",
            "de",
        ),
        ("Export als PDF mit unserem Logo\nDie Berichte sollen wir an Kunden schicken.", "de"),
        ("Benachrichtigung, wenn sich der Status ändert", "de"),
        (
            "Dark mode for the editor\nThe white page is too bright in the evening, and I "
            "often work late.",
            "en",
        ),
        ("Allow exporting the roadmap to a spreadsheet", "en"),
        # An English idea that quotes a German word stays English.
        ('Rename the button "Speichern" to "Sichern" in the German translation', "en"),
    ],
)
def test_the_language_of_realistic_ideas_is_recognised(text, expected):
    assert guess_language(text, fallback="xx") == expected


@pytest.mark.parametrize("fallback", ["en", "de"])
@pytest.mark.parametrize("text", ["Kanban", "Gantt-Diagramm", "API v2", "SAML SSO", ""])
def test_too_little_text_keeps_the_fallback(text, fallback):
    assert guess_language(text, fallback) == fallback


def test_a_new_idea_gets_the_language_it_is_written_in(make, app):
    board = make.board()
    english_speaker, german_speaker = make.user(), make.user(locale="de")
    german = make.idea(board, english_speaker, "Suche nach Häusern", "Die Suche soll auch "
                       "Mehrzahl und Fälle finden, nicht nur das genaue Wort.")  # fmt: skip
    english = make.idea(
        board,
        german_speaker,
        "Search that understands plurals",
        "It should find the word in all its forms, not only the exact one.",
    )
    short = make.idea(board, german_speaker, "Kanban-Ansicht", "")
    assert language_of(app, german) == "de"
    assert language_of(app, english) == "en"
    assert language_of(app, short) == "de"  # too short to tell: the author's language


def test_a_post_too_short_to_tell_takes_the_interface_language(client, make, auth, app):
    make.board()
    auth.login(make.user())
    client.post("/b/features/new", data={"title": "Gantt-Diagramm", "confirmed": "1"},
                headers={"Accept-Language": "de-DE,de;q=0.9"})  # fmt: skip
    with app.app_context():
        assert db.session.scalar(db.select(Idea.language)) == "de"


# -- searching, on every backend ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Häuser", HOUSES),  # plural: the title has the genitive "Hauses"
        ("Haus", HOUSES),
        ("hauses", HOUSES),
        ("Grundriss", HOUSES),  # title "Grundrisse"
        ("Benachrichtigungen", NOTIFY),  # title "Benachrichtigung"
        ("Kommentar", NOTIFY),  # title "Kommentaren"
        ("exporting", EXPORT),  # English still stems the English way
        ("notification", NOTIFY_EN),
    ],
)
def test_each_idea_is_found_by_the_stems_of_its_language(client, ideas, backend, query, expected):
    answer = search(client, query)
    assert answer.status_code == 200
    assert expected in answer.text


def test_german_words_do_not_find_english_ideas(client, ideas, backend):
    answer = search(client, "Benachrichtigungen")
    assert NOTIFY in answer.text
    assert NOTIFY_EN not in answer.text and EXPORT not in answer.text


# German stems of English words: "mode" is 'mod' in German, "state" is 'stat'.
@pytest.mark.parametrize(
    ("query", "found", "not_found"),
    [
        ("mode", ["Dark mode for the editor"], "Mod support for the game"),
        # Three that match, so that "Stats" is not looked for as a typo of "state".
        ("state", ["Show the state of orders", "Filter by state", "State in mails"], "Stats page"),
    ],
)
def test_english_ideas_are_not_found_by_german_stems(client, make, backend, query, found,
                                                     not_found):  # fmt: skip
    board, author = make.board(), make.user()
    for title in (*found, not_found):
        make.idea(board, author, title, "It would help us a lot.")
    # German ideas with those stems, so that every backend looks for them.
    make.idea(board, author, "Mods für das Spiel", "Ich möchte eigene Mods für das Spiel laden.")
    make.idea(board, author, "Statistik der Ideen", "Wir brauchen eine Statistik für die Admins.")
    page = search(client, query).text
    assert all(title in page for title in found)
    assert not_found not in page


def test_an_exclusion_applies_in_each_idea_s_language(client, make, backend):
    if backend != "postgres":
        pytest.skip("-word excludes a word on PostgreSQL only")
    board, author = make.board(), make.user()
    make.idea(board, author, "Dark mode for the editor", "Easier on the eyes at night.")
    make.idea(board, author, "Themes for the editor", "Let us pick the colours.")
    page = search(client, "editor -mode").text  # not: German 'mod' is absent, so keep it
    assert "Themes for the editor" in page
    assert "Dark mode for the editor" not in page


def explain(app, statement) -> str:
    """PostgreSQL's plan for a statement, on a table of a few ideas with scans made dear."""
    with app.app_context():
        db.session.execute(text("SET LOCAL enable_seqscan = off"))  # a table of one idea
        statement = statement.compile(db.engine)
        connection = db.session.connection()
        plan = connection.exec_driver_sql(f"EXPLAIN {statement}", statement.params)
        plan = "\n".join(row[0] for row in plan)
        db.session.rollback()
    return plan


def test_the_per_language_query_uses_the_search_index(app, make):
    """Each language's half of the query is a scan of the GIN index on the stored vector
    (migration 8f4a2c6e1d93), and nothing computes an idea's vector again."""
    if not test_search.ON_POSTGRES:
        pytest.skip("the GIN index is PostgreSQL's")
    make.idea(make.board(), make.user(), "Dark mode for the editor", "At night.")
    words = PerLanguage(lambda config: func.websearch_to_tsquery(config, "mode -dark"))
    plan = explain(app, db.select(Idea.number).where(words.matches()))
    assert plan.count("Bitmap Index Scan on ix_idea_search") == 2, plan
    assert "''mod'' & !''dark''" in plan and "''mode'' & !''dark''" in plan, plan
    assert "to_tsvector" not in plan, plan


def test_typo_widening_asks_the_trigram_index(app, make):
    """Titles like a mistyped word come from the trigram index, not a scan of every idea."""
    if not test_search.ON_POSTGRES:
        pytest.skip("the trigram index is PostgreSQL's")
    make.idea(make.board(), make.user(), "Dark mode for the editor", "At night.")
    with app.app_context():
        scope = db.select(Idea).where(Idea.title.op("%>")("editr"))
        statement = scope.with_only_columns(Idea.id)
    assert "Bitmap Index Scan on ix_idea_title_trgm" in explain(app, statement)
    with app.app_context():
        assert titles_like(db.select(Idea), ["editr"], 0.5) == [1]
        assert titles_like(db.select(Idea), ["spreadsheet"], 0.5) == []
        db.session.rollback()


EXCEL_DE = "Export der Liste nach Excel"
EXCEL_EN = "Export the list to Excel"


def test_fts5_does_not_rank_a_german_idea_above_the_same_english_one(client, make, app, fts5):
    """Each idea has the query's words once, in its title: neither should win on language
    (a German word is in the written and in the stem columns; it must count once)."""
    author = make.user()
    numbers = {}
    for slug, titles in (("first", (EXCEL_DE, EXCEL_EN)), ("second", (EXCEL_EN, EXCEL_DE))):
        board = make.board(slug, name=slug.title())
        for title in titles:
            numbers[slug, title] = make.idea(board, author, title, "")
    assert language_of(app, numbers["first", EXCEL_DE]) == "de"
    assert language_of(app, numbers["first", EXCEL_EN]) == "en"
    leaders = []
    for slug in ("first", "second"):
        page = Answer(client.get("/search", query_string={"q": "Export Excel", "board": slug}))
        assert EXCEL_DE in page.text and EXCEL_EN in page.text
        leaders.append(min((EXCEL_DE, EXCEL_EN), key=page.text.index))
    assert leaders != [EXCEL_DE, EXCEL_DE], "the German idea comes first in either order"
    with app.app_context():
        terms = " AND ".join(get_backend()._terms("Export Excel"))
        scores = dict(
            db.session.execute(
                text(f"SELECT rowid, {RANK} FROM idea_fts WHERE idea_fts MATCH :m"), {"m": terms}
            ).all()
        )
    for slug in ("first", "second"):  # bm25: lower is better
        assert scores[numbers[slug, EXCEL_DE]] >= scores[numbers[slug, EXCEL_EN]]


def test_german_matches_are_highlighted(client, ideas, backend):
    raw = search(client, "Haus").raw
    assert "<mark>Hauses</mark>" in raw
    assert "<mark>Häusern</mark>" in raw


def test_english_typos_are_still_forgiven_beside_german_ideas(client, ideas, backend):
    assert NOTIFY_EN in search(client, "notifcation").text


def test_facets_count_ideas_of_both_languages(client, ideas, make, backend):
    make.idea(make.board("mobile", name="Mobile app"), make.user(), "Häuser auf der Karte",
              "Die Häuser sollen auf einer Karte zu sehen sein, mit ihrer Adresse.")  # fmt: skip
    page = search(client, "Haus").text
    assert "Feature requests (1)" in page and "Mobile app (1)" in page


def test_similar_ideas_in_german(app, ideas, backend):
    with app.app_context():
        numbers = similar_ideas("Benachrichtigungen für Kommentare", ["features"])
    assert ideas["notify"] in numbers
    assert ideas["notify_en"] not in numbers


def test_an_edit_into_another_language_reindexes(client, make, auth, app, backend):
    author = make.user()
    number = make.idea(make.board(), author, "Floor plans for houses",
                       "The list of houses should show each floor plan.")  # fmt: skip
    assert language_of(app, number) == "en"
    assert "Floor plans" not in search(client, "Häuser").text
    auth.login(author)
    client.post(f"/ideas/{number}/edit", data={
        "title": "Grundrisse der Häuser",
        "body": "In der Liste der Häuser soll man jeden Grundriss sehen können.",
    })  # fmt: skip
    assert language_of(app, number) == "de"
    assert "Grundrisse der Häuser" in search(client, "Hauses").text
    assert "Grundrisse der Häuser" not in search(client, "floor").text


def test_an_edit_too_short_to_tell_keeps_the_language(client, make, auth, app):
    author = make.user()
    body = "In der Liste der Häuser soll man jeden Grundriss sehen können."
    number = make.idea(make.board(), author, "Grundrisse der Häuser", body)
    auth.login(author)
    client.post(f"/ideas/{number}/edit", data={"title": "Grundrisse", "body": ""})
    assert language_of(app, number) == "de"


# -- indexes built by an older release --------------------------------------------------------

OLD_WHOOSH_SCHEMA = Schema(
    number=ID(stored=True, unique=True),
    board=ID(stored=True),
    status=ID(stored=True),
    category=TEXT,
    title=TEXT(stored=True),
    body=TEXT(stored=True),
    stamp=STORED,
)


def test_an_older_whoosh_index_is_rebuilt_by_the_worker(client, ideas, app):
    with switched_to(app, "whoosh"), app.app_context():
        folder = Path(app.config["SEARCH_INDEX_DIR"])
        live = (folder / "current").resolve()
        shutil.rmtree(live)
        live.mkdir()
        index.create_in(live, OLD_WHOOSH_SCHEMA)  # as the release before this one left it
        app.extensions.pop("search", None)  # a process that starts now
        assert "simple search" in search(client, "Grundriss").text
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
        assert result.exit_code == 0, result.output
        answer = search(client, "Häuser")
        assert "simple search" not in answer.text and HOUSES in answer.text


def test_an_older_fts5_table_is_rebuilt_by_the_worker(client, ideas, app):
    if "sqlite" not in BACKENDS:
        pytest.skip("FTS5 lives in a SQLite database; this run is on PostgreSQL")
    with switched_to(app, "sqlite"), app.app_context():
        for table in ("idea_fts_columns", "idea_fts_terms", "idea_fts"):
            db.session.execute(text(f"DROP TABLE {table}"))
        db.session.execute(text(  # as migration 7c3e9a4f2b18 made it
            "CREATE VIRTUAL TABLE idea_fts USING fts5(title, body, category, board, status,"
            " stamp UNINDEXED, tokenize='porter unicode61')"
        ))  # fmt: skip
        db.session.commit()
        assert "simple search" in search(client, "Grundriss").text
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
        assert result.exit_code == 0, result.output
        answer = search(client, "Häuser")
        assert "simple search" not in answer.text and HOUSES in answer.text
        assert get_backend().stamps().keys() == set(ideas.values())
