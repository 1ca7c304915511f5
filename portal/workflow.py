"""Statuses, their phases and the allowed transitions: the one place these rules live."""

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    OPEN = "open"
    ACTIVE = "active"
    DONE = "done"
    DECLINED = "declined"


# Phases whose ideas take votes and hold the voters' budget.
VOTING_PHASES = frozenset({Phase.OPEN, Phase.ACTIVE})


@dataclass(frozen=True)
class Status:
    slug: str
    label: str
    phase: Phase
    colour: str

    @property
    def accepts_votes(self) -> bool:
        return self.phase in VOTING_PHASES


OPEN = "open"
DUPLICATE = "duplicate"

BUILTIN_STATUSES = (
    Status("open", "Open", Phase.OPEN, "#5f6b7a"),
    Status("under_review", "Under review", Phase.OPEN, "#8a6d00"),
    Status("planned", "Planned", Phase.ACTIVE, "#1f6feb"),
    Status("started", "In progress", Phase.ACTIVE, "#7b3fe4"),
    Status("completed", "Completed", Phase.DONE, "#1a7f37"),
    Status("declined", "Declined", Phase.DECLINED, "#b42318"),
    Status(DUPLICATE, "Duplicate", Phase.DECLINED, "#6e7781"),
)
STATUSES = {status.slug: status for status in BUILTIN_STATUSES}

# A product owner may move an idea between any two of these; `duplicate` is reached
# only through a merge and left only by undoing it.
OWNER_STATUSES = tuple(slug for slug in STATUSES if slug != DUPLICATE)
TRANSITIONS = {
    source: frozenset(target for target in OWNER_STATUSES if target != source)
    for source in OWNER_STATUSES
}


class TransitionError(ValueError):
    """An idea cannot move from one status to another."""


def get_status(slug: str) -> Status:
    """Return the status named by slug; raises KeyError for an unknown slug."""
    return STATUSES[slug]


def accepts_votes(slug: str) -> bool:
    return get_status(slug).accepts_votes


def check_transition(source: str, target: str) -> None:
    """Raise TransitionError unless a product owner may move source to target."""
    if target not in STATUSES:
        raise TransitionError(f"There is no status called {target!r}.")
    if target == source:
        raise TransitionError(f"The idea is already {get_status(source).label}.")
    if target == DUPLICATE:
        raise TransitionError("An idea becomes a duplicate only by merging it into another.")
    if target not in TRANSITIONS.get(source, ()):
        raise TransitionError(
            f"An idea cannot move from {get_status(source).label} to {get_status(target).label}."
        )
