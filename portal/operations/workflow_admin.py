"""Admins shape the workflow: their own statuses, and which moves between statuses exist."""

import re

from portal import statuses, workflow
from portal.database import begin_writing
from portal.extensions import db
from portal.i18n import gettext as _
from portal.i18n import ngettext
from portal.markup import clean_text
from portal.models import BlockedTransition, Board, CustomStatus, Idea
from portal.notifications import queue_fan_out
from portal.operations import Conflict, ValidationError
from portal.operations.admin import require_admin
from portal.operations.audit import record_audit
from portal.operations.votes import fit_votes_to_budgets, lock_voters, recount_votes, voter_ids

SLUG = re.compile(r"[a-z][a-z0-9_]{1,39}")
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
LABEL_MAX = 40


def _checked_look(label: str, colour: str, phase: str) -> tuple[str, str, dict[str, str]]:
    """The label cleaned, the colour, and an error for each of label, colour and phase
    that breaks its rule (the same for a new status and a changed one)."""
    label, colour = clean_text(label or ""), colour or ""
    errors = {}
    if not label or len(label) > LABEL_MAX:
        errors["label"] = _("Give it a label of at most %(max)s characters.", max=LABEL_MAX)
    if not COLOUR.fullmatch(colour):
        errors["colour"] = _("Pick a colour such as #1f6feb.")
    if phase not in {p.value for p in workflow.Phase}:
        errors["phase"] = _("Choose the phase it belongs to.")
    return label, colour, errors


def _settings(status: CustomStatus) -> dict:
    return {"slug": status.slug, "label": status.label, "colour": status.colour,
            "phase": status.phase}  # fmt: skip


def add_status(actor, slug: str, label: str, colour: str, phase: str) -> CustomStatus:
    """Add a status; its phase decides voting, budget release and the roadmap lane."""
    require_admin(actor)
    slug = (slug or "").strip().lower()
    label, colour, errors = _checked_look(label, colour, phase)
    if not SLUG.fullmatch(slug):
        errors["slug"] = _("2 to 40 lowercase letters, digits or _, starting with a letter.")
    elif slug in statuses.STATUSES:
        errors["slug"] = _("There is already a status called '%(slug)s'.", slug=slug)
    if errors:
        raise ValidationError(errors)
    # After the highest, not the count: a removed status leaves a gap.
    last = db.session.scalar(db.select(db.func.max(CustomStatus.position)))
    position = 0 if last is None else last + 1
    status = CustomStatus(slug=slug, label=label, colour=colour, phase=phase, position=position)
    db.session.add(status)
    db.session.flush()
    record_audit(actor, "workflow.add_status", status, None, {"slug": slug, "phase": phase})
    statuses.forget_configuration()
    return status


def edit_status(actor, status: CustomStatus, label: str, colour: str, phase: str) -> None:
    """Change an admin's own status: its label, colour and phase (the slug stays, as links,
    the API and past changes use it); raises ValidationError.

    A new phase applies at once to the ideas in the status: voting opens or closes, budget
    votes come back or are held again, and they move to the phase's roadmap lane.
    """
    require_admin(actor)
    label, colour, errors = _checked_look(label, colour, phase)
    if errors:
        raise ValidationError(errors)
    begin_writing()  # SQLite: the write lock; PostgreSQL: a move into it waits (hold_status)
    db.session.execute(db.select(CustomStatus.id).filter_by(id=status.id).with_for_update())
    voted, votes = (workflow.Phase(p) in workflow.VOTING_PHASES for p in (status.phase, phase))
    budgeted = _on_budget_boards(status.slug) if voted != votes else []
    if budgeted and votes:  # reopened: lock their voters, as reopening one idea does
        lock_voters(voter_ids(*budgeted))
    elif budgeted:  # closed: their voters hear their votes are back, as on closing one
        queue_fan_out("status_closed", idea_ids=[idea.id for idea in budgeted])
    before = _settings(status)
    status.label, status.colour, status.phase = label, colour, phase
    db.session.flush()
    statuses.forget_configuration()
    after = _settings(status)
    if votes and (taken := _fit_to_budgets(budgeted)):
        after["votes_taken_back"] = taken
    record_audit(actor, "workflow.edit_status", status, before, after)


def _on_budget_boards(slug: str) -> list[Idea]:
    """The ideas in status slug on boards with a vote budget: those a phase change moves
    in or out of their voters' budgets."""
    return list(
        db.session.scalars(
            db.select(Idea)
            .join(Board, Board.id == Idea.board_id)
            .where(Idea.status == slug, Board.has_budget)
            .order_by(Idea.id)
        )
    )


def ideas_with_status(slugs) -> dict[str, list[int]]:
    """The numbers of the ideas in each of these statuses (hidden and deleted ones too:
    they keep their status), those an admin must move before removing one."""
    numbers = {}
    query = db.select(Idea.status, Idea.number).where(Idea.status.in_(slugs)).order_by(Idea.number)
    for slug, number in db.session.execute(query):
        numbers.setdefault(slug, []).append(number)
    return numbers


def _fit_to_budgets(ideas: list[Idea]) -> dict[str, dict[str, int]]:
    """Reopened ideas hold budget votes again: take back what voters spent elsewhere since,
    as reopening one idea does; returns {idea number: {user id: weight taken back}}."""
    taken = {}
    for idea in ideas:
        if from_idea := fit_votes_to_budgets(idea):
            recount_votes(idea)
            taken[str(idea.number)] = {str(user): weight for user, weight in from_idea.items()}
    return taken


def remove_status(actor, status: CustomStatus) -> None:
    """Remove an admin's own status with the moves to and from it that were turned off;
    raises Conflict while any idea has it. Past changes that name it keep its slug."""
    require_admin(actor)
    begin_writing()  # SQLite: count under the write lock, so no idea moves in meanwhile
    # PostgreSQL: a status change into it holds the row (hold_status) until it commits.
    db.session.execute(db.select(CustomStatus.id).filter_by(id=status.id).with_for_update())
    if in_use := len(ideas_with_status([status.slug]).get(status.slug, [])):
        raise Conflict(
            ngettext(
                "One idea has the status %(label)s: move it to another status first.",
                "%(num)d ideas have the status %(label)s: move them to another status first.",
                in_use,
                label=status.label,
            )
        )
    mentions = db.or_(BlockedTransition.source == status.slug,
                      BlockedTransition.target == status.slug)  # fmt: skip
    blocked = db.session.execute(
        db.select(BlockedTransition.source, BlockedTransition.target).where(mentions)
    ).all()
    db.session.execute(db.delete(BlockedTransition).where(mentions))
    before = {**_settings(status), "blocked": sorted([list(pair) for pair in blocked])}
    record_audit(actor, "workflow.remove_status", status, before, None)
    db.session.delete(status)
    db.session.flush()
    statuses.forget_configuration()


def set_transitions(actor, allowed: set[tuple[str, str]]) -> None:
    """Keep exactly the given moves between owner statuses; every other one is turned off."""
    require_admin(actor)
    owned = statuses.owner_statuses()
    pairs = {(a, b) for a in owned for b in owned if a != b}
    if unknown := allowed - pairs:
        raise ValidationError({"transitions": _("Unknown moves: %(moves)s", moves=sorted(unknown))})
    before = sorted(
        db.session.execute(db.select(BlockedTransition.source, BlockedTransition.target)).all()
    )
    db.session.execute(db.delete(BlockedTransition))
    blocked = sorted(pairs - allowed)
    db.session.add_all(BlockedTransition(source=a, target=b) for a, b in blocked)
    db.session.flush()
    record_audit(actor, "workflow.transitions", None, {"blocked": [list(p) for p in before]},
                 {"blocked": [list(p) for p in blocked]})  # fmt: skip
    statuses.forget_configuration()


def hold_status(slug: str) -> bool:
    """An idea is about to move into status slug: if it is an admin's own, hold its row
    until the change commits (SQLite: the write lock), so edit_status and remove_status
    wait for it; raises TransitionError when it is already gone. Returns whether the status takes
    votes, as the held row says (what the request read before may be older)."""
    if slug in workflow.BUILTIN_SLUGS:
        return statuses.accepts_votes(slug)
    begin_writing()
    phase = db.session.scalar(
        db.select(CustomStatus.phase).filter_by(slug=slug).with_for_update(read=True)
    )
    if phase is None:
        raise workflow.TransitionError(
            _("There is no status called %(status)s."), status=repr(slug)
        )
    return workflow.Phase(phase) in workflow.VOTING_PHASES
