"""Merging a duplicate into its original, and undoing it exactly (SPEC section 3).

A merge moves the duplicate's votes (someone who voted for both keeps one vote, the larger
weight) and followers to the original, and records every change so that the undo puts
each vote, weight and subscription back.

Budgets hold throughout (docs/decisions/0006-merges-and-reopening-respect-vote-budgets.md):
a moved vote weighs at most what the original's board allows per idea and what its voter
has left there; a vote with no room left stays with the duplicate's record, and the undo
gives it back. What the undo gives back is again held to the duplicate's board budget:
votes the person spent elsewhere meanwhile stay where they went.
"""

from datetime import datetime

from portal import statuses, workflow
from portal.extensions import db
from portal.i18n import gettext as _
from portal.models import Idea, Merge, Subscription, User, Vote, utcnow
from portal.notifications import queue_fan_out
from portal.operations import Conflict
from portal.operations.audit import record_audit
from portal.operations.moderation import require_moderator
from portal.operations.subscriptions import _RANK
from portal.operations.votes import (
    budget_room,
    fit_votes_to_budgets,
    lock_voters,
    recount_votes,
    voter_ids,
)
from portal.operations.webhooks.queueing import queue_idea_merged
from portal.search.indexing import queue_reindex


def merge_ideas(actor, source: Idea, target: Idea) -> Merge:
    """Merge source (the duplicate) into target; raises OperationError."""
    require_moderator(actor)
    if source.id == target.id:
        raise Conflict(_("An idea cannot be merged into itself."))
    if source.status == workflow.DUPLICATE:
        raise Conflict(_("#%(number)d is already merged into another idea.", number=source.number))
    if target.status == workflow.DUPLICATE or not target.is_public:
        raise Conflict(
            _("#%(number)d cannot take a merge: choose the original idea.", number=target.number)
        )
    if target.board.is_private and not source.board.is_private:
        # Its voters and followers would move to an idea they may not see.
        raise Conflict(
            _("#%(number)d is on a private board: a public idea cannot be merged into it.",
              number=target.number)
        )  # fmt: skip
    lock_voters(voter_ids(source, target))
    record = {"status": source.status, "moved_votes": [], "kept_votes": [],
              "trimmed_votes": [], "dropped_votes": [],
              "new_subscriptions": [], "raised_subscriptions": []}  # fmt: skip
    # A duplicate holds no budget votes: what its votes leave free may go to the original.
    source.status, source.merged_into_id = workflow.DUPLICATE, target.id
    source.updated_at = source.status_changed_at = utcnow()
    db.session.flush()
    _move_votes(source, target, record)
    _move_followers(source, target, record)
    merge = Merge(source_id=source.id, target_id=target.id, actor_id=actor.id, record=record)
    db.session.add(merge)
    db.session.flush()
    _recount(source, target)
    record_audit(actor, "idea.merge", source, {"status": record["status"]},
                 {"status": workflow.DUPLICATE, "merged_into": target.number})  # fmt: skip
    queue_fan_out("idea_merged", merge_id=merge.id)
    queue_idea_merged(source, target)
    return merge


def _move_votes(source: Idea, target: Idea, record: dict) -> None:
    kept = {v.user_id: v for v in db.session.scalars(db.select(Vote).filter_by(idea_id=target.id))}
    for vote in db.session.scalars(db.select(Vote).filter_by(idea_id=source.id)).all():
        weight = _weight_allowed(vote, target, kept.get(vote.user_id))
        if (original := kept.get(vote.user_id)) is not None:
            # Voted for both: one vote, the larger weight; the duplicate's vote is remembered.
            record["kept_votes"].append(
                [original.id, original.weight, vote.weight, vote.created_at.isoformat()]
            )
            original.weight = max(original.weight, weight)
            db.session.delete(vote)
        elif weight == 0:  # no budget left on the original's board: the undo gives it back
            record["dropped_votes"].append([vote.user_id, vote.weight, vote.created_at.isoformat()])
            db.session.delete(vote)
        else:
            if weight != vote.weight:
                record["trimmed_votes"].append([vote.id, vote.weight])
                vote.weight = weight
            vote.idea_id = target.id
            record["moved_votes"].append(vote.id)
    db.session.flush()


def _weight_allowed(vote: Vote, target: Idea, original: Vote | None) -> int:
    """The most of vote's weight the target may take: its board's weight per idea, and no
    more than the voter has left in that board's budget (a kept vote may grow into it)."""
    weight = min(vote.weight, target.board.max_votes_per_idea)
    room = budget_room(vote.user_id, target)
    if room is None:
        return weight
    return min(weight, room + (original.weight if original is not None else 0))


def _move_followers(source: Idea, target: Idea, record: dict) -> None:
    following = {
        s.user_id: s
        for s in db.session.scalars(db.select(Subscription).filter_by(idea_id=target.id))
    }
    for subscription in db.session.scalars(
        db.select(Subscription).filter_by(idea_id=source.id, muted=False)
    ):
        existing = following.get(subscription.user_id)
        if existing is None:
            new = Subscription(user_id=subscription.user_id, idea_id=target.id,
                               level=subscription.level)  # fmt: skip
            db.session.add(new)
            db.session.flush()
            record["new_subscriptions"].append(new.id)
        elif not existing.muted and _RANK[subscription.level] > _RANK[existing.level]:
            record["raised_subscriptions"].append([existing.id, existing.level])
            existing.level = subscription.level


def _recount(*ideas: Idea) -> None:
    """vote_count is always the sum of the idea's vote weights."""
    for idea in ideas:
        recount_votes(idea)
        idea.refresh_trending()
        queue_reindex(idea)


def undo_merge(actor, merge: Merge) -> None:
    """Put every vote, weight and subscription back where the merge found it, as far as
    the duplicate's budget allows; raises OperationError."""
    require_moderator(actor)
    if merge.undone_at is not None:
        raise Conflict(_("This merge was already undone."))
    source, target, record = merge.source, merge.target, merge.record
    if target.status == workflow.DUPLICATE:
        # Its votes moved on with it: undo the later merge first, and everything is found.
        raise Conflict(
            _(
                "#%(number)d was merged into another idea since: undo that first.",
                number=target.number,
            )
        )
    lock_voters(voter_ids(target) + [user_id for user_id, *_ in record.get("dropped_votes", [])])
    _give_votes_back(source, target, record)
    db.session.execute(
        db.delete(Subscription).where(Subscription.id.in_(record["new_subscriptions"]))
    )
    for subscription_id, level in record["raised_subscriptions"]:
        db.session.get(Subscription, subscription_id).level = level
    # Back to its status before the merge, unless an admin has removed that one since.
    status = record["status"] if record["status"] in statuses.STATUSES else workflow.OPEN
    source.status, source.merged_into_id = status, None
    source.updated_at = source.status_changed_at = utcnow()
    merge.undone_at = utcnow()
    after = {"status": status}
    if taken := fit_votes_to_budgets(source):
        after["votes_taken_back"] = {str(user_id): weight for user_id, weight in taken.items()}
    db.session.flush()
    _recount(source, target)
    record_audit(actor, "idea.unmerge", source, {"merged_into": target.number}, after)


def _give_votes_back(source: Idea, target: Idea, record: dict) -> None:
    """Every vote the merge moved, kept or dropped goes back to the duplicate, unless its
    voter has taken it back from the original since (then that choice stands)."""
    trimmed = dict(record.get("trimmed_votes", []))
    cap = source.board.max_votes_per_idea
    returned = []  # (user_id, weight, created_at) of votes to make again
    for vote_id in record["moved_votes"]:
        vote = db.session.get(Vote, vote_id)
        if vote is not None and vote.idea_id == target.id:
            vote.idea_id = source.id
            vote.weight = min(trimmed.get(vote_id, vote.weight), cap)
    for vote_id, old_weight, source_weight, created_at in record["kept_votes"]:
        original = db.session.get(Vote, vote_id)
        if original is None or original.idea_id != target.id:
            continue
        # Back to its weight before the merge, or lower if the person lowered it since.
        original.weight = min(original.weight, old_weight)
        returned.append((original.user_id, source_weight, created_at))
    returned += record.get("dropped_votes", [])
    gone = _deleted_accounts([user_id for user_id, *_ in returned])
    for user_id, weight, created_at in returned:
        if user_id in gone:  # a deleted account's votes went with it
            continue
        db.session.add(Vote(user_id=user_id, idea_id=source.id, weight=min(weight, cap),
                            created_at=_parse(created_at)))  # fmt: skip
    db.session.flush()


def _deleted_accounts(user_ids) -> set[int]:
    return set(
        db.session.scalars(
            db.select(User.id).where(User.id.in_(user_ids), User.deleted_at.is_not(None))
        )
    )


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)
