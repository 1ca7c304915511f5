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

from portal.markup import HighlightFormatter, whoosh_highlight
from portal.search.base import Hit, SearchQuery, SearchResult, SearchUnavailable
from portal.search.language import GERMAN_ANALYZER, STEMMERS
from portal.search.typos import WORD, typo_candidates
from portal.workflow import DUPLICATE

log = logging.getLogger(__name__)

ANALYZER = StemmingAnalyzer()  # English: Porter stems
# An idea's title and body go into the fields of its language (title or title_de ...), so
# each is stemmed once, in its own language; a query is parsed against both sets.
SCHEMA = Schema(
    number=ID(stored=True, unique=True),
    board=ID(stored=True, sortable=True),
    status=ID(stored=True, sortable=True),
    language=ID(stored=True),
    category=TEXT(analyzer=ANALYZER),
    title=TEXT(analyzer=ANALYZER, field_boost=3.0, stored=True),
    body=TEXT(analyzer=ANALYZER, stored=True),
    title_de=TEXT(analyzer=GERMAN_ANALYZER, field_boost=3.0, stored=True),
    body_de=TEXT(analyzer=GERMAN_ANALYZER, stored=True),
    stamp=STORED,
)
FIELDS_OF = {"en": ["title", "body", "category"], "de": ["title_de", "body_de"]}
SUFFIX = {"en": "", "de": "_de"}
SEARCH_FIELDS = [field for fields in FIELDS_OF.values() for field in fields]
TITLE_FIELDS = ["title", "title_de"]
WRITE_TIMEOUT = 2.0


def index_fields(document: dict) -> dict:
    """A document as Whoosh fields: title and body under the names of its language."""
    fields = {**document, "number": str(document["number"])}
    suffix = SUFFIX[fields["language"]]
    fields["title" + suffix], fields["body" + suffix] = fields.pop("title"), fields.pop("body")
    return fields


def count_in(documents: set[int], groups: dict[str, set[int]]) -> dict[str, int]:
    counts = {value: len(documents & members) for value, members in groups.items()}
    return {value: n for value, n in counts.items() if n}


def typo_variants(text: str, reader, language: str) -> dict[str, list[str]]:
    """Stem of each word the language's fields do not know -> known stems it may mean."""
    fields, stem = FIELDS_OF[language], STEMMERS[language]
    if not any(reader.field_length(field) for field in fields):
        return {}  # no idea in this language yet: nothing to be near

    def known(word_stem: str) -> bool:
        return any(reader.doc_frequency(field, word_stem) for field in fields)

    unknown = " ".join(w for w in WORD.findall(text) if not known(stem(w.lower())))
    return {
        word_stem: sorted(filter(known, spellings))
        for word_stem, spellings in typo_candidates(unknown, stem).items()
    }


def with_typo_variants(parsed, text: str, reader):
    """Let words the index does not know match with one typo (see portal.search.typos).

    Only unknown words are widened: a known word means what it says. Besides a one-edit
    fuzzy term on the stem, the stems of likely meant spellings that the index knows are
    added as plain terms. Each language's fields are widened with their own stems.
    """
    by_language = {language: typo_variants(text, reader, language) for language in FIELDS_OF}
    variants = {field: by_language[lang] for lang, fields in FIELDS_OF.items() for field in fields}

    def widen(node):
        if type(node) is not query.Term:  # not Prefix, Fuzzy...
            return node
        field, word_stem = node.fieldname, node.text
        if word_stem not in variants.get(field, {}):
            return node
        alternatives = [query.FuzzyTerm(field, word_stem, maxdist=1, prefixlength=1)]
        alternatives += [query.Term(field, s) for s in variants[field][word_stem]]
        return query.Or(alternatives, boost=node.boost)

    return parsed.accept(widen)


class IndexWriter:
    def __init__(self, writer):
        self.writer = writer

    def upsert(self, document: dict) -> None:
        self.writer.update_document(**index_fields(document))

    def delete(self, number: int) -> None:
        self.writer.delete_by_term("number", str(number))


class WhooshBackend:
    needs_tasks = True

    def __init__(self, folder: str):
        self.folder = Path(folder)
        self._index = None
        self._generation = None
        self._searcher = None
        self._sets_of, self._sets = None, {}

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
                ix = index.open_dir(self.folder / generation)
            except Exception as error:  # missing or corrupt files
                raise SearchUnavailable(f"cannot open the search index: {error}") from error
            if sorted(ix.schema.names()) != sorted(SCHEMA.names()):
                # Built by an older release: the worker rebuilds it (keep_index_healthy).
                raise SearchUnavailable("the search index has an older schema")
            self._index = ix
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
            if self._searcher is None or not self._searcher.up_to_date():
                # A new searcher, not refresh(): refresh() reuses a segment's old reader
                # when only its deletions changed, so a deleted or edited idea would still
                # be found; and it cannot refresh a searcher of an empty index at all.
                self._close_searcher()
                self._searcher = ix.searcher()
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
                    writer.add_document(**index_fields(document))
                    count += 1
            writer.commit()
            self._swap_in(path)
        return count

    def check(self) -> None:
        """Raise SearchUnavailable unless the live index opens and reads."""
        with self.searcher() as searcher:
            searcher.doc_count()

    def ping(self) -> None:
        """Raise SearchUnavailable unless the live index answers a one-word query."""
        with self.searcher() as searcher:
            searcher.search(query.Term("title", "ping"), limit=1)

    def stamps(self) -> dict[int, str]:
        with self.searcher() as searcher:
            return {int(f["number"]): f["stamp"] for f in searcher.all_stored_fields()}

    # -- reading ----------------------------------------------------------------------

    def _parse(self, text: str, fields=SEARCH_FIELDS, group=None):
        parser = MultifieldParser(fields, SCHEMA, **({"group": group} if group else {}))
        try:
            return parser.parse(text)
        except Exception:  # broken syntax: search the words as plain text
            return parser.parse(" ".join(WORD.findall(text)))

    def _documents_by(self, searcher, name: str) -> dict[str, set[int]]:
        """The document numbers of every board or status, read once per index version.

        Counting facets and leaving out boards become set operations; a Whoosh filter or
        mask would walk these postings again on every search.
        """
        if self._sets_of is not searcher:
            self._sets_of, self._sets = searcher, {}
        if name not in self._sets:
            reader = searcher.reader()
            self._sets[name] = {
                value: set(reader.postings(name, value).all_ids())
                for value in reader.field_terms(name)
            }
        return self._sets[name]

    def search(self, q: SearchQuery) -> SearchResult:
        include_duplicates = q.include_duplicates or q.status == DUPLICATE
        with self.searcher() as searcher:
            parsed = with_typo_variants(self._parse(q.text), q.text, searcher.reader())
            by_board = self._documents_by(searcher, "board")
            by_status = self._documents_by(searcher, "status")
            matched = set(parsed.docs(searcher))
            for slug in set(by_board) - set(q.boards):
                matched -= by_board[slug]
            if not include_duplicates:
                matched -= by_status.get(DUPLICATE, set())
            facets = {
                "board": count_in(matched, by_board),
                "status": count_in(matched, by_status),
            }
            if q.board:
                matched &= by_board.get(q.board, set())
            if q.status:
                matched &= by_status.get(q.status, set())
            if not matched:  # an empty filter would mean no filter to Whoosh
                return SearchResult([], 0, facets)
            start = (q.page - 1) * q.per_page
            results = searcher.search(parsed, limit=start + q.per_page, filter=matched)
            results.fragmenter = ContextFragmenter(maxchars=220, surround=60)
            results.formatter = HighlightFormatter()
            hits = [self._hit(hit) for hit in results[start : start + q.per_page]]
            return SearchResult(hits, len(matched), facets)

    @staticmethod
    def _hit(hit) -> Hit:
        """Highlighted title and snippet; a plain escaped excerpt where nothing matched."""
        suffix = SUFFIX.get(hit.get("language"), "")
        title = whoosh_highlight(hit, "title" + suffix, 200, minscore=0)
        body = whoosh_highlight(hit, "body" + suffix, 220, top=2)
        return Hit(int(hit["number"]), title, body)

    def similar(self, title: str, boards: list[str], limit: int) -> list[int]:
        """Ideas whose titles share words with this one (a title says what an idea is)."""
        with self.searcher() as searcher:
            parsed = self._parse(title, fields=TITLE_FIELDS, group=OrGroup.factory(0.9))
            parsed = with_typo_variants(parsed, title, searcher.reader())
            scope = query.Or([query.Term("board", slug) for slug in boards])
            duplicates = query.Term("status", DUPLICATE)
            # A mask, not AndNot: whoosh's AndNot over typo variants can fail an assertion.
            results = searcher.search(query.Require(parsed, scope), mask=duplicates, limit=limit)
            return [int(hit["number"]) for hit in results]

    def delete_numbers(self, numbers) -> None:
        with self.writing() as writer:
            for number in numbers:
                writer.delete(number)
