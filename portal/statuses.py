"""The workflow in force: the built-in statuses with the admins' own, and the moves admins
turned off, read from the database and kept until an admin changes them.

The rules themselves are portal/workflow.py's; this module only finds the `Workflow` they
apply to. Operations, views, queries and templates ask here, never the database.
"""

from collections.abc import Mapping
from dataclasses import replace

from flask import g, has_app_context, has_request_context

from portal.extensions import db
from portal.i18n import gettext, lazy_gettext
from portal.models import BlockedTransition, CustomStatus
from portal.pagecache import configuration_changed, shared_configuration
from portal.workflow import BUILTIN_STATUSES, Phase, Status, TransitionError, Workflow

# The built-in statuses named in each reader's language (workflow.py holds them in English).
TRANSLATED_BUILTINS = tuple(replace(s, label=lazy_gettext(s.label)) for s in BUILTIN_STATUSES)
BUILTIN = Workflow({status.slug: status for status in TRANSLATED_BUILTINS})


def current() -> Workflow:
    """Every status and the moves admins turned off, once per request from what this process
    keeps until an admin changes them (portal/pagecache.py); the worker reads them per use."""
    if not has_app_context():
        return BUILTIN
    if has_request_context() and "workflow" in g:
        return g.workflow
    configured = shared_configuration("workflow", stored_workflow)
    if has_request_context():
        g.workflow = configured
    return configured


def stored_workflow() -> Workflow:
    statuses = dict(BUILTIN.statuses)
    for custom in db.session.scalars(db.select(CustomStatus).order_by(CustomStatus.position)):
        statuses[custom.slug] = Status(
            custom.slug, custom.label, Phase(custom.phase), custom.colour
        )
    blocked = frozenset(
        db.session.execute(db.select(BlockedTransition.source, BlockedTransition.target)).all()
    )
    return Workflow(statuses, blocked)


def forget_configuration() -> None:
    """After an admin changes statuses or transitions, read them again."""
    configuration_changed()
    if has_request_context():
        g.pop("workflow", None)


class _Statuses(Mapping):
    """`STATUSES[slug]`, `slug in STATUSES`, `STATUSES.items()`: the live set of statuses."""

    def __getitem__(self, slug):
        return current().statuses[slug]

    def __iter__(self):
        return iter(current().statuses)

    def __len__(self):
        return len(current().statuses)


STATUSES = _Statuses()


def owner_statuses() -> list[str]:
    return current().owner_statuses()


def allowed_targets(source: str) -> list[str]:
    return current().allowed_targets(source)


def voting_statuses() -> list[str]:
    return current().voting_statuses()


def get_status(slug: str) -> Status:
    return current().get_status(slug)


def accepts_votes(slug: str) -> bool:
    return current().accepts_votes(slug)


def check_transition(source: str, target: str) -> None:
    """Raise TransitionError, in the reader's language, unless a product owner may move an
    idea from source to target."""
    try:
        current().check_transition(source, target)
    except TransitionError as refused:
        raise TransitionError(gettext(refused.message), **refused.params) from None
