"""Keeping the search index in step with the ideas.

Index changes are queued as SearchTask rows in the same transaction as the change and
applied after commit; a failed apply leaves the rows for the next try (a later request or
the worker). An index inside the database (SQLite FTS5) is written in the change's own
transaction instead. Rebuilds and drift repair start from the database.
"""

import logging

from flask import current_app, g, has_request_context
from sqlalchemy.orm import joinedload

from portal.database import discard, unit_of_work
from portal.extensions import db
from portal.models import Idea, SearchTask
from portal.search import get_backend
from portal.search.base import SearchUnavailable

log = logging.getLogger("portal.search")  # the package's, as before indexing.py split off

APPLY_BATCH = 500


def idea_document(idea: Idea) -> dict | None:
    """What the index holds for an idea, or None when it must not be found at all."""
    if not idea.is_public:
        return None
    return {
        "number": idea.number,
        "board": idea.board.slug,
        "status": idea.status,
        "category": idea.category.name if idea.category else "",
        "title": idea.title,
        "body": idea.body,
        "language": idea_language(idea.language),
        "stamp": index_stamp(idea.updated_at, idea.status, idea.language),
    }


def idea_language(code: str | None) -> str:
    """The language an idea's words are stemmed in: "de", else "en"."""
    return "de" if code == "de" else "en"


def index_stamp(updated_at, status: str, language: str | None) -> str:
    """Changes whenever anything the index holds changes: used to find drift."""
    return f"{updated_at.timestamp():.6f}:{status}:{idea_language(language)}"


def queue_reindex(idea: Idea) -> None:
    """Record, in the current transaction, that idea's index entry must be refreshed.

    An index inside the database (SQLite FTS5) is updated right here, in the change's
    own transaction; if that fails, the change is queued like any other.
    """
    db.session.flush()
    backend = get_backend()
    if getattr(backend, "transactional", False):
        try:
            with db.session.begin_nested(), backend.writing() as writer:
                write_entry(writer, idea)
            return
        except Exception:  # a missing or damaged index: the worker rebuilds it
            log.warning("search index not updated in the transaction; queued", exc_info=True)
    db.session.add(SearchTask(idea_id=idea.id))
    if has_request_context():
        g.search_tasks_queued = True


def write_entry(writer, idea: Idea) -> None:
    """Put idea's current state into the index, or take it out where it must not be found."""
    document = idea_document(idea)
    if document is None:
        writer.delete(idea.number)
    else:
        writer.upsert(document)


def apply_after_response(response):
    """Apply this request's index updates: the view has committed by now.

    Only posts and edits queue updates (votes do not), so the few milliseconds this adds
    fall on rare requests; anything that fails stays queued for the worker.
    """
    if g.pop("search_tasks_queued", False) and current_app.config["SEARCH_APPLY_IN_REQUEST"]:
        try:
            apply_pending()
        except Exception:  # never the person's problem: the worker retries
            discard()
            log.exception("applying search updates failed; they stay queued")
    return response


def load_ideas(idea_ids) -> list[Idea]:
    return db.session.scalars(
        db.select(Idea)
        .options(joinedload(Idea.board), joinedload(Idea.category))
        .where(Idea.id.in_(idea_ids))
    ).all()


def apply_pending(limit: int = APPLY_BATCH) -> int:
    """Apply queued index updates; returns how many were applied (0 if the index is busy)."""
    backend = get_backend()
    if not backend.needs_tasks:
        return _discard_tasks(limit)
    try:
        with unit_of_work():  # the tasks go once the index has taken them, or stay queued
            with backend.writing() as writer:
                # Read under the writer lock, so an older state never overwrites a newer one.
                tasks = db.session.scalars(
                    db.select(SearchTask).order_by(SearchTask.id).limit(limit)
                ).all()
                if not tasks:
                    return 0
                ideas = {idea.id: idea for idea in load_ideas({t.idea_id for t in tasks})}
                for idea in ideas.values():
                    write_entry(writer, idea)
                task_ids = [t.id for t in tasks]
            db.session.execute(db.delete(SearchTask).where(SearchTask.id.in_(task_ids)))
    except SearchUnavailable as error:
        log.info("search index busy or unavailable, updates stay queued: %s", error)
        return 0
    return len(task_ids)


@unit_of_work()
def _discard_tasks(limit: int) -> int:
    """Backends that read the database directly need no queue."""
    result = db.session.execute(
        db.delete(SearchTask).where(
            SearchTask.id.in_(db.select(SearchTask.id).order_by(SearchTask.id).limit(limit))
        )
    )
    return result.rowcount


def indexable_ideas():
    """Every idea the index should hold, in batches, for rebuilds and drift checks."""
    query = (
        db.select(Idea)
        .options(joinedload(Idea.board), joinedload(Idea.category))
        .where(Idea.public_clause())
        .order_by(Idea.id)
        .execution_options(yield_per=1000)
    )
    for idea in db.session.scalars(query):
        yield idea_document(idea)


def reindex_all() -> int:
    """Build a new index from the database, swap it in, then catch up; returns its size."""
    count = get_backend().rebuild(indexable_ideas())
    # Changes made while the new index was built went to the old one: find and apply them.
    repair_drift()
    while apply_pending():
        pass
    return count


def keep_index_healthy() -> None:
    """Rebuild the index from the database when it is missing or unreadable."""
    backend = get_backend()
    try:
        backend.check()
    except SearchUnavailable as error:
        log.warning("search index unusable (%s): rebuilding it from the database", error)
        reindex_all()


@unit_of_work()
def repair_drift() -> int:
    """Queue every idea whose index entry differs from the database; returns how many."""
    backend = get_backend()
    if not backend.needs_tasks:
        return 0
    try:
        indexed = backend.stamps()
    except SearchUnavailable:
        log.warning("search index unreadable: rebuilding it from the database")
        return reindex_all()
    rows = db.session.execute(
        db.select(Idea.id, Idea.number, Idea.updated_at, Idea.status, Idea.language).where(
            Idea.public_clause()
        )
    ).all()
    wanted = {row.number: index_stamp(row.updated_at, row.status, row.language) for row in rows}
    stale = [row.id for row in rows if indexed.get(row.number) != wanted[row.number]]
    unwanted = set(indexed) - set(wanted)
    if unwanted:
        stale += db.session.scalars(db.select(Idea.id).where(Idea.number.in_(unwanted))).all()
    db.session.add_all(SearchTask(idea_id=idea_id) for idea_id in stale)
    return len(stale)
