"""Admins shape the workflow: their own statuses, and which moves between statuses exist."""

import re

from portal import workflow
from portal.extensions import db
from portal.i18n import gettext as _
from portal.markup import clean_text
from portal.models import BlockedTransition, CustomStatus
from portal.operations import ValidationError
from portal.operations.admin import require_admin
from portal.operations.audit import record_audit

SLUG = re.compile(r"[a-z][a-z0-9_]{1,39}")
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
LABEL_MAX = 40


def add_status(actor, slug: str, label: str, colour: str, phase: str) -> CustomStatus:
    """Add a status; its phase decides voting, budget release and the roadmap lane."""
    require_admin(actor)
    slug, label, colour = (slug or "").strip().lower(), clean_text(label or ""), colour or ""
    errors = {}
    if not SLUG.fullmatch(slug):
        errors["slug"] = _("2 to 40 lowercase letters, digits or _, starting with a letter.")
    elif slug in workflow.STATUSES:
        errors["slug"] = _("There is already a status called '%(slug)s'.", slug=slug)
    if not label or len(label) > LABEL_MAX:
        errors["label"] = _("Give it a label of at most %(max)s characters.", max=LABEL_MAX)
    if not COLOUR.fullmatch(colour):
        errors["colour"] = _("Pick a colour such as #1f6feb.")
    if phase not in {p.value for p in workflow.Phase}:
        errors["phase"] = _("Choose the phase it belongs to.")
    if errors:
        raise ValidationError(errors)
    position = db.session.scalar(db.select(db.func.count(CustomStatus.id))) or 0
    status = CustomStatus(slug=slug, label=label, colour=colour, phase=phase, position=position)
    db.session.add(status)
    db.session.flush()
    record_audit(actor, "workflow.add_status", status, None, {"slug": slug, "phase": phase})
    workflow.forget_configuration()
    return status


def set_transitions(actor, allowed: set[tuple[str, str]]) -> None:
    """Keep exactly the given moves between owner statuses; every other one is turned off."""
    require_admin(actor)
    statuses = workflow.owner_statuses()
    pairs = {(a, b) for a in statuses for b in statuses if a != b}
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
    workflow.forget_configuration()
