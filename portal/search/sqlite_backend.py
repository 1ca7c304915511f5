"""SEARCH_BACKEND=sqlite: SQLite's FTS5 inside the portal's own database.

The table `idea_fts` is derived data like the Whoosh index, but it lives in the same
database, so an idea and its index entry change in one transaction: nothing can drift,
nothing waits in a queue, and every process and thread sees the same index. A migration
creates it empty (the worker fills it at start); Alembic's autogenerate leaves it alone;
`search-reindex` rebuilds it in one transaction while searches read the previous state.

Board and status are indexed columns too, so visibility and facet counts are FTS5
queries rather than joins. The user's words are always quoted before they reach MATCH:
FTS5's own syntax never sees raw input.
"""

import re
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from whoosh.analysis import STOP_WORDS
from whoosh.lang.porter import stem

from portal.extensions import db
from portal.markup import highlight_marked
from portal.models import Board
from portal.search import Hit, SearchQuery, SearchResult, SearchUnavailable
from portal.search.typos import WORD, typo_candidates
from portal.workflow import DUPLICATE, STATUSES

TABLE = "idea_fts"
CREATE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
    "title, body, category, board, status, stamp UNINDEXED, tokenize='porter unicode61')"
)
CREATE_VOCABULARY = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE}_terms USING fts5vocab({TABLE}, row)"
)
TEXT_COLUMNS = "{title body category}"
RANK = f"bm25({TABLE}, 3.0, 1.0, 1.0, 0.0, 0.0)"  # title weighs most
SNIPPET_WORDS = 30
MAX_TERMS = 12  # a search box query, not a document
# A phrase, a word with an optional * for a prefix; anything else is a separator.
TOKEN = re.compile(r'"([^"]*)"|(\w+)(\*?)')
NOTHING = 'board : "none"'  # board tokens are b<id>: this matches no idea
# Stored text must not carry the markers the highlighter puts around matches.
MARKERS = str.maketrans("", "", "\x02\x03")


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """For Alembic's autogenerate: the FTS5 tables are the search index, not the schema."""
    return not (type_ == "table" and name.startswith(TABLE))


def quoted(words: str) -> str:
    return '"' + words.replace('"', "") + '"'


def board_token(board_id: int) -> str:
    """Slugs hold hyphens, which FTS5 splits; ids are one token each."""
    return f'"b{board_id}"'


def status_token(status: str) -> str:
    return quoted(status)


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
                f"INSERT INTO {TABLE} (rowid, title, body, category, board, status, stamp)"
                " VALUES (:number, :title, :body, :category, :board, :status, :stamp)"
            ),
            {
                **document,
                "title": document["title"].translate(MARKERS),
                "body": document["body"].translate(MARKERS),
                "board": f"b{board_id}",
            },
        )

    def delete(self, number: int) -> None:
        db.session.execute(text(f"DELETE FROM {TABLE} WHERE rowid = :n"), {"n": number})


class SqliteBackend:
    needs_tasks = True  # for drift repair and the rare change queued when a write failed
    transactional = True  # changes are written in the change's own transaction

    # -- writing ----------------------------------------------------------------------

    def ensure(self) -> None:
        db.session.execute(text(CREATE))
        db.session.execute(text(CREATE_VOCABULARY))
        db.session.commit()

    @contextmanager
    def writing(self):
        """The Whoosh backend's protocol, so queued tasks are applied the same way; the
        caller commits."""
        try:
            yield SqliteWriter()
        except DatabaseError as error:  # no table: the worker rebuilds it
            raise SearchUnavailable(f"cannot write the SQLite search index: {error}") from error

    def rebuild(self, documents) -> int:
        """Replace every entry in one transaction; readers see the old index until commit."""
        self.ensure()
        db.session.execute(text(f"DELETE FROM {TABLE}"))
        writer, count = SqliteWriter(), 0
        for document in documents:
            if document is not None:
                writer.upsert(document)
                count += 1
        db.session.commit()
        return count

    def check(self) -> None:
        self._read(lambda: db.session.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar())

    def stamps(self) -> dict[int, str]:
        query = text(f"SELECT rowid, stamp FROM {TABLE}")
        return dict(self._read(lambda: db.session.execute(query).all()))

    # -- reading ----------------------------------------------------------------------

    @staticmethod
    def _read(function):
        try:
            return function()
        except DatabaseError as error:  # no table, or a damaged one
            db.session.rollback()
            raise SearchUnavailable(f"the SQLite search index failed: {error}") from error

    def _known(self, stems: set[str]) -> set[str]:
        if not stems:
            return set()
        names = {f"t{i}": term for i, term in enumerate(sorted(stems))}
        placeholders = ", ".join(f":{name}" for name in names)
        query = text(f"SELECT term FROM {TABLE}_terms WHERE term IN ({placeholders})")
        return set(db.session.scalars(query, names))

    def _terms(self, text_: str) -> list[str]:
        """The user's query as FTS5 terms: phrases, prefixes, and words; a word the index
        does not know is widened to the spellings it was probably meant to be."""
        tokens = TOKEN.findall(text_)[:MAX_TERMS]
        words = {word.lower() for _, word, star in tokens if word and not star}
        known = self._known({stem(word) for word in words})
        unknown = " ".join(word for word in words if stem(word) not in known)
        candidates = typo_candidates(unknown)
        known |= self._known(set().union(*candidates.values()))
        terms = []
        for phrase, word, star in tokens:
            if phrase.strip():
                terms.append(quoted(phrase))
            elif word and star:
                terms.append(quoted(word) + " *")
            elif word:
                word_stem = stem(word.lower())
                meant = [
                    spelling
                    for spelling_stem, spelling in candidates.get(word_stem, {}).items()
                    if word_stem not in known and spelling_stem in known
                ]
                alternatives = " OR ".join(quoted(w) for w in [word, *sorted(meant)])
                terms.append(f"({alternatives})" if meant else alternatives)
        return terms

    def _scope(self, boards: list[str], include_duplicates: bool) -> str | None:
        """Boards the person may see, without duplicates; None when there are none."""
        ids = db.session.scalars(db.select(Board.id).where(Board.slug.in_(boards))).all()
        if not ids:
            return None
        scope = "board : (" + " OR ".join(board_token(i) for i in ids) + ")"
        if not include_duplicates:
            scope += f" NOT status : {status_token(DUPLICATE)}"
        return scope

    def _count(self, match: str) -> int:
        query = text(f"SELECT count(*) FROM {TABLE} WHERE {TABLE} MATCH :m")
        return db.session.execute(query, {"m": match}).scalar()

    def search(self, q: SearchQuery) -> SearchResult:
        return self._read(lambda: self._search(q))

    def _search(self, q: SearchQuery) -> SearchResult:
        terms = self._terms(q.text)
        scope = self._scope(q.boards, q.include_duplicates or q.status == DUPLICATE)
        if not terms or scope is None:
            return SearchResult([], 0)
        matching = f"{TEXT_COLUMNS} : ({' AND '.join(terms)}) AND {scope}"
        board_ids = dict(db.session.execute(db.select(Board.slug, Board.id)).all())
        by_board = {
            slug: f"board : {board_token(board_ids[slug])}"
            for slug in q.boards
            if slug in board_ids
        }
        by_status = {slug: f"status : {status_token(slug)}" for slug in STATUSES}
        facets = {
            name: {
                value: n
                for value, clause in clauses.items()
                if (n := self._count(f"{matching} AND {clause}"))
            }
            for name, clauses in (("board", by_board), ("status", by_status))
        }
        narrowed = matching
        if q.board:
            narrowed += " AND " + by_board.get(q.board, NOTHING)
        if q.status:
            narrowed += " AND " + by_status.get(q.status, NOTHING)
        total = self._count(narrowed) if narrowed != matching else sum(facets["status"].values())
        rows = db.session.execute(
            text(
                f"SELECT rowid, highlight({TABLE}, 0, char(2), char(3)),"
                f" snippet({TABLE}, 1, char(2), char(3), '…', {SNIPPET_WORDS})"
                f" FROM {TABLE} WHERE {TABLE} MATCH :m ORDER BY {RANK} LIMIT :limit OFFSET :skip"
            ),
            {"m": narrowed, "limit": q.per_page, "skip": (q.page - 1) * q.per_page},
        ).all()
        hits = [Hit(n, highlight_marked(t), highlight_marked(b)) for n, t, b in rows]
        return SearchResult(hits, total, facets)

    def similar(self, title: str, boards: list[str], limit: int) -> list[int]:
        """Ideas whose titles share the most words with this one."""
        words = " ".join(w for w in WORD.findall(title) if w.lower() not in STOP_WORDS)

        def find():
            terms, scope = self._terms(words), self._scope(boards, False)
            if not terms or scope is None:
                return []
            matching = f"title : ({' OR '.join(terms)}) AND {scope}"
            query = text(
                f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH :m ORDER BY {RANK} LIMIT :n"
            )
            return db.session.scalars(query, {"m": matching, "n": limit}).all()

        return self._read(find)
