from flask_babel import format_number
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.i18n import gettext as _
from portal.i18n import language as interface_language
from portal.markup import clean_line, clean_text, render_markdown
from portal.models import AuditEntry, Category, Counter, Idea, SubscriptionLevel, utcnow
from portal.operations import PermissionDenied, ValidationError
from portal.operations.audit import record_audit
from portal.operations.spam import check_idea_pace, check_links
from portal.operations.subscriptions import subscribe
from portal.operations.votes import idea_visibility_changed
from portal.operations.webhooks.queueing import queue_idea_created
from portal.search.indexing import queue_reindex
from portal.search.language import guess_language

TITLE_MIN, TITLE_MAX = 5, 120
BODY_MAX = 10_000
HELD_AFTER_EDIT = "idea.held_after_edit"  # the audit action of hold_again


def validate_idea(title: str, body: str) -> tuple[str, str]:
    """Return the cleaned title and body; raises ValidationError."""
    title = clean_line(title)
    body = clean_text(body)
    errors = {}
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        errors["title"] = _(
            "The title needs %(min)d to %(max)d characters.", min=TITLE_MIN, max=TITLE_MAX
        )
    if len(body) > BODY_MAX:
        errors["body"] = _(
            "The description can have at most %(max)s characters.", max=format_number(BODY_MAX)
        )
    if errors:
        raise ValidationError(errors)
    return title, body


def resolve_category(board, category_id) -> Category | None:
    """Return the board's category with that id, None for none; raises ValidationError."""
    if category_id in (None, "", 0, "0"):
        return None
    category = next((c for c in board.categories if str(c.id) == str(category_id)), None)
    if category is None:
        raise ValidationError({"category": _("Choose one of this board's categories.")})
    return category


def next_idea_number() -> int:
    """Take the next site-wide idea number; the counter row stays locked until commit."""
    bumped = db.session.execute(
        update(Counter).where(Counter.name == "idea_number").values(value=Counter.value + 1)
    )
    if bumped.rowcount == 0:
        highest = db.session.scalar(db.select(func.max(Idea.number))) or 0
        db.session.add(Counter(name="idea_number", value=highest + 1))
        db.session.flush()
    return db.session.scalar(db.select(Counter.value).filter_by(name="idea_number"))


def needs_review(author, board, editing: Idea | None = None) -> bool:
    """Posts wait for a moderator on boards that hold new posts, from untried authors; so
    do edits, where the idea being edited is no history of its own (its approval was of
    the text it had then)."""
    if not board.hold_new_posts or author.is_staff or author.is_trusted:
        return False
    approved = db.select(Idea.id).filter_by(author_id=author.id, is_held=False, is_deleted=False)
    if editing is not None:
        approved = approved.where(Idea.id != editing.id)
    return author.is_new or db.session.scalar(approved.limit(1)) is None


# Idea.submission_key's length. Our forms send 22 characters; a longer key (a client's
# Idempotency-Key, a forged form) is cut to fit, the same on every retry.
SUBMISSION_KEY_MAX = 64


def one_time_key(key: str | None) -> str | None:
    return (key or "")[:SUBMISSION_KEY_MAX] or None


def existing_submission(author, key) -> Idea | None:
    """The idea this author already made with this form's one-time key, if any."""
    if not (key := one_time_key(key)):
        return None
    return db.session.scalar(db.select(Idea).filter_by(author_id=author.id, submission_key=key))


def submit_idea(author, board, title, body, category_id=None, submission_key=None) -> Idea:
    """Post a new idea (or return the one this form already made); raises OperationError."""
    if not (author.is_authenticated and author.can_write):
        raise PermissionDenied(_("Your account cannot post ideas."))
    existing = existing_submission(author, submission_key)
    if existing is not None:
        return existing
    title, body = validate_idea(title, body)
    check_links(author, title, body)
    check_idea_pace(author)
    category = resolve_category(board, category_id)
    now = utcnow()
    idea = Idea(
        number=next_idea_number(),
        board=board,
        category=category,
        author=author,
        title=title,
        body=body,
        body_html=render_markdown(body),
        language=guess_language(f"{title}\n{body}", author.locale or interface_language()),
        is_held=needs_review(author, board),
        submission_key=one_time_key(submission_key),
        vote_count=0,
        comment_count=0,
        created_at=now,
        updated_at=now,
    )
    idea.refresh_trending()
    try:
        with db.session.begin_nested():
            db.session.add(idea)
    except IntegrityError:
        # A concurrent double submit won the race; answer with the idea it made.
        existing = existing_submission(author, submission_key)
        if existing is None:
            raise
        return existing
    subscribe(author, idea, SubscriptionLevel.ALL)
    queue_reindex(idea)
    queue_idea_created(idea)
    return idea


def edit_idea(editor, idea, title, body, category_id=None) -> Idea:
    """Change an idea's text under the edit rules and posting's brakes; staff edits are
    marked and audited, an author whose posts wait for review waits again (decision 0010)."""
    if not idea.can_edit(editor):
        raise PermissionDenied(_("You can no longer edit this idea."))
    title, body = validate_idea(title, body)
    check_links(editor, title, body)  # the brakes on posting hold for edits too
    category = resolve_category(idea.board, category_id)
    before = {"title": idea.title, "body": idea.body, "category_id": idea.category_id}
    idea.title, idea.body, idea.category = title, body, category
    idea.body_html = render_markdown(body)
    idea.language = guess_language(f"{title}\n{body}", idea.language)  # unclear: unchanged
    idea.updated_at = utcnow()
    after = {"title": title, "body": body, "category_id": idea.category_id}
    if editor.id != idea.author_id:
        idea.edited_by_staff = True
        record_audit(editor, "idea.edit", idea, before, after)
    elif idea.is_public and needs_review(editor, idea.board, editing=idea):
        hold_again(idea, before, after)
    queue_reindex(idea)
    db.session.flush()
    return idea


def hold_again(idea, before: dict, after: dict) -> None:
    """An edit by an author whose posts wait for a moderator waits too, as a new post would.

    The audit entry keeps the text a moderator approved and tells approval the idea was
    published once already (operations/moderation.py)."""
    idea.is_held = True
    idea_visibility_changed(idea, was_public=True)
    record_audit(idea.author, HELD_AFTER_EDIT, idea, before | {"is_held": False},
                 after | {"is_held": True})  # fmt: skip


def was_published(idea) -> bool:
    """Whether a held idea was public once, before an edit held it again: its approval
    then publishes nothing new (no second idea.created)."""
    held_again = db.select(AuditEntry.id).filter_by(
        action=HELD_AFTER_EDIT, target_type="idea", target_id=idea.id
    )
    return db.session.scalar(held_again.limit(1)) is not None
