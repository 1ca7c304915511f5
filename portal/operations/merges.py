"""Merging a duplicate into its original, and undoing it exactly (SPEC section 3).

A merge moves the duplicate's votes (someone who voted for both keeps one vote, the larger
weight) and followers to the original, and records every change so that the undo puts
each vote, weight and subscription back.
"""

from datetime import datetime

from portal import workflow
from portal.extensions import db
from portal.models import Idea, Merge, Subscription, Vote, utcnow
from portal.notifications import queue_fan_out
from portal.operations import Conflict
from portal.operations.audit import record_audit
from portal.operations.moderation import require_moderator
from portal.operations.subscriptions import _RANK
from portal.operations.webhooks import queue_idea_merged
from portal.search import queue_reindex


def merge_ideas(actor, source: Idea, target: Idea) -> Merge:
    """Merge source (the duplicate) into target; raises OperationError."""
    require_moderator(actor)
    if source.id == target.id:
        raise Conflict("An idea cannot be merged into itself.")
    if source.status == workflow.DUPLICATE:
        raise Conflict(f"#{source.number} is already merged into another idea.")
    if target.status == workflow.DUPLICATE or not target.is_public:
        raise Conflict(f"#{target.number} cannot take a merge: choose the original idea.")
    record = {"status": source.status, "moved_votes": [], "kept_votes": [],
              "new_subscriptions": [], "raised_subscriptions": []}  # fmt: skip
    _move_votes(source, target, record)
    _move_followers(source, target, record)
    source.status, source.merged_into_id = workflow.DUPLICATE, target.id
    source.updated_at = source.status_changed_at = utcnow()
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
        if (original := kept.get(vote.user_id)) is None:
            vote.idea_id = target.id
            record["moved_votes"].append(vote.id)
            continue
        # Voted for both: one vote, the larger weight; the duplicate's vote is remembered.
        record["kept_votes"].append(
            [original.id, original.weight, vote.weight, vote.created_at.isoformat()]
        )
        original.weight = max(original.weight, vote.weight)
        db.session.delete(vote)
    db.session.flush()


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
        idea.vote_count = db.session.scalar(
            db.select(db.func.coalesce(db.func.sum(Vote.weight), 0)).filter_by(idea_id=idea.id)
        )
        idea.refresh_trending()
        queue_reindex(idea)


def undo_merge(actor, merge: Merge) -> None:
    """Put every vote, weight and subscription back where the merge found it."""
    require_moderator(actor)
    if merge.undone_at is not None:
        raise Conflict("This merge was already undone.")
    source, target, record = merge.source, merge.target, merge.record
    db.session.execute(
        db.update(Vote).where(Vote.id.in_(record["moved_votes"])).values(idea_id=source.id)
    )
    for vote_id, old_weight, source_weight, created_at in record["kept_votes"]:
        original = db.session.get(Vote, vote_id)
        original.weight = old_weight
        db.session.add(Vote(user_id=original.user_id, idea_id=source.id, weight=source_weight,
                            created_at=_parse(created_at)))  # fmt: skip
    db.session.execute(
        db.delete(Subscription).where(Subscription.id.in_(record["new_subscriptions"]))
    )
    for subscription_id, level in record["raised_subscriptions"]:
        db.session.get(Subscription, subscription_id).level = level
    source.status, source.merged_into_id = record["status"], None
    source.updated_at = source.status_changed_at = utcnow()
    merge.undone_at = utcnow()
    db.session.flush()
    _recount(source, target)
    record_audit(actor, "idea.unmerge", source, {"merged_into": target.number},
                 {"status": record["status"]})  # fmt: skip


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)
