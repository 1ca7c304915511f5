"""The reads that pages and the API share: board listings, the boards and ideas a person may
see, their votes and the latest status changes. Below the views and the API; never writes."""

from flask import abort
from flask_login import current_user
from sqlalchemy import func
from sqlalchemy.orm import joinedload

from portal import statuses, workflow
from portal.extensions import db
from portal.i18n import lazy_gettext as _l
from portal.models import Board, Idea, StatusChange, Vote
from portal.workflow import Phase

# The longest search text or typed title read from a request (pages and API alike).
QUERY_MAX = 200

SORTS = {
    "trending": (_l("Trending"), Idea.trending),
    "top": (_l("Top"), Idea.vote_count),
    "new": (_l("New"), Idea.created_at),
    "updated": (_l("Recently updated"), Idea.updated_at),
    "comments": (_l("Most discussed"), Idea.comment_count),
}


# Board filters that stand for several statuses. Their keys hold a hyphen, which no status
# slug may (portal/operations/workflow_admin.py), so an admin's own status never hides one.
OPEN_FOR_VOTES = "open-for-votes"
CLOSED = "closed-for-votes"
STATUS_GROUPS = {
    OPEN_FOR_VOTES: _l("Open for votes"),
    CLOSED: _l("Closed"),
}


def listed_ideas():
    """Ideas anyone may see in a list: not hidden, deleted, held or merged away."""
    return db.select(Idea).where(Idea.public_clause())


def board_ideas(board, filters):
    """A board's listed ideas narrowed by filters (status, category), in no order."""
    query = listed_ideas().where(Idea.board_id == board.id, status_clause(filters["status"]))
    if filters["category"]:
        category = next(c for c in board.categories if c.slug == filters["category"])
        query = query.where(Idea.category_id == category.id)
    return query


def board_query(board, filters):
    """A board's listed ideas narrowed and sorted by filters (sort, status, category)."""
    column = SORTS[filters["sort"]][1]
    return (
        board_ideas(board, filters)
        .options(joinedload(Idea.category), joinedload(Idea.author))
        .order_by(column.desc(), Idea.id.desc())
    )


def has_ideas(board, filters) -> bool:
    """Whether any listed idea of the board passes the filters (status, category)."""
    query = board_ideas(board, filters).with_only_columns(Idea.id).limit(1)
    return db.session.scalar(query) is not None


def status_clause(status: str):
    """The SQL for a board's status filter: a status slug, a group of STATUS_GROUPS, or ""
    for every status but `duplicate` (merged ideas live on in their original)."""
    voting = statuses.voting_statuses()
    if status == OPEN_FOR_VOTES:
        return Idea.status.in_(voting)
    if status == CLOSED:
        return Idea.status.not_in([*voting, workflow.DUPLICATE])
    if status:
        return Idea.status == status
    return Idea.status != workflow.DUPLICATE


def phase_tallies(boards) -> dict[int, dict[str, int]]:
    """Each board's listed ideas counted by phase ("open", "active", "done", "declined"),
    by board id, in one grouped query; merged duplicates are not counted."""
    rows = db.session.execute(
        listed_ideas()
        .with_only_columns(Idea.board_id, Idea.status, func.count())
        .where(Idea.board_id.in_([board.id for board in boards]))
        .where(Idea.status != workflow.DUPLICATE)
        .group_by(Idea.board_id, Idea.status)
    )
    tallies = {board.id: dict.fromkeys(Phase, 0) for board in boards}
    for board_id, status, count in rows:
        tallies[board_id][statuses.get_status(status).phase] += count
    return tallies


def visible_boards() -> list[Board]:
    """The boards the current user may see: private ones only for staff."""
    query = db.select(Board).order_by(Board.position, Board.name)
    if not (current_user.is_authenticated and current_user.is_staff):
        query = query.filter_by(is_private=False)
    return db.session.scalars(query).all()


def get_idea(number: int) -> Idea:
    """Return the idea the current user may see; 404 otherwise."""
    idea = db.session.scalar(
        db.select(Idea)
        .options(joinedload(Idea.board), joinedload(Idea.author), joinedload(Idea.category))
        .filter_by(number=number)
    )
    if idea is None or not idea.can_view(current_user):
        abort(404)
    return idea


def ideas_by_number(numbers) -> dict[int, Idea]:
    """The ideas with these numbers that the current user may see, keyed by number."""
    ideas = db.session.scalars(
        db.select(Idea)
        .options(joinedload(Idea.board), joinedload(Idea.category), joinedload(Idea.author))
        .where(Idea.number.in_(numbers))
    ).all()
    return {idea.number: idea for idea in ideas if idea.can_view(current_user)}


def my_votes(user, ideas) -> dict[int, int]:
    """The weight of the user's vote on each of these ideas they voted for, by idea id."""
    if not user.is_authenticated or not ideas:
        return {}
    rows = db.session.execute(
        db.select(Vote.idea_id, Vote.weight).where(
            Vote.user_id == user.id, Vote.idea_id.in_([i.id for i in ideas])
        )
    )
    return dict(rows.all())


def latest_status_changes(ideas, answered_only: bool = False) -> dict[int, StatusChange]:
    """Each idea's newest status change (only those with a public response, if asked)."""
    query = (
        db.select(StatusChange)
        .where(StatusChange.idea_id.in_([idea.id for idea in ideas]))
        .order_by(StatusChange.created_at)
    )
    if answered_only:
        query = query.where(StatusChange.response != "")
    return {change.idea_id: change for change in db.session.scalars(query)}
