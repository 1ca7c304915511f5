"""The embedded default: a Whoosh index in SEARCH_INDEX_DIR, shared by the processes of
one machine. `current` is a symlink to the live generation, so a rebuild swaps atomically."""

import fcntl
import logging
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from whoosh import index, query
from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import ID, STORED, TEXT, Schema
from whoosh.highlight import ContextFragmenter
from whoosh.index import LockError
from whoosh.qparser import MultifieldParser, OrGroup
from whoosh.sorting import FieldFacet

from portal.markup import HighlightFormatter, whoosh_highlight
from portal.search import Hit, SearchQuery, SearchResult, SearchUnavailable
from portal.workflow import DUPLICATE

log = logging.getLogger(__name__)

ANALYZER = StemmingAnalyzer()
SCHEMA = Schema(
    number=ID(stored=True, unique=True),
    board=ID(stored=True, sortable=True),
    status=ID(stored=True, sortable=True),
    category=TEXT(analyzer=ANALYZER),
    title=TEXT(analyzer=ANALYZER, field_boost=3.0, stored=True),
    body=TEXT(analyzer=ANALYZER, stored=True),
    stamp=STORED,
)
SEARCH_FIELDS = ["title", "body", "category"]
FEW_HITS = 3  # below this, words of five letters or more are matched with one typo
WRITE_TIMEOUT = 2.0


def fuzzy(node):
    """Let a word match with one typo (stems of four letters: words of about five or more)."""
    if isinstance(node, query.Term) and node.fieldname in SEARCH_FIELDS and len(node.text) >= 4:
        return query.FuzzyTerm(
            node.fieldname, node.text, boost=node.boost, maxdist=1, prefixlength=1
        )
    return node


class IndexWriter:
    def __init__(self, writer):
        self.writer = writer

    def upsert(self, document: dict) -> None:
        self.writer.update_document(**{**document, "number": str(document["number"])})

    def delete(self, number: int) -> None:
        self.writer.delete_by_term("number", str(number))


class WhooshBackend:
    needs_tasks = True

    def __init__(self, folder: str):
        self.folder = Path(folder)
        self._index = None
        self._generation = None
        self._searcher = None

    # -- locating and opening -------------------------------------------------------

    @property
    def current(self) -> Path:
        return self.folder / "current"

    def _live_generation(self) -> str | None:
        try:
            return os.readlink(self.current)
        except OSError:
            return None

    def _new_generation(self) -> Path:
        path = self.folder / f"index-{time.time_ns()}"
        path.mkdir(parents=True)
        index.create_in(path, SCHEMA)
        return path

    @contextmanager
    def _folder_lock(self):
        """Only one process at a time creates or swaps generations."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".generation.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _swap_in(self, path: Path) -> None:
        """Point `current` at path atomically; keep the one before for readers still on it."""
        previous = self._live_generation()
        link = self.folder / f".current-{time.time_ns()}"
        os.symlink(path.name, link)
        os.replace(link, self.current)
        for old in self.folder.glob("index-*"):
            if old.name not in (path.name, previous):
                shutil.rmtree(old, ignore_errors=True)

    def ensure(self) -> None:
        """Create an empty index when there is none (the start of a new site)."""
        if self._live_generation() is None:
            with self._folder_lock():
                if self._live_generation() is None:
                    self._swap_in(self._new_generation())

    def open(self):
        """The live index, reopened when another process swapped in a new generation."""
        generation = self._live_generation()
        if generation is None:
            raise SearchUnavailable(f"no search index in {self.folder}")
        if generation != self._generation:
            try:
                self._index = index.open_dir(self.folder / generation)
            except Exception as error:  # missing or corrupt files
                raise SearchUnavailable(f"cannot open the search index: {error}") from error
            self._generation = generation
            self._close_searcher()
        return self._index

    def _close_searcher(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        self._searcher = None

    @contextmanager
    def searcher(self):
        try:
            ix = self.open()
            if self._searcher is None:
                self._searcher = ix.searcher()
            else:
                # refresh() shares unchanged segments with the old searcher: do not close it.
                self._searcher = self._searcher.refresh()
            yield self._searcher
        except SearchUnavailable:
            raise
        except Exception as error:  # a corrupt segment shows up while reading
            self._generation = None
            self._close_searcher()
            raise SearchUnavailable(f"the search index failed: {error}") from error

    # -- writing ----------------------------------------------------------------------

    @contextmanager
    def writing(self):
        """A writer holding the index lock; raises SearchUnavailable when it is taken.

        A missing index is not created here: an empty one would hide the ideas it lacks.
        The worker rebuilds it from the database instead (keep_index_healthy).
        """
        try:
            writer = self.open().writer(timeout=WRITE_TIMEOUT)
        except LockError as error:
            raise SearchUnavailable("another process is writing the index") from error
        try:
            yield IndexWriter(writer)
        except BaseException:
            writer.cancel()
            raise
        try:
            writer.commit()
        except Exception as error:
            raise SearchUnavailable(f"could not write the search index: {error}") from error

    def rebuild(self, documents) -> int:
        """Write every document into a new generation, then swap it in."""
        with self._folder_lock():
            path = self._new_generation()
            writer = index.open_dir(path).writer(limitmb=256)
            count = 0
            for document in documents:
                if document is not None:
                    writer.add_document(**{**document, "number": str(document["number"])})
                    count += 1
            writer.commit()
            self._swap_in(path)
        return count

    def check(self) -> None:
        """Raise SearchUnavailable unless the live index opens and reads."""
        with self.searcher() as searcher:
            searcher.doc_count()

    def stamps(self) -> dict[int, str]:
        with self.searcher() as searcher:
            return {int(f["number"]): f["stamp"] for f in searcher.all_stored_fields()}

    # -- reading ----------------------------------------------------------------------

    def _parse(self, text: str, group=None):
        parser = (
            MultifieldParser(SEARCH_FIELDS, SCHEMA, group=group)
            if group
            else MultifieldParser(SEARCH_FIELDS, SCHEMA)
        )
        try:
            return parser.parse(text)
        except Exception:  # broken syntax: search the words as plain text
            words = " ".join(w for w in "".join(c if c.isalnum() else " " for c in text).split())
            return parser.parse(words)

    @staticmethod
    def _scope(boards, status: str, include_duplicates: bool):
        terms = [query.Or([query.Term("board", b) for b in boards])]
        if status:
            terms.append(query.Term("status", status))
        mask = (
            None if include_duplicates or status == DUPLICATE else query.Term("status", DUPLICATE)
        )
        return query.And(terms), mask

    def search(self, q: SearchQuery) -> SearchResult:
        parsed = self._parse(q.text)
        scope, mask = self._scope(
            [q.board] if q.board else q.boards, q.status, q.include_duplicates
        )
        facets = {"board": FieldFacet("board"), "status": FieldFacet("status")}
        board_scope, _ = self._scope(q.boards, "", q.include_duplicates)
        with self.searcher() as searcher:
            page = searcher.search_page(
                parsed, q.page, pagelen=q.per_page, filter=scope, mask=mask, terms=True
            )
            if page.total < FEW_HITS:
                parsed = parsed.accept(fuzzy)
                page = searcher.search_page(
                    parsed, q.page, pagelen=q.per_page, filter=scope, mask=mask, terms=True
                )
            counts = searcher.search(
                parsed, filter=board_scope, mask=mask, groupedby=facets, limit=1
            )
            facet_counts = {
                name: {key: len(ids) for key, ids in counts.groups(name).items()} for name in facets
            }
            page.results.fragmenter = ContextFragmenter(maxchars=220, surround=60)
            page.results.formatter = HighlightFormatter()
            hits = [self._hit(hit) for hit in page]
            return SearchResult(hits, page.total, facet_counts)

    @staticmethod
    def _hit(hit) -> Hit:
        """Highlighted title and snippet; a plain escaped excerpt where nothing matched."""
        title = whoosh_highlight(hit, "title", 200, minscore=0)
        return Hit(int(hit["number"]), title, whoosh_highlight(hit, "body", 220, top=2))

    def similar(self, title: str, boards: list[str], limit: int) -> list[int]:
        parsed = self._parse(title, group=OrGroup.factory(0.9)).accept(fuzzy)
        scope, mask = self._scope(boards, "", False)
        with self.searcher() as searcher:
            results = searcher.search(parsed, filter=scope, mask=mask, limit=limit)
            return [int(hit["number"]) for hit in results]

    def delete_numbers(self, numbers) -> None:
        with self.writing() as writer:
            for number in numbers:
                writer.delete(number)
