from flask_babel import format_number

from portal.extensions import db
from portal.i18n import gettext as _
from portal.markup import clean_text, render_markdown
from portal.models import Comment, Role, SubscriptionLevel, utcnow
from portal.notifications import queue_fan_out
from portal.operations import PermissionDenied, ValidationError
from portal.operations.audit import record_audit
from portal.operations.spam import check_links
from portal.operations.subscriptions import subscribe
from portal.operations.webhooks.queueing import queue_comment_created

COMMENT_MAX = 5_000


def validate_comment(body: str) -> str:
    """Return the cleaned comment text; raises ValidationError."""
    body = clean_text(body)
    if not body:
        raise ValidationError({"body": _("Write a comment first.")})
    if len(body) > COMMENT_MAX:
        raise ValidationError(
            {
                "body": _(
                    "A comment can have at most %(max)s characters.",
                    max=format_number(COMMENT_MAX),
                )
            }
        )
    return body


def add_comment(author, idea, body, official=False, internal=False) -> Comment:
    """Post a comment (official or internal for product owners); raises OperationError."""
    if not idea.can_comment(author):
        raise PermissionDenied(_("You cannot comment on this idea."))
    writes_note = Comment.can_write_notes(author)
    if (internal and not writes_note) or (official and not author.has_role(Role.OWNER)):
        raise PermissionDenied(_("Only the product team posts official answers and notes."))
    body = validate_comment(body)
    check_links(author, body)
    comment = Comment(
        idea=idea,
        author=author,
        body=body,
        body_html=render_markdown(body),
        is_official=official and not internal,
        is_internal=internal,
    )
    db.session.add(comment)
    if not internal:
        idea.comment_count += 1
        idea.updated_at = utcnow()
        idea.refresh_trending()
        subscribe(author, idea, SubscriptionLevel.ALL)
    db.session.flush()
    if not internal:  # internal notes never reach a customer, nor a webhook
        queue_fan_out("comment_posted", comment_id=comment.id)
        queue_comment_created(comment)
    return comment


def edit_comment(editor, comment, body) -> Comment:
    """Change a comment's text within the edit window; staff edits are audited."""
    if not comment.can_edit(editor):
        if comment.is_internal:
            raise PermissionDenied(_("Only the product team edits internal notes."))
        raise PermissionDenied(_("Comments can be edited for 15 minutes after posting."))
    body = validate_comment(body)
    check_links(editor, body)  # the brakes on posting hold for edits too
    before = comment.body
    comment.body, comment.body_html = body, render_markdown(body)
    comment.edited_at = utcnow()
    if editor.id != comment.author_id:
        comment.edited_by_staff = True
        record_audit(editor, "comment.edit", comment, {"body": before}, {"body": body})
    db.session.flush()
    return comment


def comment_visibility_changed(comment: Comment, was_public: bool) -> None:
    """An idea counts only the comments people can read: follow a hide, delete or restore."""
    if was_public != comment.is_public:
        comment.idea.comment_count += 1 if comment.is_public else -1
