"""SEARCH_BACKEND=sqlite: SQLite's FTS5 inside the portal's own database.

The table `idea_fts` is derived data like the Whoosh index, but it lives in the same
database, so an idea and its index entry change in one transaction: nothing can drift,
nothing waits in a queue, and every process and thread sees the same index. A migration
creates it empty (the worker fills it at start); Alembic's autogenerate leaves it alone;
`search-reindex` rebuilds it in one transaction while searches read the previous state.

Board and status are indexed columns too, so visibility and facet counts are FTS5
queries rather than joins.

FTS5 only stems English (Porter). A German idea keeps its own words in title and body
(for phrases, prefixes and exact words) and its Snowball German stems, computed here, in
title_de and body_de; a query word also looks for its German stem there, and the hits of
German ideas are highlighted here, by stem, since FTS5 cannot see those matches.

A word in a German idea is in both sets of columns, so each idea is ranked by one set:
English ideas by title and body, German ones by title_de and body_de (a German word found
as written and by its stem must not count twice, above the same word in an English idea).
Words and phrases as written therefore look only in title, body and category.

The user's words are always quoted before they reach MATCH: FTS5's own syntax never sees
raw input.
"""

import re
from collections import Counter
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import func, text
from sqlalchemy.exc import DatabaseError
from whoosh.analysis import STOP_WORDS
from whoosh.lang.porter import stem

from portal.database import discard, unit_of_work
from portal.extensions import db
from portal.markup import highlight_marked
from portal.models import Board
from portal.search.base import Hit, SearchQuery, SearchResult, SearchUnavailable
from portal.search.language import german_stem, german_stems
from portal.search.typos import WORD, typo_candidates
from portal.statuses import STATUSES
from portal.workflow import DUPLICATE, OPEN

TABLE = "idea_fts"
COLUMNS = (
    "title",
    "body",
    "category",
    "board",
    "status",
    "stamp UNINDEXED",
    "language UNINDEXED",
    "title_de",
    "body_de",
)
COLUMN_NAMES = [column.split()[0] for column in COLUMNS]
CREATE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
    f"{', '.join(COLUMNS)}, tokenize='porter unicode61')"
)
CREATE_VOCABULARY = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE}_terms USING fts5vocab({TABLE}, row)"
)
CREATE_COLUMN_VOCABULARY = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE}_columns USING fts5vocab({TABLE}, col)"
)
# Title weighs most; each idea is ranked by the columns of its language (see above).
ENGLISH_RANK = f"bm25({TABLE}, 3.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)"
GERMAN_RANK = f"bm25({TABLE}, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 3.0, 1.0)"
RANK = f"CASE language WHEN 'de' THEN {GERMAN_RANK} ELSE {ENGLISH_RANK} END"
WRITTEN_COLUMNS = "{title body category}"
GERMAN_COLUMNS = "{title_de body_de}"
TITLE_COLUMNS = "{title title_de}"
SNIPPET_WORDS = 30
SNIPPET_LEAD = 5  # words shown before the first match
STEM_START = 3
UMLAUTS = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})
BROAD = 2_000  # matches above which only the newest title matches are ranked
RANK_WINDOW = 1_000
MAX_TERMS = 12  # a search box query, not a document
# A phrase, a word with an optional * for a prefix; anything else is a separator.
TOKEN = re.compile(r'"([^"]*)"|(\w+)(\*?)')
NOTHING = '"zznothing"'  # a token no idea has
# Stored text must not carry the markers the highlighter puts around matches.
MARKERS = str.maketrans("", "", "\x02\x03")


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """For Alembic's autogenerate: the FTS5 tables are the search index, not the schema."""
    return not (type_ == "table" and name.startswith(TABLE))


def quoted(words: str) -> str:
    return '"' + words.replace('"', "") + '"'


# Board and status are stored as one made-up token each, so that matching them needs no
# column filter (which makes FTS5 read positions) and no user word can equal them.
def board_token(board_id: int) -> str:
    return f"zzboard{board_id}"


def status_token(status: str) -> str:
    return "zzstatus" + status.replace("_", "")


def german_columns(document: dict) -> dict[str, str]:
    """The German stems of a German idea's title and body; nothing for other ideas."""
    if document["language"] != "de":
        return {"title_de": "", "body_de": ""}
    return {"title_de": german_stems(document["title"]), "body_de": german_stems(document["body"])}


@lru_cache(maxsize=20_000)
def both_stems(word: str) -> tuple[str, str]:
    return german_stem(word), stem(word)


class Marker:
    """Marks, in a German idea's own text, the words a query matched by German stem, by
    Porter stem, by prefix or as written (FTS5's highlight() sees only the last three)."""

    def __init__(self, text_: str):
        tokens = TOKEN.findall(text_)[:MAX_TERMS]
        words = {w.lower() for phrase, _, _ in tokens for w in WORD.findall(phrase)}
        words |= {word.lower() for _, word, star in tokens if word and not star}
        self.prefixes = tuple(word.lower() for _, word, star in tokens if word and star)
        self.stems = {s for word in words for s in both_stems(word)}
        # Stems keep a word's start (umlauts folded): most words need no stemming at all.
        self.starts = {s[:STEM_START] for s in self.stems}

    def matches(self, word: str) -> bool:
        word = word.lower()
        if word.startswith(self.prefixes):
            return True
        if word.translate(UMLAUTS)[:STEM_START] not in self.starts:
            return False
        return any(s in self.stems for s in both_stems(word))

    def mark(self, text_: str, words: int | None = None) -> str:
        """Text with its matches marked for highlight_marked, cut to `words` words around
        the first match when a number is given."""
        spans = [m.span() for m in WORD.finditer(text_)]
        hits = [i for i, (start, end) in enumerate(spans) if self.matches(text_[start:end])]
        first, last = 0, len(spans)
        if words is not None and len(spans) > words:
            first = max(0, min((hits or [0])[0] - SNIPPET_LEAD, len(spans) - words))
            last = first + words
        if not spans:
            return text_
        begin = 0 if first == 0 else spans[first][0]
        end = len(text_) if last == len(spans) else spans[last - 1][1]
        output, index = [], begin
        for i in (i for i in hits if first <= i < last):
            start, stop = spans[i]
            output += [text_[index:start], "\x02", text_[start:stop], "\x03"]
            index = stop
        output.append(text_[index:end])
        return ("…" if begin else "") + "".join(output) + ("…" if end < len(text_) else "")


class SqliteWriter:
    """Index changes inside the current transaction (the caller commits)."""

    def __init__(self):
        self.board_ids = {}

    def upsert(self, document: dict) -> None:
        self.delete(document["number"])
        slug = document["board"]
        if slug not in self.board_ids:
            self.board_ids[slug] = db.session.scalar(db.select(Board.id).where(Board.slug == slug))
        board_id = self.board_ids[slug]
        db.session.execute(
            text(
                f"INSERT INTO {TABLE} (rowid, title, body, category, board, status, stamp,"
                " language, title_de, body_de) VALUES (:number, :title, :body, :category,"
                " :board, :status, :stamp, :language, :title_de, :body_de)"
            ),
            {
                **document,
                "title": document["title"].translate(MARKERS),
                "body": document["body"].translate(MARKERS),
                "board": board_token(board_id),
                "status": status_token(document["status"]),
                **german_columns(document),
            },
        )

    def delete(self, number: int) -> None:
        db.session.execute(text(f"DELETE FROM {TABLE} WHERE rowid = :n"), {"n": number})


class SqliteBackend:
    needs_tasks = True  # for drift repair and the rare change queued when a write failed
    transactional = True  # changes are written in the change's own transaction

    # -- writing ----------------------------------------------------------------------

    @unit_of_work()
    def ensure(self) -> None:
        if self._columns() not in ([], COLUMN_NAMES):
            # An index from an older release: it is derived data, so rebuild it.
            for table in (f"{TABLE}_columns", f"{TABLE}_terms", TABLE):
                db.session.execute(text(f"DROP TABLE IF EXISTS {table}"))
        db.session.execute(text(CREATE))
        db.session.execute(text(CREATE_VOCABULARY))
        db.session.execute(text(CREATE_COLUMN_VOCABULARY))

    @staticmethod
    def _columns() -> list[str]:
        return [row[1] for row in db.session.execute(text(f"PRAGMA table_info({TABLE})"))]

    @contextmanager
    def writing(self):
        """The Whoosh backend's protocol, so queued tasks are applied the same way; the
        caller commits."""
        try:
            yield SqliteWriter()
        except DatabaseError as error:  # no table: the worker rebuilds it
            raise SearchUnavailable(f"cannot write the SQLite search index: {error}") from error

    @unit_of_work()
    def rebuild(self, documents) -> int:
        """Replace every entry in one transaction; readers see the old index until commit."""
        self.ensure()
        db.session.execute(text(f"DELETE FROM {TABLE}"))
        writer, count = SqliteWriter(), 0
        for document in documents:
            if document is not None:
                writer.upsert(document)
                count += 1
        return count

    def check(self) -> None:
        """Raise SearchUnavailable unless the table reads and has this release's columns."""
        self._read(lambda: db.session.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar())
        if self._columns() != COLUMN_NAMES:
            raise SearchUnavailable("the SQLite search index has an older schema")

    def ping(self) -> None:
        """Raise SearchUnavailable unless the FTS5 table answers a one-word query."""
        query = text(f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH '\"ping\"' LIMIT 1")
        self._read(lambda: db.session.execute(query).all())

    def stamps(self) -> dict[int, str]:
        self.check()  # an older table: the drift check rebuilds it
        query = text(f"SELECT rowid, stamp FROM {TABLE}")
        return dict(self._read(lambda: db.session.execute(query).all()))

    # -- reading ----------------------------------------------------------------------

    @staticmethod
    def _read(function):
        try:
            return function()
        except DatabaseError as error:  # no table, or a damaged one
            discard()
            raise SearchUnavailable(f"the SQLite search index failed: {error}") from error

    def _known(self, stems: set[str]) -> set[str]:
        if not stems:
            return set()
        names = {f"t{i}": term for i, term in enumerate(sorted(stems))}
        placeholders = ", ".join(f":{name}" for name in names)
        query = text(f"SELECT term FROM {TABLE}_terms WHERE term IN ({placeholders})")
        return set(db.session.scalars(query, names))

    def _german(self, words: set[str]) -> dict[str, str]:
        """Each word's German stem, for the words whose stem some German idea has."""
        stems = {word: german_stem(word) for word in words}
        if not stems:
            return {}
        # The vocabulary holds what FTS5's Porter tokenizer made of the stored stems.
        names = {f"t{i}": stem(s) for i, s in enumerate(sorted(set(stems.values())))}
        placeholders = ", ".join(f":{name}" for name in names)
        query = text(
            f"SELECT term FROM {TABLE}_columns WHERE term IN ({placeholders})"
            " AND col IN ('title_de', 'body_de')"
        )
        known = set(db.session.scalars(query, names))
        return {word: s for word, s in stems.items() if stem(s) in known}

    def _terms(self, text_: str) -> list[str]:
        """The user's query as FTS5 terms: phrases, prefixes, and words; a word the index
        does not know is widened to the spellings it was probably meant to be, and to its
        German stem where German ideas have that."""
        tokens = TOKEN.findall(text_)[:MAX_TERMS]
        words = {word.lower() for _, word, star in tokens if word and not star}
        known = self._known({stem(word) for word in words})
        unknown = " ".join(word for word in words if stem(word) not in known)
        candidates = typo_candidates(unknown)
        known |= self._known(set().union(*candidates.values()))
        meant = {}
        for word in words:
            word_stem = stem(word)
            meant[word] = sorted(
                spelling
                for spelling_stem, spelling in candidates.get(word_stem, {}).items()
                if word_stem not in known and spelling_stem in known
            )
        german = self._german(words.union(*meant.values()))
        terms = []
        for phrase, word, star in tokens:
            if phrase.strip():
                alternatives = [f"{WRITTEN_COLUMNS} : {quoted(phrase)}"]
                if stems := german_stems(phrase):  # German ideas: the phrase's stems
                    alternatives.append(f"{GERMAN_COLUMNS} : {quoted(stems)}")
            elif word and star:
                alternatives = [quoted(word) + " *"]  # stems keep a word's start
            elif word:
                spellings = [word.lower(), *meant[word.lower()]]
                alternatives = [f"{WRITTEN_COLUMNS} : {quoted(w)}" for w in spellings]
                # Only in German ideas' columns: "mode" is not "mod" in English.
                stems = dict.fromkeys(german[w] for w in spellings if w in german)
                alternatives += [f"{GERMAN_COLUMNS} : {quoted(s)}" for s in stems]
            else:
                continue
            either = " OR ".join(alternatives)
            terms.append(f"({either})" if len(alternatives) > 1 else either)
        return terms

    def _scope(self, boards: dict[str, int], include_duplicates: bool) -> str:
        """` AND ...` limiting matches to the given boards (slug -> id), without duplicates.

        Boards are named only when some are hidden: a board clause lists every idea of
        those boards, and FTS5 walks it for every count.
        """
        scope = ""
        if len(boards) < db.session.scalar(db.select(func.count(Board.id))):
            scope += " AND (" + " OR ".join(quoted(board_token(i)) for i in boards.values()) + ")"
        if not include_duplicates:
            scope += " NOT " + quoted(status_token(DUPLICATE))
        return scope

    @staticmethod
    def _boards(slugs: list[str]) -> dict[str, int]:
        """The ids of the boards of these slugs that exist."""
        query = db.select(Board.slug, Board.id).where(Board.slug.in_(slugs))
        return dict(db.session.execute(query).all())

    def _count(self, match: str) -> int:
        query = text(f"SELECT count(*) FROM {TABLE} WHERE {TABLE} MATCH :m")
        return db.session.execute(query, {"m": match}).scalar()

    def search(self, q: SearchQuery) -> SearchResult:
        return self._read(lambda: self._search(q))

    def _search(self, q: SearchQuery) -> SearchResult:
        terms, boards = self._terms(q.text), self._boards(q.boards)
        if not terms or not boards:
            return SearchResult([], 0)
        include_duplicates = q.include_duplicates or q.status == DUPLICATE
        scope = self._scope(boards, include_duplicates)
        words = " AND ".join(terms)
        matching = f"({words}){scope}"
        by_board = {slug: quoted(board_token(board_id)) for slug, board_id in boards.items()}
        by_status = {
            slug: quoted(status_token(slug))
            for slug in STATUSES
            if include_duplicates or slug != DUPLICATE
        }
        facets = self._facets(matching, by_board, by_status)
        narrowing = ""
        if q.board:
            narrowing += " AND " + by_board.get(q.board, NOTHING)
        if q.status:
            narrowing += " AND " + by_status.get(q.status, NOTHING)
        total = self._count(matching + narrowing) if narrowing else sum(facets["status"].values())
        in_titles = f"{TITLE_COLUMNS} : ({words}){scope}{narrowing}"
        numbers = self._ranked(matching + narrowing, in_titles, total, q)
        hits = self._hits(matching + narrowing, numbers, Marker(q.text))
        return SearchResult(hits, total, facets)

    def _ranked(self, matching: str, in_titles: str, total: int, q: SearchQuery) -> list[int]:
        """The idea numbers of the page, best first.

        bm25 costs a few microseconds per match, so for a broad query (a word in thousands
        of ideas) only the newest RANK_WINDOW ideas with the words in their title are
        ranked: about 7 ms instead of 150 for a word in two thirds of all ideas.
        """
        skip, limit = (q.page - 1) * q.per_page, q.per_page
        ranked = f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH :m ORDER BY {RANK}"
        if total > BROAD and skip + limit <= RANK_WINDOW:
            newest = (
                f"SELECT rowid FROM (SELECT rowid, {RANK} AS score FROM {TABLE}"
                f" WHERE {TABLE} MATCH :m ORDER BY rowid DESC LIMIT {RANK_WINDOW})"
                " ORDER BY score LIMIT :limit OFFSET :skip"
            )
            numbers = db.session.scalars(
                text(newest), {"m": in_titles, "limit": limit, "skip": skip}
            ).all()
            if len(numbers) == limit:
                return numbers
        query = text(f"{ranked} LIMIT :limit OFFSET :skip")
        return db.session.scalars(query, {"m": matching, "limit": limit, "skip": skip}).all()

    def _hits(self, matching: str, numbers: list[int], marker: Marker) -> list[Hit]:
        """Highlighted titles and snippets of the given ideas, in their order."""
        if not numbers:
            return []
        rows = db.session.execute(
            text(
                f"SELECT rowid, highlight({TABLE}, 0, char(2), char(3)),"
                f" snippet({TABLE}, 1, char(2), char(3), '…', {SNIPPET_WORDS}),"
                f" language, title, body FROM {TABLE} WHERE {TABLE} MATCH :m"
                f" AND rowid IN ({', '.join(str(int(n)) for n in numbers)})"
            ),
            {"m": matching},
        ).all()
        found = {}
        for n, marked_title, snippet, language, title, body in rows:
            if language == "de":
                marked_title, snippet = marker.mark(title), marker.mark(body, SNIPPET_WORDS)
            found[n] = Hit(n, highlight_marked(marked_title), highlight_marked(snippet))
        return [found[n] for n in numbers if n in found]

    def _facets(self, matching: str, by_board: dict, by_status: dict) -> dict:
        """Matches per board and per status. Up to BROAD matches are grouped in one pass
        over their rows. Beyond, reading each row costs more than counting each board's
        and status's token (a count costs about as much as it has matches), so `open` (the
        commonest status) and the first board are what the others leave."""
        total = self._count(matching)
        if total <= BROAD:
            return self._grouped_facets(matching, by_board, by_status)
        facets = {"board": {}, "status": {}}
        for name, clauses in (("board", by_board), ("status", by_status)):
            values = list(clauses)
            largest = values[0] if name == "board" else OPEN
            for value in values:
                if value != largest:
                    facets[name][value] = self._count(f"{matching} AND {clauses[value]}")
            facets[name][largest] = total - sum(facets[name].values())
            facets[name] = {value: n for value, n in facets[name].items() if n}
        return facets

    def _grouped_facets(self, matching: str, by_board: dict, by_status: dict) -> dict:
        """Matches per board and per status from one grouped read of the matching rows: two
        statements for a site of many boards, where a count each made dozens."""
        query = text(
            f"SELECT board, status, count(*) FROM {TABLE} WHERE {TABLE} MATCH :m"
            " GROUP BY board, status"
        )
        found = {"board": Counter(), "status": Counter()}
        for board, status, n in db.session.execute(query, {"m": matching}):
            found["board"][quoted(board)] += n
            found["status"][quoted(status)] += n
        return {
            name: {
                value: found[name][token] for value, token in clauses.items() if found[name][token]
            }
            for name, clauses in (("board", by_board), ("status", by_status))
        }

    def similar(self, title: str, boards: list[str], limit: int) -> list[int]:
        """Ideas whose titles share the most words with this one."""
        words = " ".join(w for w in WORD.findall(title) if w.lower() not in STOP_WORDS)

        def find():
            terms, ids = self._terms(words), self._boards(boards)
            if not terms or not ids:
                return []
            titles = f"{TITLE_COLUMNS} : ({' OR '.join(terms)})"  # German stems: title_de
            matching = titles + self._scope(ids, False)
            query = text(
                f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH :m ORDER BY {RANK} LIMIT :n"
            )
            return db.session.scalars(query, {"m": matching, "n": limit}).all()

        return self._read(find)
