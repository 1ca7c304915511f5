from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value

from portal import statuses
from portal.database import begin_writing
from portal.extensions import db
from portal.i18n import gettext as _
from portal.i18n import language
from portal.models import Idea, Subscription, SubscriptionLevel, User, Vote, trending_score, utcnow
from portal.notifications import queue_fan_out, votes_not_back
from portal.operations import Conflict, PermissionDenied, ValidationError

# A vote is a few plain statements on the tables, not ORM loads and flushes: on SQLite it
# runs while holding the database's one write lock (bench/README.md).
_user, _idea, _vote, _subscription = (m.__table__ for m in (User, Idea, Vote, Subscription))


@dataclass(frozen=True)
class VoteState:
    """What a voter sees after acting: the count, their weight and their budget."""

    vote_count: int
    my_weight: int
    votes_left: int | None


def budget_used(user, board) -> int:
    """Weight the user has on this board's ideas that still hold budget votes."""
    return _budget_used(user.id, board)


def _budget_used(user_id: int, board) -> int:
    # EXISTS, so every database starts from the person's few votes, not from the board's
    # many ideas (see bench/README.md).
    in_budget = (
        db.select(Idea.id)
        .where(
            Idea.id == Vote.idea_id,
            Idea.board_id == board.id,
            Idea.status.in_(statuses.voting_statuses()),
            Idea.public_clause(),
        )
        .exists()
    )
    return db.session.scalar(
        db.select(func.coalesce(func.sum(Vote.weight), 0)).where(Vote.user_id == user_id, in_budget)
    )


def takes_budget_votes(idea) -> bool:
    """On a board with a budget, in a status that takes votes: shown, its votes count."""
    return idea.board.has_budget and statuses.accepts_votes(idea.status)


def holds_budget_votes(idea) -> bool:
    """Whether votes on idea use up its voters' budget: it takes budget votes and is public
    (a hidden, deleted or held idea gives them back)."""
    return takes_budget_votes(idea) and idea.is_public


def budget_room(user_id: int, idea) -> int | None:
    """Budget votes user_id may still add to idea, or None when nothing limits them (votes
    on it hold no budget votes: holds_budget_votes)."""
    if not holds_budget_votes(idea):
        return None
    return max(idea.board.votes_per_user - _budget_used(user_id, idea.board), 0)


def lock_voters(user_ids) -> None:
    """Lock these people's rows (PostgreSQL; the write lock on SQLite), in id order, as
    cast_vote locks one: their votes elsewhere wait, so a budget checked here stays true.
    Call it before the first write of the operation."""
    begin_writing()
    ids = sorted(set(user_ids))
    if ids and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            db.select(_user.c.id)
            .where(_user.c.id.in_(ids))
            .order_by(_user.c.id)
            .with_for_update(key_share=True)
        )


def voter_ids(*ideas) -> list[int]:
    return list(
        db.session.scalars(
            db.select(Vote.user_id).where(Vote.idea_id.in_([idea.id for idea in ideas])).distinct()
        )
    )


def recount_votes(idea) -> None:
    """Set idea's vote_count to the sum of its votes' weights, as it must always be."""
    idea.vote_count = db.session.scalar(
        db.select(func.coalesce(func.sum(Vote.weight), 0)).filter_by(idea_id=idea.id)
    )


def fit_votes_to_budgets(idea) -> dict[int, int]:
    """Where idea holds budget votes again (reopened, restored, approved, or given back by
    an undone merge), take back from its votes what each voter has spent on the board's
    other ideas since; returns {user_id: weight taken back}. The idea's vote_count is the
    caller's to recount.
    """
    board = idea.board
    if not holds_budget_votes(idea):
        return {}
    db.session.flush()
    on_this_idea = db.select(Vote.user_id).where(Vote.idea_id == idea.id)
    overspent = db.session.execute(
        db.select(Vote.user_id, func.sum(Vote.weight))
        .join(Idea, Idea.id == Vote.idea_id)
        .where(
            Idea.board_id == board.id,
            Idea.status.in_(statuses.voting_statuses()),
            Idea.public_clause(),
            Vote.user_id.in_(on_this_idea),
        )
        .group_by(Vote.user_id)
        .having(func.sum(Vote.weight) > board.votes_per_user)
    ).all()
    taken = {}
    for user_id, used in overspent:
        vote = db.session.scalar(db.select(Vote).filter_by(user_id=user_id, idea_id=idea.id))
        over = used - board.votes_per_user
        taken[user_id] = min(over, vote.weight)
        if over >= vote.weight:
            db.session.delete(vote)
        else:
            vote.weight -= over
    db.session.flush()
    if taken:
        votes_not_back(idea, taken)
    return taken


def idea_visibility_changed(idea, was_public: bool) -> dict[int, int]:
    """Budget votes count only on public ideas: follow a hide, delete or hold (its voters
    have their votes back, as when it closes) or a restore or approval (they count again
    as far as each budget allows, as when it reopens). Returns {user_id: weight taken back}.

    Call it as soon as the idea's flags are set, before anything flushes them: a restore
    locks the voters before the idea's row is written, in cast_vote's order.
    """
    if was_public == idea.is_public:
        return {}
    with db.session.no_autoflush:  # the voters are locked first, then the idea's row written
        if not takes_budget_votes(idea):
            return {}
        if not idea.is_public:
            queue_fan_out("idea_withdrawn", idea_id=idea.id)  # thousands of voters: the worker
            return {}
        lock_voters(voter_ids(idea))
    taken = fit_votes_to_budgets(idea)
    if taken:
        recount_votes(idea)
        idea.refresh_trending()
    return taken


def votes_left(user, board) -> int | None:
    """Budget votes left on board, or None when the board has no budget."""
    if not board.has_budget or not user.is_authenticated:
        return None
    return max(board.votes_per_user - budget_used(user, board), 0)


def my_weight(user, idea) -> int:
    if not user.is_authenticated:
        return 0
    return (
        db.session.scalar(db.select(Vote.weight).filter_by(user_id=user.id, idea_id=idea.id)) or 0
    )


def vote_state(user, idea) -> VoteState:
    return VoteState(idea.vote_count, my_weight(user, idea), votes_left(user, idea.board))


def cast_vote(user, idea, weight: int = 1) -> VoteState:
    """Set the user's vote on idea to weight (idempotent); raises OperationError."""
    _check_voter(user)
    board = idea.board
    if not 1 <= weight <= board.max_votes_per_idea:
        raise ValidationError(
            {"weight": _("A vote on this board weighs 1 to %(max)d.", max=board.max_votes_per_idea)}
        )
    if not (statuses.accepts_votes(idea.status) and idea.is_public):
        raise _closed(idea.status)
    row = _lock_for_voting(user, idea)
    if not (statuses.accepts_votes(row.status) and row.is_public):
        raise _closed(row.status)
    old_weight = my_weight(user, idea)
    used = None
    if board.has_budget:
        used = budget_used(user, board)
        if weight - old_weight > board.votes_per_user - used:
            raise Conflict(
                _("You have no votes left in this board; take one back from another idea first.")
            )
        used += weight - old_weight
    if weight != old_weight:
        db.session.execute(
            _insert(_vote)
            .values(user_id=user.id, idea_id=idea.id, weight=weight, created_at=utcnow())
            .on_conflict_do_update(index_elements=["user_id", "idea_id"], set_={"weight": weight})
        )
    vote_count = _apply_delta(idea, row, weight - old_weight)
    # Follow at status level; an existing subscription, muted or higher, stays as it is.
    db.session.execute(
        _insert(_subscription)
        .values(user_id=user.id, idea_id=idea.id, level=SubscriptionLevel.STATUS)
        .on_conflict_do_nothing(index_elements=["user_id", "idea_id"])
    )
    left = None if used is None else max(board.votes_per_user - used, 0)
    return VoteState(vote_count, weight, left)


def retract_vote(user, idea) -> VoteState:
    """Take the user's vote back (a no-op without one); raises OperationError."""
    _check_voter(user)
    if not statuses.accepts_votes(idea.status):
        raise _closed(idea.status)
    row = _lock_for_voting(user, idea)
    if not statuses.accepts_votes(row.status):
        raise _closed(row.status)
    old_weight = db.session.scalar(
        db.delete(_vote)
        .where(_vote.c.user_id == user.id, _vote.c.idea_id == idea.id)
        .returning(_vote.c.weight)
    )
    vote_count = _apply_delta(idea, row, -(old_weight or 0))
    return VoteState(vote_count, 0, votes_left(user, idea.board))


def _check_voter(user) -> None:
    if not (user.is_authenticated and user.can_write):
        raise PermissionDenied(_("Your account cannot vote."))


def _closed(status: str) -> Conflict:
    label = str(statuses.get_status(status).label)
    if language() == "en":  # "ideas that are completed"; German keeps its capitals
        label = label.lower()
    return Conflict(_("Voting is closed on ideas that are %(status)s.", status=label))


def _lock_for_voting(user, idea):
    """Take the write lock (SQLite), or lock the voter's row and then the idea's
    (PostgreSQL), so that racing votes of one person queue instead of overspending.

    Returns the idea's row as it is now, with is_public; raises PermissionDenied when the
    voter was blocked since the request loaded them.
    """
    begin_writing()
    db.session.flush()  # pending ORM changes go before these statements
    voter = db.session.execute(
        db.select(_user.c.is_blocked, _user.c.deleted_at)
        .where(_user.c.id == user.id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE: rows referring to it may insert
    ).one()
    if voter.is_blocked or voter.deleted_at is not None:
        raise PermissionDenied(_("Your account cannot vote."))
    public = db.not_(db.or_(_idea.c.is_hidden, _idea.c.is_deleted, _idea.c.is_held))
    return db.session.execute(
        db.select(
            _idea.c.status,
            _idea.c.vote_count,
            _idea.c.comment_count,
            _idea.c.created_at,
            public.label("is_public"),
        )
        .where(_idea.c.id == idea.id)
        .with_for_update()
    ).one()


def _apply_delta(idea, row, delta: int) -> int:
    """Add delta to the locked idea's count and recompute trending; returns the new count.

    The loaded object is told the stored values, so the answer reads nothing back.
    """
    stored = {"status": row.status, "vote_count": row.vote_count + delta,
              "comment_count": row.comment_count}  # fmt: skip
    if delta:
        stored["trending"] = trending_score(stored["vote_count"], row.comment_count, row.created_at)
        db.session.execute(
            db.update(_idea)
            .where(_idea.c.id == idea.id)
            .values(vote_count=_idea.c.vote_count + delta, trending=stored["trending"])
        )
    for name, value in stored.items():
        set_committed_value(idea, name, value)
    return stored["vote_count"]


def _insert(table):
    """INSERT with the ON CONFLICT clauses that PostgreSQL and SQLite share."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
