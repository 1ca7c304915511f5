"""What the product team is doing and has done: the roadmap and the changelog."""

from datetime import timedelta
from typing import NamedTuple

from flask import Blueprint, request
from sqlalchemy import func
from sqlalchemy.orm import joinedload

from portal import statuses, workflow
from portal.extensions import db
from portal.htmx import render
from portal.i18n import gettext as _
from portal.models import Idea, utcnow
from portal.queries import latest_status_changes, visible_boards
from portal.views.helpers import atom_feed, page_number, paginate, public_boards

bp = Blueprint("roadmap", __name__)

PLANNED = "planned"
COMPLETED_SHOWN = timedelta(days=90)
LANE_SHOWN = 10  # each lane's top ideas on the roadmap; "Show more" lists the rest
LANE_PAGE = 50  # a lane shown in full, by pages of this many
CHANGELOG_PAGE = 20
FEED_ENTRIES = 30


class Lane(NamedTuple):
    key: str
    title: str
    ideas: list[Idea]
    total: int | None  # None: the lane in full (ideas is a page of it)


def shown_boards():
    """The boards the person may see, narrowed to ?board= when it names one of them."""
    boards = visible_boards()
    chosen = [board for board in boards if board.slug == request.args.get("board")]
    return boards, chosen[0] if chosen else None


def public_ideas(boards):
    return (
        db.select(Idea)
        .options(joinedload(Idea.board))
        .where(Idea.public_clause(), Idea.board_id.in_([board.id for board in boards]))
    )


def roadmap_lanes() -> list[tuple[str, str, list[str]]]:
    """Lanes by phase, each (key, title, statuses): `planned`, then the rest of the active
    phase, then the done phase (admins' own statuses join the lane of their phase)."""
    by_phase = {phase: [] for phase in workflow.Phase}
    for slug, status in statuses.STATUSES.items():
        by_phase[status.phase].append(slug)
    in_progress = [slug for slug in by_phase[workflow.Phase.ACTIVE] if slug != PLANNED]
    return [
        ("planned", _("Planned"), [PLANNED]),
        ("in_progress", _("In progress"), in_progress),
        ("completed", _("Completed"), by_phase[workflow.Phase.DONE]),
    ]


def lane_ideas(ideas, key: str, slugs: list[str]):
    """One lane's ideas, in no order; the completed lane only what shipped lately."""
    query = ideas.where(Idea.status.in_(slugs))
    if key == "completed":
        query = query.where(Idea.status_changed_at >= utcnow() - COMPLETED_SHOWN)
    return query


def by_votes(query):
    return query.order_by(Idea.vote_count.desc(), Idea.id.desc())


def lane_top(query) -> tuple[list[Idea], int]:
    """A lane's first LANE_SHOWN ideas by votes, and how many it holds in all."""
    top = db.session.scalars(by_votes(query).limit(LANE_SHOWN)).all()
    if len(top) < LANE_SHOWN:
        return top, len(top)
    return top, db.session.scalar(query.with_only_columns(func.count()))


@bp.get("/roadmap")
def roadmap():
    """The lanes, each with its top ideas; `?lane=<key>` shows one lane in full, by pages."""
    boards, board = shown_boards()
    ideas = public_ideas([board] if board else boards)
    lanes = roadmap_lanes()
    chosen = [lane for lane in lanes if lane[0] == request.args.get("lane")]
    if chosen:
        key, title, slugs = chosen[0]
        page = paginate(by_votes(lane_ideas(ideas, key, slugs)), page_number(), LANE_PAGE)
        shown = [Lane(key, title, page.items, None)]
    else:
        page = None
        shown = [Lane(key, title, *lane_top(lane_ideas(ideas, key, slugs)))
                 for key, title, slugs in lanes]  # fmt: skip
    return render(
        "public/roadmap.html", "lanes", lanes=shown, page=page, boards=boards, board=board
    )


def completed(boards):
    return (
        public_ideas(boards)
        .where(Idea.status == "completed")
        .order_by(Idea.status_changed_at.desc(), Idea.id.desc())
    )


@bp.get("/changelog")
def changelog():
    boards, board = shown_boards()
    page = paginate(completed([board] if board else boards), page_number(), CHANGELOG_PAGE)
    return render(
        "public/changelog.html", "entries", page=page, boards=boards, board=board,
        responses=latest_status_changes(page.items),
    )  # fmt: skip


@bp.get("/changelog.atom")
def changelog_feed():
    """What shipped on the public boards (or on ?board=, if it names one): feed readers ask
    without a session, so private boards stay out whoever asks."""
    boards = public_boards()
    board = next((b for b in boards if b.slug == request.args.get("board")), None)
    ideas = db.session.scalars(completed([board] if board else boards).limit(FEED_ENTRIES)).all()
    updated = ideas[0].status_changed_at if ideas and ideas[0].status_changed_at else utcnow()
    return atom_feed(
        "feeds/changelog.xml", ideas=ideas, responses=latest_status_changes(ideas),
        updated=updated, board=board,
    )  # fmt: skip
