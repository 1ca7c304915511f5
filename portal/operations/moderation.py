"""Moderators work one review queue: flagged ideas and comments, and posts held for approval.

Every action is audited; hiding tells the author why, citing the community guidelines.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func

from portal.extensions import db
from portal.i18n import gettext as _
from portal.i18n import in_language_of, ngettext
from portal.i18n import lazy_gettext as _l
from portal.markup import clean_text
from portal.models import (
    AuditEntry,
    Comment,
    Flag,
    Idea,
    Notification,
    Role,
    User,
    UTCDateTime,
    utcnow,
)
from portal.operations import PermissionDenied, ValidationError
from portal.operations.audit import record_audit
from portal.operations.comments import comment_visibility_changed
from portal.operations.ideas import HELD_AFTER_EDIT, was_published
from portal.operations.votes import idea_visibility_changed
from portal.operations.webhooks.queueing import queue_idea_created
from portal.search.indexing import queue_reindex

ACTIONS = {
    "dismiss": _l("Dismiss flags"),
    "hide": _l("Hide"),
    "delete": _l("Delete"),
    "restore": _l("Restore"),
    "approve": _l("Approve"),
    "approve_trust": _l("Approve and trust the author"),
    "reject_block": _l("Reject and block the author"),
}
HELD_ONLY = {"approve", "approve_trust", "reject_block"}
QUEUE_SIZE = 100
REASON_MAX = 500


@dataclass
class QueueItem:
    kind: str  # "idea" or "comment"
    target: Idea | Comment
    flags: list[Flag] = field(default_factory=list)
    held_since: datetime | None = None  # an idea held again by its author's edit: then

    @property
    def held(self) -> bool:
        return self.kind == "idea" and self.target.is_held

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.target.id}"

    @property
    def waiting_since(self):
        return min(
            [f.created_at for f in self.flags] or [self.held_since or self.target.created_at]
        )


def review_queue(limit: int = QUEUE_SIZE) -> list[QueueItem]:
    """Flagged items, most flagged first, then held posts, oldest first."""
    open_flags = db.session.scalars(
        db.select(Flag).where(Flag.resolved_at.is_(None)).order_by(Flag.created_at)
    ).all()
    by_target: dict[tuple[str, int], list[Flag]] = {}
    for flag in open_flags:
        key = ("idea", flag.idea_id) if flag.idea_id else ("comment", flag.comment_id)
        by_target.setdefault(key, []).append(flag)
    ideas = _load(Idea, [i for kind, i in by_target if kind == "idea"])
    comments = _load(Comment, [i for kind, i in by_target if kind == "comment"])
    items = [
        QueueItem(kind, (ideas if kind == "idea" else comments)[target_id], flags)
        for (kind, target_id), flags in by_target.items()
        if target_id in (ideas if kind == "idea" else comments)
    ]
    items = [item for item in items if not item.target.is_deleted]
    items.sort(key=lambda item: (-len(item.flags), item.waiting_since))
    flagged = {item.target.id for item in items if item.kind == "idea"}
    # A held idea waits from when it was posted or, held again by its author's edit, from then.
    held_again = (
        db.select(AuditEntry.target_id, func.max(AuditEntry.created_at).label("at"))
        .where(AuditEntry.action == HELD_AFTER_EDIT, AuditEntry.target_type == "idea")
        .group_by(AuditEntry.target_id)
        .subquery()
    )
    since = func.coalesce(held_again.c.at, Idea.created_at, type_=UTCDateTime)
    held = db.session.execute(
        db.select(Idea, since)
        .outerjoin(held_again, held_again.c.target_id == Idea.id)
        .where(Idea.is_held.is_(True), Idea.is_deleted.is_(False))
        .order_by(since, Idea.id)
        .limit(limit)
    ).all()
    items += [QueueItem("idea", idea, held_since=at) for idea, at in held if idea.id not in flagged]
    return items[:limit]


def _load(model, ids) -> dict:
    if not ids:
        return {}
    return {row.id: row for row in db.session.scalars(db.select(model).where(model.id.in_(ids)))}


def author_history(user: User) -> dict[str, int]:
    """What a moderator wants to know about an author at a glance."""
    ideas = db.session.execute(
        db.select(
            db.func.count(Idea.id),
            db.func.sum(db.case((Idea.is_hidden | Idea.is_deleted, 1), else_=0)),
        ).where(Idea.author_id == user.id)
    ).one()
    comments = db.session.scalar(
        db.select(db.func.count(Comment.id)).where(Comment.author_id == user.id)
    )
    return {"ideas": ideas[0] or 0, "removed": int(ideas[1] or 0), "comments": comments or 0}


def moderate(actor, kind: str, target: Idea | Comment, action: str, reason: str = "") -> None:
    """Carry out one queue action on an idea or comment; raises OperationError."""
    reason = _check(actor, kind, target, action, reason)
    before, before_public = _state(target), target.is_public
    author = db.session.get(User, target.author_id)
    if action == "hide":
        target.is_hidden = True
        _tell_author(author, target, kind, reason)
    elif action == "delete":
        target.is_deleted = True
    elif action == "restore":
        target.is_hidden = target.is_deleted = False
    elif action in ("approve", "approve_trust"):
        target.is_held = False
        author.is_trusted = author.is_trusted or action == "approve_trust"
    elif action == "reject_block":
        target.is_deleted, target.is_held = True, False
        author.is_blocked = True  # can_write is False from the author's next request on
    elif action == "dismiss" and before["is_hidden"] and _hidden_by_flags(kind, target):
        target.is_hidden = False  # the flags hid it; the moderator says they were wrong
    after = {**_state(target), "reason": reason}
    if kind == "idea":
        # Before anything flushes the change: a restore locks the voters before the idea.
        after.update(_budget_votes_follow(target, before_public))
        queue_reindex(target)
        if before["is_held"] and not target.is_held and not was_published(target):
            queue_idea_created(target)  # approved: published only now
    else:
        comment_visibility_changed(target, before_public)
    _resolve_flags(kind, target)
    record_audit(actor, f"{kind}.{action}", target, before, after)


def _budget_votes_follow(idea: Idea, was_public: bool) -> dict:
    """Release or count again the idea's budget votes; returns what the audit adds."""
    if taken := idea_visibility_changed(idea, was_public):
        # Spent elsewhere while the idea was not shown: those votes stay where they went.
        return {"votes_taken_back": {str(user_id): weight for user_id, weight in taken.items()}}
    return {}


def _check(actor, kind: str, target, action: str, reason: str) -> str:
    """The cleaned reason, once the action is allowed here; raises OperationError."""
    require_moderator(actor)
    if kind == "comment" and not target.can_moderate(actor):
        raise PermissionDenied(_("Only the product team changes internal notes."))
    if action not in ACTIONS:
        raise ValidationError({"action": _("Choose an action.")})
    if action in HELD_ONLY and not (kind == "idea" and target.is_held):
        raise ValidationError({"action": _("Only posts waiting for approval can be approved.")})
    reason = clean_text(reason or "")[:REASON_MAX]
    if action == "hide" and not reason:
        raise ValidationError({"reason": _("Say which guideline it breaks: the author is told.")})
    return reason


def _state(target) -> dict:
    state = {"is_hidden": target.is_hidden, "is_deleted": target.is_deleted}
    if isinstance(target, Idea):
        state["is_held"] = target.is_held
    return state


def _hidden_by_flags(kind: str, target) -> bool:
    return bool(
        db.session.scalar(
            db.select(AuditEntry.id).where(
                AuditEntry.action == "flags.hide_pending_review",
                AuditEntry.target_type == kind,
                AuditEntry.target_id == target.id,
            )
        )
    )


def _resolve_flags(kind: str, target) -> None:
    column = Flag.idea_id if kind == "idea" else Flag.comment_id
    db.session.execute(
        db.update(Flag)
        .where(column == target.id, Flag.resolved_at.is_(None))
        .values(resolved_at=utcnow())
    )


def _tell_author(author: User, target, kind: str, reason: str) -> None:
    """Tell the author why their idea or comment was hidden. A comment's notice names its
    idea only while the author may still see it (a board made private since): visibility
    holds in what a notice says, as in every other notice."""
    idea = target if isinstance(target, Idea) else db.session.get(Idea, target.idea_id)
    names_idea = kind == "idea" or idea.can_view(author)
    with in_language_of(author):  # stored: written in the author's language
        if kind == "idea":
            text = _(
                "Your idea “%(title)s” was hidden by a moderator: %(reason)s See the community "
                "guidelines.",
                title=idea.title,
                reason=reason,
            )
        elif names_idea:
            text = _(
                "Your comment on “%(title)s” was hidden by a moderator: %(reason)s See the "
                "community guidelines.",
                title=idea.title,
                reason=reason,
            )
        else:
            text = _(
                "Your comment was hidden by a moderator: %(reason)s See the community guidelines.",
                reason=reason,
            )
    db.session.add(Notification(user_id=author.id, idea_id=idea.id if names_idea else None,
                                kind="moderation", text=text[:300]))  # fmt: skip


WAIT_LIMIT = timedelta(hours=48)
REMIND_EVERY = timedelta(hours=24)


def remind_moderators() -> int:
    """Tell every moderator, at most once a day, when queued items have waited over 48
    hours; returns how many were told. The caller commits."""
    now = utcnow()
    late = [item for item in review_queue() if now - item.waiting_since > WAIT_LIMIT]
    if not late:
        return 0
    moderators = db.session.scalars(
        db.select(User).where(
            User.is_staff,
            User.deleted_at.is_(None),
            ~db.select(Notification.id)
            .where(
                Notification.user_id == User.id,
                Notification.kind == "queue_waiting",
                Notification.created_at > now - REMIND_EVERY,
            )
            .exists(),
        )
    ).all()
    db.session.add_all(
        Notification(user_id=user.id, kind="queue_waiting", text=_queue_waiting(user, late))
        for user in moderators
    )
    return len(moderators)


def _queue_waiting(moderator: User, late: list[QueueItem]) -> str:
    with in_language_of(moderator):  # stored: written in the moderator's language
        return ngettext(
            "%(num)d item in the review queue waited over 48 hours",
            "%(num)d items in the review queue waited over 48 hours",
            len(late),
        )


def require_moderator(actor) -> None:
    if not (actor.is_authenticated and actor.has_role(Role.MODERATOR)):
        raise PermissionDenied(_("Only moderators do this."))


def lock_comments(actor, idea: Idea, locked: bool) -> None:
    """Stop (or allow again) new comments on an idea; voting stays open."""
    require_moderator(actor)
    before = {"comments_locked": idea.comments_locked}
    idea.comments_locked = locked
    record_audit(actor, "idea.lock_comments", idea, before, {"comments_locked": locked})


def pin_comment(actor, comment: Comment, pinned: bool) -> None:
    """Keep a staff comment at the top of the idea's timeline."""
    require_moderator(actor)
    if not comment.can_moderate(actor):
        raise PermissionDenied(_("Only the product team changes internal notes."))
    if pinned and not comment.author.is_staff:
        raise ValidationError({"pin": _("Only comments by the team can be pinned.")})
    before = {"is_pinned": comment.is_pinned}
    comment.is_pinned = pinned
    record_audit(actor, "comment.pin", comment, before, {"is_pinned": pinned})


def block_user(actor, user: User, blocked: bool) -> None:
    """A blocked customer reads but writes nothing, from their next request on."""
    require_moderator(actor)
    if user.is_staff:
        raise ValidationError({"block": _("Staff are not blocked; change their role first.")})
    before = {"is_blocked": user.is_blocked}
    user.is_blocked = blocked
    record_audit(actor, "user.block" if blocked else "user.unblock", user, before,
                 {"is_blocked": blocked})  # fmt: skip
