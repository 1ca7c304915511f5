"""SEARCH_BACKEND=postgres: PostgreSQL's own full-text search, for several machines.

It reads the idea table directly: each idea's `tsvector` is a generated column PostgreSQL
keeps itself (`search_vector`, with the GIN index `ix_idea_search`; migration
8f4a2c6e1d93), so there is no index to drift and queued updates are simply discarded.
Each idea is stemmed with the text search configuration of its language (`german` or
`english`); a query is stemmed both ways, and each idea is matched, ranked and
highlighted with the query of its own language only ("mode" is 'mod' in German, which
must not find an English "Mod support").
When the words find fewer than three ideas, typos widen the match in two ways: titles
like the words, by trigram similarity (the pg_trgm extension, created by the migration; the
trigram index `ix_idea_title_trgm` answers), and the spellings a mistyped word was meant to
be that some idea holds (typos.py).
"""

import re

from sqlalchemy import and_, any_, bindparam, case, func, literal_column, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.types import Integer

from portal.database import discard
from portal.extensions import db
from portal.markup import highlight_marked
from portal.models import Idea
from portal.search.base import Hit, SearchQuery, SearchResult, SearchUnavailable
from portal.search.sql_backend import counts, narrow, visible_scope
from portal.search.typos import typo_candidates
from portal.workflow import DUPLICATE

CONFIG = "english"  # for words that belong to no idea (ping)
CONFIGS = {"en": "english", "de": "german"}

EXCLUDED = re.compile(r"(?<!\S)-(\w+)")  # websearch_to_tsquery's `-word`
FEW_HITS = 3  # below this, title words with a typo count as matches too
TYPO_SIMILARITY = 0.5
SIMILAR_TITLE = 0.4  # word_similarity(new title, title) above this: a similar idea
HEADLINE = "StartSel=\x02, StopSel=\x03, MaxFragments=2, MaxWords=30, MinWords=10"
TITLE_HEADLINE = "StartSel=\x02, StopSel=\x03, HighlightAll=true"


def row_config():
    """The text search configuration of each idea's language."""
    return case(
        (Idea.language == literal_column("'de'"), literal_column("'german'::regconfig")),
        else_=literal_column("'english'::regconfig"),
    )


def search_vector():
    """Each idea in its language's configuration, title weighing most: the generated column
    `idea.search_vector` (migration 8f4a2c6e1d93), which the GIN index `ix_idea_search` is
    on. PostgreSQL computes it when an idea is written, never when it is searched."""
    return literal_column("idea.search_vector", type_=TSVECTOR)


# Made by hand-written, PostgreSQL-only migrations; the models do not describe them.
UNMODELLED_INDEXES = frozenset({"ix_idea_search", "ix_idea_title_trgm"})
UNMODELLED_COLUMNS = frozenset({("idea", "search_vector")})


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """For Alembic's autogenerate: leave the search column and indexes to their migrations."""
    if type_ == "column":
        return (obj.table.name, name) not in UNMODELLED_COLUMNS
    return not (type_ == "index" and name in UNMODELLED_INDEXES)


def plan_for_these_words() -> None:
    """Plan this transaction's statements for their own parameters. psycopg prepares a
    statement after its fifth run, and PostgreSQL may then reuse one generic plan whatever
    the words; but how many ideas the words match decides the right plan (a typo search at
    100,000 ideas: 6 times slower on the generic plan; docs/decisions/0017)."""
    db.session.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))


def titles_like(scope, words: list[str], threshold: float) -> list[int]:
    """Ids of the ideas in scope with a title word_similarity(word, title) > threshold for
    one of the words: a query of its own, which the trigram index `ix_idea_title_trgm`
    answers (`title %> word`, at pg_trgm.word_similarity_threshold), the similarity then
    checked exactly on those few. Or-ed into a text match instead, the similarity function
    would make every query that uses it a scan of the whole table."""
    if not words:
        return []
    db.session.execute(
        text("SELECT set_config('pg_trgm.word_similarity_threshold', :threshold, true)"),
        {"threshold": str(threshold)},
    )
    alike = [
        and_(Idea.title.op("%>")(word), func.word_similarity(word, Idea.title) > threshold)
        for word in words
    ]
    return db.session.scalars(scope.with_only_columns(Idea.id).where(or_(*alike))).all()


# Which spellings some idea holds, in any language's stemming: one look-up in the GIN
# index each (a spelling no idea has costs only that).
HELD_SPELLINGS = text(
    "SELECT spelling FROM unnest(CAST(:spellings AS text[])) AS spelling WHERE EXISTS ("
    " SELECT 1 FROM idea WHERE "
    + " OR ".join(
        f"idea.search_vector @@ to_tsquery('{config}', spelling)" for config in CONFIGS.values()
    )
    + ")"
)


def held_spellings(spellings: list[str]) -> list[str]:
    """Those of the meant spellings that some idea holds: usually one or two of a hundred.

    The whole list, as one query, is estimated to match far more ideas than it does, so the
    planner would read the whole table and test each idea against every spelling; the ids
    of the ideas with one of them, asked from the GIN index on their own, were 100,000 ids
    for a typo of a common word at 1,000,000 ideas (4.6 s, bench/README.md). The spellings
    left make an ordinary query, which the planner estimates as any other. Scans of the
    table are off here: a subquery's words are unknown when it is planned, and a scan would
    look through every idea for each spelling no idea has."""
    if not spellings:
        return []
    (scan,) = db.session.execute(text("SHOW enable_seqscan")).one()
    db.session.execute(text("SELECT set_config('enable_seqscan', 'off', true)"))
    try:
        return db.session.scalars(HELD_SPELLINGS, {"spellings": spellings}).all()
    finally:
        db.session.execute(text("SELECT set_config('enable_seqscan', :scan, true)"), {"scan": scan})


def among(ids: list[int]):
    """Whether an idea is one of these (one array parameter, served by the primary key)."""
    return Idea.id == any_(bindparam("ids", ids, type_=ARRAY(Integer), unique=True))


def to_tsquery_text(text_: str) -> str:
    """Turn `word*` into a prefix match; everything else goes to websearch_to_tsquery."""
    return re.sub(r"(\w+)\*", r"\1", text_)


def meant_spellings(words: list[str]) -> list[str]:
    """The spellings mistyped words were probably meant to be (see typos.py).

    Only letters reach them, so the user's text never becomes tsquery syntax.
    """
    candidates = typo_candidates(" ".join(w for w in words if w.isalpha()))
    return sorted({s for spellings in candidates.values() for s in spellings.values()})


class PerLanguage:
    """A query stemmed in each language, each idea meeting only its own language's.

    make_query(config) builds the query in one text search configuration.
    """

    def __init__(self, make_query):
        self.german, self.english = make_query(CONFIGS["de"]), make_query(CONFIGS["en"])

    def matches(self):
        """Whether an idea matches: two tests of the indexed vector, each with its
        language's query (the planner ors two scans of the GIN index)."""
        vector, german = search_vector(), Idea.language == literal_column("'de'")
        return or_(
            and_(german, vector.op("@@")(self.german)),
            and_(~german, vector.op("@@")(self.english)),
        )

    def of_row(self):
        """The query in each idea's language, for ranking and highlighting."""
        return case((Idea.language == literal_column("'de'"), self.german), else_=self.english)


class PostgresBackend:
    needs_tasks = False

    def _tsquery(self, text_: str):
        def tsquery(config):
            query = func.websearch_to_tsquery(config, to_tsquery_text(text_))
            for prefix in re.findall(r"(\w+)\*", text_):
                query = query.op("||")(func.to_tsquery(config, prefix.lower() + ":*"))
            return query

        return PerLanguage(tsquery)

    def _matching(self, q: SearchQuery, boards):
        tsquery = self._tsquery(q.text)
        include = q.include_duplicates or q.status == DUPLICATE
        base = visible_scope(boards, include)
        exact = base.where(tsquery.matches())
        excluded = EXCLUDED.findall(q.text)
        words = [w for w in re.findall(r"\w+", EXCLUDED.sub(" ", q.text)) if len(w) >= 5]
        if '"' in q.text or not words:  # a phrase means exactly these words
            return exact, tsquery
        first_few = exact.with_only_columns(literal_column("1")).limit(FEW_HITS).subquery()
        if db.session.scalar(select(func.count()).select_from(first_few)) >= FEW_HITS:
            return exact, tsquery
        ways = [tsquery.matches(), among(titles_like(base, words, TYPO_SIMILARITY))]
        if held := " | ".join(held_spellings(meant_spellings(words))):  # swapped or missing letters
            ways.append(PerLanguage(lambda config: func.to_tsquery(config, held)).matches())
        widened = or_(*ways)
        if excluded:  # a title like an excluded word is no typo for a wanted one
            either = " OR ".join(excluded)
            unwanted = PerLanguage(lambda config: func.websearch_to_tsquery(config, either))
            widened = and_(widened, ~unwanted.matches())
        return base.where(widened), tsquery

    def search(self, q: SearchQuery) -> SearchResult:
        try:
            plan_for_these_words()
            return self._search(q)
        except Exception as error:  # a broken query or a missing extension: use plain SQL
            discard()
            raise SearchUnavailable(f"PostgreSQL search failed: {error}") from error

    def _search(self, q: SearchQuery) -> SearchResult:
        matching, tsquery = self._matching(q, q.boards)
        total, facets = counts(matching, q)
        matching = narrow(matching, q)
        own = tsquery.of_row()
        rank = func.ts_rank_cd(search_vector(), own) + func.word_similarity(q.text, Idea.title)
        rows = db.session.execute(
            matching.with_only_columns(
                Idea.number,
                func.ts_headline(row_config(), Idea.title, own, TITLE_HEADLINE),
                func.ts_headline(row_config(), Idea.body, own, HEADLINE),
            )
            .order_by(rank.desc(), Idea.vote_count.desc(), Idea.id.desc())  # newest of equals
            .limit(q.per_page)
            .offset((q.page - 1) * q.per_page)
        ).all()
        hits = [Hit(n, highlight_marked(t), highlight_marked(b)) for n, t, b in rows]
        return SearchResult(hits, total, facets)

    def similar(self, title: str, boards: list[str], limit: int) -> list[int]:
        try:
            plan_for_these_words()
            words = " OR ".join(re.findall(r"\w{3,}", title))
            tsquery = PerLanguage(lambda config: func.websearch_to_tsquery(config, words))
            likeness = func.word_similarity(title, Idea.title)
            score = func.ts_rank_cd(search_vector(), tsquery.of_row()) + likeness
            scope = visible_scope(boards, False)
            alike = titles_like(scope, [title], SIMILAR_TITLE)
            query = scope.where(or_(tsquery.matches(), among(alike)))
            return db.session.scalars(
                query.with_only_columns(Idea.number)
                .order_by(score.desc(), Idea.id.desc())
                .limit(limit)
            ).all()
        except Exception as error:
            discard()
            raise SearchUnavailable(f"PostgreSQL search failed: {error}") from error

    def check(self) -> None:
        pass

    def ping(self) -> None:
        """Raise SearchUnavailable unless PostgreSQL answers a tiny text and trigram query."""
        try:
            db.session.execute(
                db.select(
                    func.to_tsvector(CONFIG, "ping").op("@@")(
                        func.websearch_to_tsquery(CONFIG, "ping")
                    ),
                    func.word_similarity("ping", "pings"),
                )
            )
        except Exception as error:  # no text search configuration, no pg_trgm, no database
            discard()
            raise SearchUnavailable(f"PostgreSQL search failed: {error}") from error

    def stamps(self):
        return {}

    def rebuild(self, documents) -> int:
        return sum(1 for document in documents if document is not None)
