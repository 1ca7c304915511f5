"""Statuses, their phases and the allowed transitions: the one place these rules live.

A pure table: no Flask, no database, no cache. The admins' own statuses and the moves they
turned off are loaded (and kept) by portal/statuses.py, which hands the rules here a
`Workflow` to work on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


def N_(text: str) -> str:
    """Marks an English text for `make translations` where it is written; portal/statuses.py
    shows it in the reader's language. This module knows no language."""
    return text


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
    label: str  # built-in: English here, translated by portal/statuses.py; custom: as written
    phase: Phase
    colour: str

    @property
    def accepts_votes(self) -> bool:
        return self.phase in VOTING_PHASES


OPEN = "open"
DUPLICATE = "duplicate"

BUILTIN_STATUSES = (
    Status("open", N_("Open"), Phase.OPEN, "#5f6b7a"),
    Status("under_review", N_("Under review"), Phase.OPEN, "#8a6d00"),
    Status("planned", N_("Planned"), Phase.ACTIVE, "#1f6feb"),
    Status("started", N_("In progress"), Phase.ACTIVE, "#7b3fe4"),
    Status("completed", N_("Completed"), Phase.DONE, "#1a7f37"),
    Status("declined", N_("Declined"), Phase.DECLINED, "#b42318"),
    Status(DUPLICATE, N_("Duplicate"), Phase.DECLINED, "#6e7781"),
)
BUILTIN_SLUGS = frozenset(status.slug for status in BUILTIN_STATUSES)

# How a status an admin removed still shows in past changes: grey, named by its slug.
REMOVED_COLOUR = "#6e7781"


class TransitionError(ValueError):
    """An idea cannot move from one status to another: `message`, a text with %(name)s
    places, filled from `params` (portal/statuses.py raises it again translated)."""

    def __init__(self, message: str, **params):
        super().__init__(message % params)
        self.message, self.params = message, params


@dataclass(frozen=True)
class Workflow:
    """Every status by slug, in their order (the built-in seven, then the admins' own),
    and the moves between them that admins turned off."""

    statuses: Mapping[str, Status]
    blocked: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def owner_statuses(self) -> list[str]:
        """The statuses a product owner may set: all but `duplicate`, which only a merge sets."""
        return [slug for slug in self.statuses if slug != DUPLICATE]

    def allowed_targets(self, source: str) -> list[str]:
        """Where a product owner may move an idea from `source`, in the statuses' order.

        Any status to any other, unless an admin turned the move off; `duplicate` is reached
        only through a merge and left only by undoing it. An idea left in a status an admin
        removed may move to any.
        """
        if source == DUPLICATE:
            return []
        return [
            target
            for target in self.owner_statuses()
            if target != source and (source, target) not in self.blocked
        ]

    def voting_statuses(self) -> list[str]:
        return [slug for slug, status in self.statuses.items() if status.accepts_votes]

    def get_status(self, slug: str) -> Status:
        """Return the status named by slug; for a slug an admin has removed, a stand-in that
        shows the slug, closed for votes, so past changes that name it still read."""
        status = self.statuses.get(slug)
        if status is not None:
            return status
        return Status(slug, slug, Phase.DECLINED, REMOVED_COLOUR)

    def accepts_votes(self, slug: str) -> bool:
        return self.get_status(slug).accepts_votes

    def check_transition(self, source: str, target: str) -> None:
        """Raise TransitionError unless a product owner may move source to target."""
        if target not in self.statuses:
            raise TransitionError(N_("There is no status called %(status)s."), status=repr(target))
        if target == source:
            raise TransitionError(
                N_("The idea is already %(status)s."), status=self.get_status(source).label
            )
        if target == DUPLICATE:
            raise TransitionError(
                N_("An idea becomes a duplicate only by merging it into another.")
            )
        if target not in self.allowed_targets(source):
            raise TransitionError(
                N_("An idea cannot move from %(source)s to %(target)s."),
                source=self.get_status(source).label,
                target=self.get_status(target).label,
            )


# The workflow before any admin adds a status or turns a move off.
BUILTIN = Workflow({status.slug: status for status in BUILTIN_STATUSES})
