"""Admin pages: the workflow's statuses and the moves between them."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal import workflow
from portal.extensions import db
from portal.htmx import render
from portal.models import BlockedTransition, Role
from portal.operations import ValidationError
from portal.operations.workflow_admin import add_status, set_transitions

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def admins_only():
    if not current_user.has_role(Role.ADMIN):
        abort(403)


def workflow_page(errors=None, entered=None, code=200):
    blocked = set(
        db.session.execute(db.select(BlockedTransition.source, BlockedTransition.target)).all()
    )
    return render(
        "admin/workflow.html",
        "workflow",
        code,
        all_statuses=list(workflow.STATUSES.values()),
        owner_statuses=workflow.owner_statuses(),
        blocked=blocked,
        phases=list(workflow.Phase),
        errors=errors or {},
        entered=entered or {},
    )


@bp.get("/workflow")
def workflow_settings():
    return workflow_page()


@bp.post("/statuses")
def new_status():
    fields = {name: request.form.get(name, "") for name in ("slug", "label", "colour", "phase")}
    try:
        status = add_status(current_user, **fields)
        db.session.commit()
    except ValidationError as invalid:
        db.session.rollback()
        return workflow_page(invalid.fields, fields, 422)
    flash(f"Added the status {status.label}.", "success")
    return redirect(url_for("admin.workflow_settings"), code=303)


@bp.post("/transitions")
def transitions():
    allowed = set()
    for value in request.form.getlist("allowed"):
        source, _, target = value.partition(">")
        allowed.add((source, target))
    try:
        set_transitions(current_user, allowed)
        db.session.commit()
    except ValidationError as invalid:
        db.session.rollback()
        return workflow_page(invalid.fields, code=422)
    flash("The allowed moves are saved.", "success")
    return redirect(url_for("admin.workflow_settings"), code=303)
