"""Figures for the product team: who waits for an answer, how fast the team answers, how
votes grow. Read-only queries; the dashboard and the home page show them."""

import statistics
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, exists, func, or_

from portal import statuses
from portal.extensions import db
from portal.i18n import gettext as _
from portal.i18n import ngettext
from portal.models import Comment, Idea, StatusChange, Vote, utcnow

WAITING_SHOWN = 20
CHART_DAYS = 30


def official_answer_times():
    """(idea id, time of its first official answer): a status change with a response or
    an official comment, whichever came first."""
    changes = db.select(StatusChange.idea_id, StatusChange.created_at).where(
        StatusChange.response != ""
    )
    comments = db.select(Comment.idea_id, Comment.created_at).where(
        Comment.is_official.is_(True), Comment.is_deleted.is_(False)
    )
    answers = changes.union_all(comments).subquery()
    return db.select(
        answers.c.idea_id, func.min(answers.c.created_at).label("answered_at")
    ).group_by(answers.c.idea_id)


def waiting_for_answer(board_ids, assignee_id=None, limit=WAITING_SHOWN) -> list[Idea]:
    """Open ideas nobody from the team has answered yet, most votes first."""
    answered_change = exists().where(
        and_(StatusChange.idea_id == Idea.id, StatusChange.response != "")
    )
    answered_comment = exists().where(
        and_(
            Comment.idea_id == Idea.id, Comment.is_official.is_(True), Comment.is_deleted.is_(False)
        )
    )
    query = (
        db.select(Idea)
        .where(
            Idea.public_clause(),
            Idea.board_id.in_(board_ids),
            Idea.status.in_([s for s in statuses.STATUSES if statuses.accepts_votes(s)]),
            ~or_(answered_change, answered_comment),
        )
        .order_by(Idea.vote_count.desc(), Idea.created_at)
        .limit(limit)
    )
    if assignee_id is not None:
        query = query.where(Idea.assignee_id == assignee_id)
    return db.session.scalars(query).all()


def median_first_answer(days: int) -> timedelta | None:
    """Median time from posting to the first official answer, over ideas posted in the
    last `days` days that have one; None when there are none."""
    answered = official_answer_times().subquery()
    rows = db.session.execute(
        db.select(Idea.created_at, answered.c.answered_at)
        .join(answered, answered.c.idea_id == Idea.id)
        .where(Idea.created_at >= utcnow() - timedelta(days=days), Idea.public_clause())
    ).all()
    waits = [as_utc(answered_at) - created_at for created_at, answered_at in rows]
    return statistics.median(waits) if waits else None


def as_utc(moment):
    """A union's column loses the UTCDateTime type on some databases: give it back."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def status_counts(board_ids) -> dict[str, int]:
    return dict(
        db.session.execute(
            db.select(Idea.status, func.count())
            .where(Idea.public_clause(), Idea.board_id.in_(board_ids))
            .group_by(Idea.status)
        ).all()
    )


def votes_over_time(idea_ids, days: int = CHART_DAYS) -> dict[int, list[int]]:
    """For each idea, its vote count at the end of each of the last `days` days."""
    start = utcnow() - timedelta(days=days)
    totals = {idea_id: [0] * days for idea_id in idea_ids}
    before = dict(
        db.session.execute(
            db.select(Vote.idea_id, func.coalesce(func.sum(Vote.weight), 0))
            .where(Vote.idea_id.in_(idea_ids), Vote.created_at < start)
            .group_by(Vote.idea_id)
        ).all()
    )
    recent = db.session.execute(
        db.select(Vote.idea_id, Vote.created_at, Vote.weight).where(
            Vote.idea_id.in_(idea_ids), Vote.created_at >= start
        )
    ).all()
    added = {idea_id: [0] * days for idea_id in idea_ids}
    for idea_id, created_at, weight in recent:
        day = min(days - 1, (created_at - start).days)
        added[idea_id][day] += weight
    for idea_id in idea_ids:
        running = before.get(idea_id, 0)
        for day in range(days):
            running += added[idea_id][day]
            totals[idea_id][day] = running
    return totals


def sparkline(values: list[int], width: int = 120, height: int = 28) -> str:
    """SVG polyline points for values, scaled into width x height (no chart library)."""
    top = max(values) or 1
    step = width / max(1, len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (value / top) * (height - 4):.1f}"
        for i, value in enumerate(values)
    )


def describe_wait(wait: timedelta | None) -> str | None:
    """'3 hours', '2 days': how a person would say it."""
    if wait is None:
        return None
    hours = wait.total_seconds() / 3600
    if hours < 1:
        return _("less than an hour")
    if hours < 48:
        return ngettext("%(num)d hour", "%(num)d hours", round(hours))
    return ngettext("%(num)d day", "%(num)d days", round(hours / 24))


def team_promise(days: int) -> str | None:
    """'2 days': the median wait for a first answer over the last `days` days, in words."""
    return describe_wait(median_first_answer(days))
