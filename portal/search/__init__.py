"""Full-text search behind one small interface (SPEC section 5): this package picks the
configured backend and asks it; when the index cannot answer, plain SQL does.

What the backends share is in `base.py`; keeping the index in step with the ideas (the
queue of changes, rebuilds, drift repair) is `indexing.py`.
"""

import logging

from flask import current_app

from portal.extensions import db
from portal.search import similarity
from portal.search.base import Hit, SearchQuery, SearchResult, SearchUnavailable
from portal.search.sql_backend import SqlBackend

__all__ = [
    "Hit",
    "SearchQuery",
    "SearchResult",
    "SearchUnavailable",
    "default_backend",
    "get_backend",
    "ping",
    "scored_similar_ideas",
    "search_ideas",
    "similar_ideas",
    "strong_match",
]

log = logging.getLogger(__name__)

SIMILAR_WORDS = 12  # each word becomes a fuzzy term: keep the query small
SIMILAR_CANDIDATES = 20  # what the backend finds; the similarity score picks among them


def get_backend():
    """The configured backend, one per process and app."""
    extensions = current_app.extensions
    if "search" not in extensions:
        name = current_app.config["SEARCH_BACKEND"] or default_backend()
        if name == "sqlite":
            from portal.search.sqlite_backend import SqliteBackend

            extensions["search"] = SqliteBackend()
        elif name == "postgres":
            from portal.search.postgres_backend import PostgresBackend

            extensions["search"] = PostgresBackend()
        elif name == "whoosh":
            from portal.search.whoosh_backend import WhooshBackend

            extensions["search"] = WhooshBackend(current_app.config["SEARCH_INDEX_DIR"])
        else:
            raise ValueError(
                f"SEARCH_BACKEND must be 'sqlite', 'whoosh' or 'postgres', not {name!r}"
            )
    return extensions["search"]


def default_backend() -> str:
    """FTS5 inside the database where that is SQLite, else Whoosh (docs/decisions/0004)."""
    return "sqlite" if db.engine.dialect.name == "sqlite" else "whoosh"


def search_ideas(query: SearchQuery) -> SearchResult:
    """Ranked, highlighted hits; falls back to plain SQL when the index cannot answer."""
    if not query.boards or not query.text.strip():
        return SearchResult([], 0)
    try:
        return get_backend().search(query)
    except SearchUnavailable as error:
        log.warning("search index unavailable, answering from SQL: %s", error)
        result = SqlBackend().search(query)
        result.fallback = True
        return result


def similar_ideas(title: str, boards: list[str], limit: int = 5) -> list[int]:
    """Numbers of the ideas most like a new title, best first, duplicates left out."""
    return [number for number, _ in scored_similar_ideas(title, boards, limit)]


def scored_similar_ideas(title: str, boards: list[str], limit: int = 5) -> list[tuple[int, float]]:
    """(number, similarity) of the ideas most like a new title, best first: the backend
    finds candidates, `similarity.rank` scores them the same way for every backend."""
    title = " ".join(title.split()[:SIMILAR_WORDS])[:200]  # a title, not a novel
    if len(title) < 3 or not boards:
        return []
    try:
        candidates = get_backend().similar(title, boards, SIMILAR_CANDIDATES)
    except SearchUnavailable as error:
        log.warning("search index unavailable, similar ideas from SQL: %s", error)
        candidates = SqlBackend().similar(title, boards, SIMILAR_CANDIDATES)
    return similarity.rank(title, candidates)[:limit]


def strong_match(scored: list[tuple[int, float]]) -> bool:
    """Whether the best of these similar ideas is close enough to stop a post."""
    return bool(scored) and scored[0][1] >= similarity.STRONG


def ping() -> None:
    """Raise SearchUnavailable unless the configured backend answers a trivial query."""
    try:
        backend = get_backend()
    except ValueError as error:  # an unknown SEARCH_BACKEND
        raise SearchUnavailable(str(error)) from error
    backend.ping()
