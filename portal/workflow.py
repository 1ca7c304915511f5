"""Statuses, their phases and the allowed transitions: the one place these rules live."""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from flask_babel import LazyString

from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l


class Phase(StrEnum):
    OPEN = "open"
    ACTIVE = "active"
    DONE = "done"
    DECLINED = "declined"

    @property
    def label(self) -> LazyString:
        """The phase's name in the reader's language (the value stays the stored slug)."""
        return PHASE_LABELS[self]


PHASE_LABELS = {
    Phase.OPEN: _l("Open"),
    Phase.ACTIVE: _l("Active"),
    Phase.DONE: _l("Done"),
    Phase.DECLINED: _l("Declined"),
}


# Phases whose ideas take votes and hold the voters' budget.
VOTING_PHASES = frozenset({Phase.OPEN, Phase.ACTIVE})


@dataclass(frozen=True)
class Status:
    slug: str
    label: str | LazyString  # built-in: lazy, in each reader's language; custom: as written
    phase: Phase
    colour: str

    @property
    def accepts_votes(self) -> bool:
        return self.phase in VOTING_PHASES


OPEN = "open"
DUPLICATE = "duplicate"

BUILTIN_STATUSES = (
    Status("open", _l("Open"), Phase.OPEN, "#5f6b7a"),
    Status("under_review", _l("Under review"), Phase.OPEN, "#8a6d00"),
    Status("planned", _l("Planned"), Phase.ACTIVE, "#1f6feb"),
    Status("started", _l("In progress"), Phase.ACTIVE, "#7b3fe4"),
    Status("completed", _l("Completed"), Phase.DONE, "#1a7f37"),
    Status("declined", _l("Declined"), Phase.DECLINED, "#b42318"),
    Status(DUPLICATE, _l("Duplicate"), Phase.DECLINED, "#6e7781"),
)
BUILTIN_SLUGS = frozenset(status.slug for status in BUILTIN_STATUSES)


def _configured() -> tuple[dict[str, Status], frozenset[tuple[str, str]]]:
    """Every status (the built-in seven, then the admins' own) and the transitions admins
    turned off, once per request from what this process keeps until an admin changes them
    (portal/pagecache.py); the worker reads them per use."""
    from flask import g, has_app_context, has_request_context

    if not has_app_context():
        return {status.slug: status for status in BUILTIN_STATUSES}, frozenset()
    if has_request_context() and "workflow" in g:
        return g.workflow
    from portal.pagecache import shared_configuration

    configured = shared_configuration("workflow", _stored_configuration)
    if has_request_context():
        g.workflow = configured
    return configured


def _stored_configuration() -> tuple[dict[str, Status], frozenset[tuple[str, str]]]:
    from portal.extensions import db
    from portal.models import BlockedTransition, CustomStatus

    statuses = {status.slug: status for status in BUILTIN_STATUSES}
    for custom in db.session.scalars(db.select(CustomStatus).order_by(CustomStatus.position)):
        statuses[custom.slug] = Status(
            custom.slug, custom.label, Phase(custom.phase), custom.colour
        )
    blocked = frozenset(
        db.session.execute(db.select(BlockedTransition.source, BlockedTransition.target)).all()
    )
    return statuses, blocked


def forget_configuration() -> None:
    """After an admin changes statuses or transitions, read them again."""
    from flask import g, has_request_context

    from portal.pagecache import configuration_changed

    configuration_changed()
    if has_request_context():
        g.pop("workflow", None)


class _Statuses(Mapping):
    """`STATUSES[slug]`, `slug in STATUSES`, `STATUSES.items()`: the live set of statuses."""

    def __getitem__(self, slug):
        return _configured()[0][slug]

    def __iter__(self):
        return iter(_configured()[0])

    def __len__(self):
        return len(_configured()[0])


STATUSES = _Statuses()


def owner_statuses() -> list[str]:
    """The statuses a product owner may set: all but `duplicate`, which only a merge sets."""
    return [slug for slug in STATUSES if slug != DUPLICATE]


def allowed_targets(source: str) -> list[str]:
    """Where a product owner may move an idea from `source`, in the statuses' order.

    Any status to any other, unless an admin turned the move off; `duplicate` is reached
    only through a merge and left only by undoing it. An idea left in a status an admin
    removed may move to any.
    """
    if source == DUPLICATE:
        return []
    blocked = _configured()[1]
    return [
        target
        for target in owner_statuses()
        if target != source and (source, target) not in blocked
    ]


def voting_statuses() -> list[str]:
    return [slug for slug, status in STATUSES.items() if status.accepts_votes]


class TransitionError(ValueError):
    """An idea cannot move from one status to another."""


# How a status an admin removed still shows in past changes: grey, named by its slug.
REMOVED_COLOUR = "#6e7781"


def get_status(slug: str) -> Status:
    """Return the status named by slug; for a slug an admin has removed, a stand-in that
    shows the slug, closed for votes, so past changes that name it still read."""
    if slug in STATUSES:
        return STATUSES[slug]
    return Status(slug, slug, Phase.DECLINED, REMOVED_COLOUR)


def accepts_votes(slug: str) -> bool:
    return get_status(slug).accepts_votes


def check_transition(source: str, target: str) -> None:
    """Raise TransitionError unless a product owner may move source to target."""
    if target not in STATUSES:
        raise TransitionError(_("There is no status called %(status)s.", status=repr(target)))
    if target == source:
        raise TransitionError(_("The idea is already %(status)s.", status=get_status(source).label))
    if target == DUPLICATE:
        raise TransitionError(_("An idea becomes a duplicate only by merging it into another."))
    if target not in allowed_targets(source):
        raise TransitionError(
            _(
                "An idea cannot move from %(source)s to %(target)s.",
                source=get_status(source).label,
                target=get_status(target).label,
            )
        )
