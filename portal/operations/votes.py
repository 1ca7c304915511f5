from dataclasses import dataclass

from sqlalchemy import func

from portal import workflow
from portal.extensions import db
from portal.models import Idea, SubscriptionLevel, User, Vote
from portal.operations import Conflict, PermissionDenied, ValidationError
from portal.operations.subscriptions import subscribe


@dataclass(frozen=True)
class VoteState:
    """What a voter sees after acting: the count, their weight and their budget."""

    vote_count: int
    my_weight: int
    votes_left: int | None


def budget_used(user, board) -> int:
    """Weight the user has on this board's ideas that still hold budget votes.

    Written as EXISTS so every database starts from the person's few votes, not from
    the board's many ideas (see bench/README.md).
    """
    in_budget = (
        db.select(Idea.id)
        .where(
            Idea.id == Vote.idea_id,
            Idea.board_id == board.id,
            Idea.status.in_(workflow.voting_statuses()),
        )
        .exists()
    )
    return db.session.scalar(
        db.select(func.coalesce(func.sum(Vote.weight), 0)).where(Vote.user_id == user.id, in_budget)
    )


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


def _lock_for_voting(user, idea) -> Idea:
    """Lock the voter, then the idea, so racing votes queue instead of overspending."""
    db.session.execute(db.select(User.id).where(User.id == user.id).with_for_update())
    return db.session.scalars(
        db.select(Idea)
        .where(Idea.id == idea.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def cast_vote(user, idea, weight: int = 1) -> VoteState:
    """Set the user's vote on idea to weight (idempotent); raises OperationError."""
    if not (user.is_authenticated and user.can_write):
        raise PermissionDenied("Your account cannot vote.")
    board = idea.board
    if not 1 <= weight <= board.max_votes_per_idea:
        raise ValidationError(
            {"weight": f"A vote on this board weighs 1 to {board.max_votes_per_idea}."}
        )
    idea = _lock_for_voting(user, idea)
    if not idea.can_vote(user):
        raise Conflict(f"Voting is closed on ideas that are {idea.status_info.label.lower()}.")
    vote = db.session.scalar(db.select(Vote).filter_by(user_id=user.id, idea_id=idea.id))
    old_weight = vote.weight if vote else 0
    if board.has_budget and weight - old_weight > board.votes_per_user - budget_used(user, board):
        raise Conflict(
            "You have no votes left in this board; take one back from another idea first."
        )
    if vote is None:
        db.session.add(Vote(user_id=user.id, idea_id=idea.id, weight=weight))
    else:
        vote.weight = weight
    _apply_delta(idea, weight - old_weight)
    subscribe(user, idea, SubscriptionLevel.STATUS)
    db.session.flush()
    return VoteState(idea.vote_count, weight, votes_left(user, board))


def retract_vote(user, idea) -> VoteState:
    """Take the user's vote back (a no-op without one); raises OperationError."""
    if not (user.is_authenticated and user.can_write):
        raise PermissionDenied("Your account cannot vote.")
    idea = _lock_for_voting(user, idea)
    if not idea.accepts_votes:
        raise Conflict(f"Voting is closed on ideas that are {idea.status_info.label.lower()}.")
    vote = db.session.scalar(db.select(Vote).filter_by(user_id=user.id, idea_id=idea.id))
    if vote is not None:
        _apply_delta(idea, -vote.weight)
        db.session.delete(vote)
    db.session.flush()
    return VoteState(idea.vote_count, 0, votes_left(user, idea.board))


def _apply_delta(idea, delta: int) -> None:
    idea.vote_count += delta
    idea.refresh_trending()
