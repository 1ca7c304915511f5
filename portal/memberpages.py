"""Signed-in board pages from one shared render (issue 7).

A board page looks the same to every signed-in person of one role, except for a few
parts that are each person's own: the header's account links, the vote budget, and the
vote widgets and "You gave" marks (budget boards) of the ideas they voted on. The first
render of a page marks those parts as slots (`slot()` in the templates) and is kept, like
visitors' pages, for a few seconds and one page version. Later requests of the same role
fill in only their own slots: one query for their votes on the page's ideas, a small
render of the header, and a new render of just the widgets and marks whose state differs
from the kept render's.

Nothing personal stays in a kept render outside its slots: the CSRF token and the CSP
nonce are replaced by marks, and each request puts in its own. Slot marks are HTML
comments that only templates write (people's text is escaped), and they never leave the
server. tests/test_memberpages.py checks that a page from the shared render is the page
a full render gives.
"""

import re
import time
from dataclasses import dataclass

from flask import current_app, g, render_template, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from portal.extensions import db
from portal.htmx import wants_fragment
from portal.i18n import language
from portal.models import Vote
from portal.operations.votes import votes_left
from portal.pagecache import shared_versions
from portal.security import csp_nonce

SLOT = re.compile(rb"<!--slot:([\w-]+)-->(.*?)<!--/slot-->", re.S)
MARKS = re.compile(rb"<!--slot:[\w-]+-->|<!--/slot-->")
# NUL never reaches a page (control characters are stripped from input), so these marks
# cannot stand for anything else.
NONCE, TOKEN = b"\x00nonce\x00", b"\x00csrf\x00"
_vote = Vote.__table__
# Built once, run on the session's connection: a statement's construction would cost more
# than running it.
MY_WEIGHTS = db.select(_vote.c.idea_id, _vote.c.weight).where(
    _vote.c.user_id == db.bindparam("user_id"),
    _vote.c.idea_id.in_(db.bindparam("ids", expanding=True)),
)


def slot(name: str | None = None) -> Markup:
    """A template's mark around a personal part: start with a name, end without one."""
    if not g.get("marking_slots"):
        return Markup("")
    return Markup(f"<!--slot:{name}-->" if name else "<!--/slot-->")


@dataclass(frozen=True, slots=True)
class BoardLimits:
    """What a vote widget and the budget line read from the board."""

    id: int
    votes_per_user: int
    max_votes_per_idea: int

    @property
    def has_budget(self) -> bool:
        return self.votes_per_user > 0


@dataclass(frozen=True, slots=True)
class VoteTarget:
    """What a vote widget reads from its idea, and the weight it was rendered with."""

    id: int
    number: int
    vote_count: int
    status: str
    board: BoardLimits
    rendered_weight: int


@dataclass(frozen=True, slots=True)
class SharedRender:
    version: int
    expires: float
    parts: tuple[bytes | str, ...]  # text, and slot names between it
    defaults: dict[str, bytes]  # what each slot held in the kept render
    targets: tuple[VoteTarget, ...]
    board: BoardLimits


def is_member_request() -> bool:
    """A signed-in GET of a board page that the shared render can answer."""
    return (
        current_user.is_authenticated
        and not current_user.is_blocked  # their pages carry a notice of their own
        and "_flashes" not in session
        and current_app.config["PAGE_CACHE_SECONDS"] > 0
    )


def _key() -> tuple:
    return (
        "member",
        current_user.role_value,
        language(),
        request.path,
        request.query_string,
        wants_fragment(),
    )


def serve():
    """The board page from a kept render, or None (then the view renders it, marking slots)."""
    g.pop("member_slot", None)
    if not is_member_request():
        return None
    version = shared_versions().pages
    if version is None:
        return None
    cache = current_app.extensions["pagecache"]
    kept = cache.get(_key(), version)
    if kept is None:
        g.member_slot = _key(), version
        g.marking_slots = True
        return None
    fills = _own_slots(kept)
    body = b"".join(
        fills.get(p, kept.defaults.get(p)) if isinstance(p, str) else p for p in kept.parts
    )
    body = body.replace(NONCE, csp_nonce().encode()).replace(TOKEN, generate_csrf().encode())
    return current_app.response_class(body, mimetype="text/html")


def _own_slots(kept: SharedRender) -> dict[str, bytes]:
    ids = [target.id for target in kept.targets]
    found = db.session.connection().execute(MY_WEIGHTS, {"user_id": current_user.id, "ids": ids})
    weights = dict(found.all())
    fills = {"account": render_template("_account_nav.html").encode()}
    if kept.board.has_budget:
        left = votes_left(current_user, kept.board)
        fills["budget"] = render_template(
            "ideas/_budget.html", votes_left=left, board=kept.board
        ).encode()
    changed = [
        (target, {"vote_count": target.vote_count, "my_weight": weights.get(target.id, 0)})
        for target in kept.targets
        if weights.get(target.id, 0) != target.rendered_weight
    ]
    if changed:
        g.marking_slots = True
        widgets = render_template("ideas/_vote_slots.html", forms=changed).encode()
        fills.update((m.group(1).decode(), m.group(2)) for m in SLOT.finditer(widgets))
    return fills


def keep(response, board, ideas, weights: dict[int, int]):
    """After a full render: keep it for this role if serve() asked to; strip the marks."""
    wanted = g.pop("member_slot", None)
    if not g.pop("marking_slots", False):
        return response
    body = response.get_data()
    if wanted and response.status_code == 200:
        key, version = wanted
        limits = BoardLimits(board.id, board.votes_per_user, board.max_votes_per_idea)
        targets = tuple(
            VoteTarget(
                idea.id,
                idea.number,
                idea.vote_count,
                idea.status,
                limits,
                weights.get(idea.id, 0),
            )  # fmt: skip
            for idea in ideas
        )
        parts, defaults = _split(body)
        cache = current_app.extensions["pagecache"]
        expires = time.monotonic() + cache.seconds
        cache.put(key, SharedRender(version, expires, parts, defaults, targets, limits))
    response.set_data(MARKS.sub(b"", body))
    return response


def _split(body: bytes) -> tuple[tuple[bytes | str, ...], dict[str, bytes]]:
    """The render's text and slots, with its nonce and CSRF token replaced by marks."""

    def unpersonal(text: bytes) -> bytes:
        for value, mark in ((g.get("csp_nonce"), NONCE), (g.get("csrf_token"), TOKEN)):
            if value:
                text = text.replace(value.encode(), mark)
        return text

    parts, defaults, start = [], {}, 0
    for match in SLOT.finditer(body):
        name = match.group(1).decode()
        parts += [unpersonal(body[start : match.start()]), name]
        defaults[name] = unpersonal(match.group(2))
        start = match.end()
    parts.append(unpersonal(body[start:]))
    return tuple(parts), defaults
