"""People flag ideas and comments that break the rules; enough flags hide an item until a
moderator looks (SPEC section 2, issue 5)."""

from datetime import timedelta

from portal.extensions import db
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.markup import clean_text
from portal.models import Comment, Flag, Idea, Vote, utcnow
from portal.operations import Conflict, PermissionDenied, ValidationError
from portal.operations.audit import record_audit
from portal.operations.comments import comment_visibility_changed
from portal.operations.votes import idea_visibility_changed

REASONS = {
    "spam": _l("Spam or advertising"),
    "abuse": _l("Abusive or offensive"),
    "off_topic": _l("Off topic"),
    "duplicate": _l("A duplicate of another idea"),
    "other": _l("Something else"),
}
FLAGGING_AGE = timedelta(hours=1)  # new accounts wait before they can flag
NOTE_MAX = 500
HIDE_AT_LEAST = 3
HIDE_SHARE_OF_VOTERS = 10  # or a tenth of the voters, whichever is larger


def hide_threshold(voters: int) -> int:
    """Open flags that hide an item pending review: more support needs more flags."""
    return max(HIDE_AT_LEAST, voters // HIDE_SHARE_OF_VOTERS)


def flag(user, target: Idea | Comment, reason: str, note: str = "", duplicate_of=None) -> Flag:
    """Flag an idea or comment once; raises OperationError. May hide the target."""
    if not (user.is_authenticated and user.can_write):
        raise PermissionDenied(_("Sign in to flag."))
    if utcnow() - user.created_at < FLAGGING_AGE:
        raise PermissionDenied(_("New accounts can flag after their first hour."))
    idea = target if isinstance(target, Idea) else target.idea
    if not idea.can_view(user) or (isinstance(target, Comment) and not target.is_public):
        raise PermissionDenied(_("You cannot flag this."))
    fields = _check(reason, note, duplicate_of, idea)
    key = {"idea_id": target.id} if isinstance(target, Idea) else {"comment_id": target.id}
    if db.session.scalar(db.select(Flag.id).filter_by(user_id=user.id, **key)):
        raise Conflict(_("You have already flagged this. A moderator will look at it."))
    flag = Flag(user_id=user.id, **key, **fields)
    db.session.add(flag)
    db.session.flush()
    _hide_when_flagged_enough(target, key)
    return flag


def _check(reason: str, note: str, duplicate_of, idea: Idea) -> dict:
    note = clean_text(note or "")
    if reason not in REASONS:
        raise ValidationError({"reason": _("Choose a reason.")})
    if len(note) > NOTE_MAX:
        raise ValidationError({"note": _("At most %(max)d characters.", max=NOTE_MAX)})
    if reason == "other" and not note:
        raise ValidationError({"note": _("Tell the moderators what is wrong.")})
    number = None
    if reason == "duplicate":
        text = str(duplicate_of or "").strip().lstrip("#")
        number = int(text) if text.isdecimal() and len(text) < 10 else None
        original = db.session.scalar(db.select(Idea).filter_by(number=number)) if number else None
        if original is None or original.id == idea.id or not original.is_public:
            raise ValidationError({"duplicate_of": _("Give the number of the original idea.")})
    return {"reason": reason, "note": note, "duplicate_of": number}


def _hide_when_flagged_enough(target, key: dict) -> None:
    open_flags = db.session.scalar(
        db.select(db.func.count(Flag.id)).filter_by(resolved_at=None, **key)
    )
    idea_id = target.id if isinstance(target, Idea) else target.idea_id
    voters = db.session.scalar(db.select(db.func.count(Vote.id)).filter_by(idea_id=idea_id))
    if open_flags >= hide_threshold(voters) and not target.is_hidden:
        was_public = target.is_public
        target.is_hidden = True
        if isinstance(target, Comment):
            comment_visibility_changed(target, was_public)
        else:
            idea_visibility_changed(target, was_public)
        record_audit(None, "flags.hide_pending_review", target, {"is_hidden": False},
                     {"is_hidden": True, "open_flags": open_flags})  # fmt: skip
        if isinstance(target, Idea):
            from portal.search.indexing import queue_reindex

            queue_reindex(target)
