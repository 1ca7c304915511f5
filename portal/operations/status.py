from flask_babel import format_number

from portal import statuses, workflow
from portal.extensions import db
from portal.i18n import gettext as _
from portal.markup import clean_text, render_markdown
from portal.models import Role, StatusChange, utcnow
from portal.notifications import queue_fan_out
from portal.operations import Conflict, PermissionDenied, ValidationError
from portal.operations.audit import record_audit
from portal.operations.votes import fit_votes_to_budgets, lock_voters, recount_votes, voter_ids
from portal.operations.webhooks.queueing import queue_status_changed
from portal.operations.workflow_admin import hold_status
from portal.search.indexing import queue_reindex

RESPONSE_MAX = 10_000


def change_status(actor, idea, target: str, response: str = "") -> StatusChange:
    """Move idea to status `target` with an optional public response; raises OperationError.

    The change is recorded for the timeline and the feed; telling the subscribers is left
    to the worker, so an idea with thousands of followers does not slow this request.
    """
    if not idea.can_change_status(actor):
        raise PermissionDenied(_("Only the product team changes an idea's status."))
    try:
        statuses.check_transition(idea.status, target)
        target_takes_votes = hold_status(target)
    except workflow.TransitionError as refused:
        raise Conflict(str(refused), {"status": str(refused)}) from refused
    response = clean_text(response or "")
    if len(response) > RESPONSE_MAX:
        raise ValidationError(
            {
                "response": _(
                    "A response can have at most %(max)s characters.",
                    max=format_number(RESPONSE_MAX),
                )
            }
        )
    # Votes left budgets when the idea closed; reopened, it holds them again.
    reopening = (
        idea.board.has_budget and not statuses.accepts_votes(idea.status) and target_takes_votes
    )
    if reopening:
        lock_voters(voter_ids(idea))
    change = StatusChange(
        idea_id=idea.id,
        author_id=actor.id,
        from_status=idea.status,
        to_status=target,
        response=response,
        response_html=render_markdown(response) if response else "",
    )
    db.session.add(change)
    before = {"status": idea.status}
    idea.status = target
    idea.updated_at = idea.status_changed_at = utcnow()
    after = {"status": target}
    if reopening and (taken := fit_votes_to_budgets(idea)):
        # Spent elsewhere while the idea was closed: those votes stay where they went.
        after["votes_taken_back"] = {str(user_id): weight for user_id, weight in taken.items()}
        recount_votes(idea)
    record_audit(actor, "idea.status", idea, before, after)
    idea.refresh_trending()
    db.session.flush()
    queue_reindex(idea)
    queue_fan_out("status_changed", status_change_id=change.id)
    queue_status_changed(idea, change)
    return change


def assign_idea(actor, idea, assignee) -> None:
    """Make a product owner (or nobody) responsible for answering idea."""
    if not idea.can_change_status(actor):
        raise PermissionDenied(_("Only the product team assigns ideas."))
    if assignee is not None and not assignee.has_role(Role.OWNER):
        raise ValidationError({"assignee": _("Ideas are assigned to product owners.")})
    before = {"assignee_id": idea.assignee_id}
    idea.assignee_id = assignee.id if assignee else None
    record_audit(actor, "idea.assign", idea, before, {"assignee_id": idea.assignee_id})
