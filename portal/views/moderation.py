"""The moderators' review queue: one list, actions in place with htmx, bulk actions."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal.database import all_or_nothing
from portal.extensions import db
from portal.htmx import render
from portal.i18n import gettext as _
from portal.i18n import ngettext
from portal.models import Comment, Idea, Role, User
from portal.operations import OperationError
from portal.operations.moderation import (
    ACTIONS,
    QueueItem,
    author_history,
    block_user,
    lock_comments,
    moderate,
    pin_comment,
    review_queue,
)
from portal.queries import get_idea
from portal.search import similar_ideas
from portal.views.helpers import carry_out, idea_url, safe_next

bp = Blueprint("moderation", __name__, url_prefix="/moderation")
MODELS = {"idea": Idea, "comment": Comment}


@bp.before_request
@login_required
def moderators_only():
    if not current_user.has_role(Role.MODERATOR):
        abort(403)


def duplicate_hint(item: QueueItem) -> int | None:
    """The number of the idea this one most resembles, from search."""
    if item.kind != "idea":
        return None
    idea = item.target
    numbers = similar_ideas(idea.title, [idea.board.slug], limit=2)
    return next((n for n in numbers if n != idea.number), None)


def item_context(item: QueueItem, error: str = "") -> dict:
    return {
        "item": item,
        "history": author_history(item.target.author),
        "hint": duplicate_hint(item),
        "actions": ACTIONS,
        "error": error,
    }


@bp.get("")
def queue():
    items = review_queue()
    return render("moderation/queue.html", "queue",
                  entries=[item_context(item) for item in items], actions=ACTIONS)  # fmt: skip


def find(kind: str, target_id: int):
    model = MODELS.get(kind)
    target = db.session.get(model, target_id) if model and target_id < 2**31 else None
    if target is None:
        abort(404)
    return target


@bp.post("/<kind>/<int:target_id>")
def act(kind, target_id):
    """One item: with htmx it leaves the list when handled, or shows why not."""
    target = find(kind, target_id)
    try:
        with all_or_nothing():
            moderate(current_user, kind, target, request.form.get("action", ""),
                     request.form.get("reason", ""))  # fmt: skip
    except OperationError as refused:
        message = refused.explanation
        if request.htmx:
            item = QueueItem(kind, target)
            return render("moderation/queue.html", "item", **item_context(item, message))
        flash(message, "error")
        return redirect(url_for("moderation.queue"), code=303)
    if request.htmx:
        return ""  # the item leaves the list in place
    flash(_("Done."), "success")
    return redirect(url_for("moderation.queue"), code=303)


@bp.post("")
def bulk():
    """The same action on every ticked item; refused ones are named, the rest go through."""
    action, reason = request.form.get("action", ""), request.form.get("reason", "")
    done, refused = 0, []
    for key in request.form.getlist("items")[:200]:
        kind, _sep, target_id = key.partition("-")
        if not target_id.isdecimal() or kind not in MODELS:
            continue
        target = find(kind, int(target_id))
        try:
            with db.session.begin_nested():  # a refused item takes back only its own changes
                moderate(current_user, kind, target, action, reason)
            done += 1
        except OperationError as error:
            why = " ".join(error.fields.values()) or error.message
            refused.append(
                _("idea %(id)s: %(reason)s", id=target_id, reason=why)
                if kind == "idea"
                else _("comment %(id)s: %(reason)s", id=target_id, reason=why)
            )
    if done:
        label = ACTIONS.get(action) or _("Done")
        flash(ngettext("%(action)s: %(num)d item.", "%(action)s: %(num)d items.", done,
                       action=label), "success")  # fmt: skip
    for message in refused:
        flash(message, "error")
    return redirect(url_for("moderation.queue"), code=303)


@bp.post("/ideas/<int:number>/lock")
def lock(number):
    idea = get_idea(number)
    locked = request.form.get("locked") == "1"
    done = _("Comments are locked.") if locked else _("Comments are open again.")
    return carry_out(lambda: lock_comments(current_user, idea, locked), done, idea_url(idea))


@bp.post("/comments/<int:comment_id>/pin")
def pin(comment_id):
    comment = find("comment", comment_id)
    pinned = request.form.get("pinned") == "1"
    back = f"{idea_url(comment.idea)}#comment-{comment.id}"
    done = _("Pinned to the top.") if pinned else _("Unpinned.")
    return carry_out(lambda: pin_comment(current_user, comment, pinned), done, back)


@bp.post("/users/<int:user_id>/block")
def block(user_id):
    user = db.session.get(User, user_id) if user_id < 2**31 else None
    if user is None:
        abort(404)
    blocked = request.form.get("blocked") == "1"
    back = safe_next(url_for("moderation.queue"))
    name = user.display_name
    if blocked:
        done = _("%(name)s is blocked.", name=name)
    else:
        done = _("%(name)s is unblocked.", name=name)
    return carry_out(lambda: block_user(current_user, user, blocked), done, back)
