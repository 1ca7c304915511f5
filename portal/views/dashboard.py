"""The product team's view: what waits for an answer, how fast the team answers."""

from flask import Blueprint, abort, request
from flask_login import current_user, login_required

from portal import insights
from portal.extensions import db
from portal.htmx import render
from portal.i18n import gettext as _
from portal.models import Role, User
from portal.operations.status import assign_idea
from portal.queries import get_idea, visible_boards
from portal.views.helpers import carry_out, idea_url

bp = Blueprint("dashboard", __name__)


def require_owner() -> None:
    if not current_user.has_role(Role.OWNER):
        abort(403)


@bp.get("/dashboard")
@login_required
def dashboard():
    require_owner()
    board_ids = [board.id for board in visible_boards()]
    mine = request.args.get("mine") == "1"
    waiting = insights.waiting_for_answer(board_ids, current_user.id if mine else None)
    charts = insights.votes_over_time([idea.id for idea in waiting])
    return render(
        "dashboard/index.html",
        "waiting",
        waiting=waiting,
        charts={idea_id: insights.sparkline(values) for idea_id, values in charts.items()},
        mine=mine,
        counts=insights.status_counts(board_ids),
        promise={
            days: insights.describe_wait(insights.median_first_answer(days)) for days in (30, 90)
        },
    )


@bp.post("/ideas/<int:number>/assignee")
@login_required
def assign(number):
    idea = get_idea(number)
    if not idea.can_change_status(current_user):
        abort(403)  # before reading the input: a 400 would tell outsiders who exists
    value = request.form.get("assignee", "")
    assignee = db.session.get(User, int(value)) if value.isdecimal() and len(value) < 10 else None
    if value and assignee is None:
        abort(400)
    done = (
        _("Assigned to %(name)s.", name=assignee.display_name)
        if assignee
        else _("Nobody is assigned now.")
    )
    return carry_out(lambda: assign_idea(current_user, idea, assignee), done, idea_url(idea))
