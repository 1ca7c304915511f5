"""Admin pages: boards and categories, people's roles, site settings, sign-in (providers
and the signed sign-on's secret), the workflow, webhooks."""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import format_datetime
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from portal import statuses, workflow
from portal.config import DEFAULT_SCOPES
from portal.database import all_or_nothing, keep_writes
from portal.exports import export_ideas, ideas_filename
from portal.extensions import db
from portal.htmx import render
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.models import (
    AuditEntry,
    BlockedTransition,
    Board,
    CustomStatus,
    IdentityProvider,
    Role,
    User,
    Webhook,
    WebhookDelivery,
)
from portal.operations import ValidationError
from portal.operations.accounts import absolute_url
from portal.operations.admin import add_category, save_board, save_site, set_role
from portal.operations.branding import LIMITS, remove_brand_image, save_brand_image
from portal.operations.openid_connect import providers
from portal.operations.sign_in_admin import (
    PROVIDER_FIELDS,
    check_provider,
    delete_provider,
    make_sign_on_secret,
    provider_fields,
    remove_sign_on_secret,
    save_provider,
)
from portal.operations.sign_in_modes import MODES, single_sign_on_ways
from portal.operations.single_sign_on import sign_on_enabled, sign_on_secret_from_environment
from portal.operations.two_factor import reset_two_factor
from portal.operations.webhooks.delivery import failing_webhook_count, last_attempts
from portal.operations.webhooks.editing import (
    create_webhook,
    delete_webhook,
    rotate_webhook_secret,
    send_again,
    send_test,
    set_webhook_active,
    update_webhook,
)
from portal.operations.webhooks.queueing import EVENTS
from portal.operations.workflow_admin import (
    SLUG,
    add_status,
    edit_status,
    ideas_with_status,
    remove_status,
    set_transitions,
)
from portal.settings import site_settings
from portal.views.guesses import second_factor_limit
from portal.views.helpers import carry_out, page_number, paginate

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def admins_only():
    if not current_user.has_role(Role.ADMIN):
        abort(403)


ROLE_NAMES = {
    Role.CUSTOMER: _l("customer"),
    Role.MODERATOR: _l("moderator"),
    Role.OWNER: _l("owner"),
    Role.ADMIN: _l("admin"),
}


def timestamp(moment, seconds: bool = False) -> str:
    """ "27 Nov 2026 16:18" in the page's language, seconds too if asked."""
    pattern = _("d MMM yyyy HH:mm:ss") if seconds else _("d MMM yyyy HH:mm")
    return format_datetime(moment, pattern)


@bp.context_processor
def webhook_health():
    """Every admin page warns of failing webhooks (a function: counted only when shown)."""
    return {"failing_webhooks": failing_webhook_count, "timestamp": timestamp}


def workflow_page(errors=None, entered=None, code=200, editing=None):
    """The workflow page; errors and entered belong to the form of the status being edited
    (its slug in editing), else to the form that adds one."""
    blocked = set(
        db.session.execute(db.select(BlockedTransition.source, BlockedTransition.target)).all()
    )
    every = list(statuses.STATUSES.values())
    custom = [status for status in every if status.slug not in workflow.BUILTIN_SLUGS]
    in_use = ideas_with_status([status.slug for status in custom])
    return render(
        "admin/workflow.html",
        "workflow",
        code,
        all_statuses=every,
        custom_statuses=custom,
        in_use=in_use,
        owner_statuses=statuses.owner_statuses(),
        blocked=blocked,
        phases=list(workflow.Phase),
        errors=errors or {},
        entered=entered or {},
        editing=editing,
    )


def get_custom_status(slug: str) -> CustomStatus:
    """An admin's own status by slug; 404 for a built-in or unknown one."""
    if not SLUG.fullmatch(slug):  # not one a status could have (a NUL byte, say)
        abort(404)
    status = db.session.scalar(db.select(CustomStatus).filter_by(slug=slug))
    if status is None:
        abort(404)
    return status


@bp.get("/workflow")
def workflow_settings():
    return workflow_page()


@bp.post("/statuses")
def new_status():
    fields = {name: request.form.get(name, "") for name in ("slug", "label", "colour", "phase")}
    try:
        with all_or_nothing():
            status = add_status(current_user, **fields)
    except ValidationError as invalid:
        return workflow_page(invalid.fields, fields, 422)
    flash(_("Added the status %(label)s.", label=status.label), "success")
    return redirect(url_for("admin.workflow_settings"), code=303)


@bp.post("/statuses/<slug>")
def update_status(slug):
    status = get_custom_status(slug)
    fields = {name: request.form.get(name, "") for name in ("label", "colour", "phase")}
    try:
        with all_or_nothing():
            edit_status(current_user, status, **fields)
    except ValidationError as invalid:
        return workflow_page(invalid.fields, fields, 422, editing=slug)
    flash(_("Saved the status %(label)s.", label=status.label), "success")
    return redirect(url_for("admin.workflow_settings"), code=303)


@bp.post("/statuses/<slug>/delete")
def delete_status(slug):
    status = get_custom_status(slug)
    return carry_out(lambda: remove_status(current_user, status),
                     _("Removed the status %(label)s.", label=status.label),
                     url_for("admin.workflow_settings"))  # fmt: skip


@bp.post("/transitions")
def transitions():
    allowed = set()
    for value in request.form.getlist("allowed"):
        source, _sep, target = value.partition(">")
        allowed.add((source, target))
    try:
        with all_or_nothing():
            set_transitions(current_user, allowed)
    except ValidationError as invalid:
        return workflow_page(invalid.fields, code=422)
    flash(_("The allowed moves are saved."), "success")
    return redirect(url_for("admin.workflow_settings"), code=303)


USERS_SHOWN = 50


@bp.get("/")
def index():
    return redirect(url_for("admin.boards"))


@bp.get("/boards")
def boards():
    all_boards = db.session.scalars(db.select(Board).order_by(Board.position, Board.name)).all()
    return render("admin/boards.html", "boards", boards=all_boards, errors={}, entered={})


@bp.post("/boards")
def new_board():
    try:
        with all_or_nothing():
            board = save_board(current_user, None, request.form)
    except ValidationError as invalid:
        all_boards = db.session.scalars(db.select(Board).order_by(Board.position)).all()
        return render("admin/boards.html", "boards", 422, boards=all_boards,
                      errors=invalid.fields, entered=request.form)  # fmt: skip
    flash(_("Created the board %(name)s.", name=board.name), "success")
    return redirect(url_for("admin.board", slug=board.slug), code=303)


def get_admin_board(slug) -> Board:
    board = db.session.scalar(db.select(Board).filter_by(slug=slug))
    if board is None:
        abort(404)
    return board


@bp.route("/boards/<slug>", methods=["GET", "POST"])
def board(slug):
    board = get_admin_board(slug)
    errors = {}
    if request.method == "POST":
        try:
            with all_or_nothing():
                save_board(current_user, board, request.form)
            flash(_("The board is saved."), "success")
            return redirect(url_for("admin.board", slug=board.slug), code=303)
        except ValidationError as invalid:
            errors = invalid.fields
    code = 422 if errors else 200
    return render("admin/board.html", "board_form", code, board=board, errors=errors,
                  entered=request.form if errors else {})  # fmt: skip


@bp.post("/boards/<slug>/categories")
def new_category(slug):
    board = get_admin_board(slug)
    try:
        with all_or_nothing():
            category = add_category(current_user, board, request.form.get("name", ""))
        flash(_("Added the category %(name)s.", name=category.name), "success")
    except ValidationError as invalid:
        flash(invalid.fields["category"], "error")
    return redirect(url_for("admin.board", slug=board.slug), code=303)


@bp.get("/users")
def users():
    return people_page(request.args.get("q", ""))


def people_page(text: str, proof_errors: dict[int, str] | None = None, status: int = 200):
    """The people whose name or email holds text; proof_errors puts a refused reset's
    reason beside that person's form."""
    query = (
        db.select(User).where(User.deleted_at.is_(None)).order_by(User.role_value.desc(), User.name)
    )
    if text := text.strip()[:100]:
        pattern = f"%{text.lower()}%"
        query = query.where(db.or_(db.func.lower(User.name).like(pattern),
                                   db.func.lower(User.email).like(pattern)))  # fmt: skip
    people = db.session.scalars(query.limit(USERS_SHOWN)).all()
    return render("admin/users.html", "users", status, people=people, roles=list(Role), q=text,
                  role_names=ROLE_NAMES, proof_errors=proof_errors or {})  # fmt: skip


def get_person(user_id: int) -> User:
    """The account with this id, deleted ones apart; 404 otherwise."""
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        abort(404)
    return user


@bp.post("/users/<int:user_id>/role")
def user_role(user_id):
    user = get_person(user_id)
    try:
        with all_or_nothing():
            set_role(current_user, user, request.form.get("role"))
        flash(_("%(name)s is now %(role)s.", name=user.display_name, role=ROLE_NAMES[user.role]),
              "success")  # fmt: skip
    except ValidationError as invalid:
        flash(invalid.fields["role"], "error")
    return redirect(url_for("admin.users"), code=303)


@bp.post("/users/<int:user_id>/two-factor/reset")
@second_factor_limit
def reset_user_two_factor(user_id):
    """For someone who lost their authenticator app and recovery codes; the admin confirms
    with their own password or code, a wrong one counting as a wrong code (422)."""
    user = get_person(user_id)
    return carry_out(lambda: reset_two_factor(current_user, user, request.form.get("proof", "")),
                     _("Two-factor sign-in of %(name)s is off, their sessions are ended and "
                       "their API tokens revoked; they were told by mail.",
                       name=user.display_name),
                     url_for("admin.users", q=user.email),
                     invalid=lambda wrong: people_page(user.email, {user.id: wrong.explanation},
                                                       422))  # fmt: skip


@bp.route("/site", methods=["GET", "POST"])
def site():
    errors = {}
    if request.method == "POST":
        try:
            with all_or_nothing():
                save_site(current_user, request.form)
            flash(_("The site settings are saved."), "success")
            return redirect(url_for("admin.site"), code=303)
        except ValidationError as invalid:
            errors = invalid.fields
    return site_page(errors, request.form if errors else site_settings())


def site_page(errors: dict, values):
    return render("admin/site.html", "site_form", 422 if errors else 200, values=values,
                  errors=errors, modes=MODES, ways=single_sign_on_ways(),
                  limits={kind: limit // 1024 for kind, limit in LIMITS.items()})  # fmt: skip


@bp.post("/site/<kind>")
def upload_image(kind: str):
    """A new logo or favicon; a refused file shows the page again with the reason."""
    if kind not in LIMITS:
        abort(404)
    try:
        with all_or_nothing():
            save_brand_image(current_user, kind, request.files.get("image"))
    except ValidationError as invalid:
        return site_page(invalid.fields, site_settings())
    flash(_("The new %(kind)s is saved.", kind=_("logo") if kind == "logo" else _("favicon")),
          "success")  # fmt: skip
    return redirect(url_for("admin.site", _anchor="branding"), code=303)


@bp.post("/site/<kind>/remove")
def remove_image(kind: str):
    """Back to the default logo (the site's name) or favicon."""
    if kind not in LIMITS:
        abort(404)
    with all_or_nothing():
        removed = remove_brand_image(current_user, kind)
    if removed:
        flash(_("The default is back."), "success")
    return redirect(url_for("admin.site", _anchor="branding"), code=303)


AUDIT_PAGE = 50


@bp.get("/audit")
def audit():
    """Every staff action, newest first; nothing here or anywhere edits or deletes one."""
    actions = db.session.scalars(
        db.select(AuditEntry.action).distinct().order_by(AuditEntry.action)
    ).all()
    query = (
        db.select(AuditEntry)
        .options(joinedload(AuditEntry.actor))
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    )
    filters = {
        "person": request.args.get("person", "").strip()[:100],
        "action": request.args.get("action", "") if request.args.get("action") in actions else "",
        "target": request.args.get("target", "").strip()[:40],
    }
    if filters["person"]:
        pattern = f"%{filters['person'].lower()}%"
        query = query.join(User, User.id == AuditEntry.actor_id).where(
            db.or_(db.func.lower(User.name).like(pattern), db.func.lower(User.email).like(pattern))
        )
    if filters["action"]:
        query = query.where(AuditEntry.action == filters["action"])
    if filters["target"]:
        kind, _sep, number = filters["target"].partition(" ")
        query = query.where(AuditEntry.target_type == kind.lower())
        if number.isdecimal() and len(number) < 10:
            query = query.where(AuditEntry.target_id == int(number))
    page = paginate(query, page_number(), AUDIT_PAGE)
    return render("admin/audit.html", "entries", page=page, actions=actions, filters=filters)


# -- webhooks ---------------------------------------------------------------------------


def get_webhook(hook_id: int) -> Webhook:
    hook = db.session.get(Webhook, hook_id)
    if hook is None:
        abort(404)
    return hook


def typed(form) -> dict:
    """What the admin typed into a webhook form, to show it again with its errors."""
    return {"url": form.get("url", ""), "description": form.get("description", ""),
            "events": form.getlist("events")}  # fmt: skip


def webhooks_page(errors=None, values=None, code=200):
    hooks = db.session.scalars(db.select(Webhook).order_by(Webhook.created_at, Webhook.id)).all()
    values = values or {"url": "", "description": "", "events": list(EVENTS)}
    return render("admin/webhooks.html", "webhooks", code, hooks=hooks, last=last_attempts(hooks),
                  events=EVENTS, errors=errors or {}, values=values)  # fmt: skip


@bp.get("/webhooks")
def webhooks():
    return webhooks_page()


@bp.post("/webhooks")
def new_webhook():
    try:
        with all_or_nothing():
            hook = create_webhook(current_user, request.form)
    except ValidationError as invalid:
        return webhooks_page(invalid.fields, typed(request.form), 422)
    flash(_("Added the webhook. Give its signing secret (below) to the receiver."), "success")
    return redirect(url_for("admin.webhook", hook_id=hook.id), code=303)


@bp.route("/webhooks/<int:hook_id>", methods=["GET", "POST"])
def webhook(hook_id):
    hook = get_webhook(hook_id)
    errors = {}
    if request.method == "POST":
        try:
            with all_or_nothing():
                update_webhook(current_user, hook, request.form)
            flash(_("The webhook is saved."), "success")
            return redirect(url_for("admin.webhook", hook_id=hook.id), code=303)
        except ValidationError as invalid:
            errors = invalid.fields
    values = typed(request.form) if errors else {"url": hook.url, "events": hook.events,
                                                 "description": hook.description}  # fmt: skip
    return render("admin/webhook.html", "webhook_form", 422 if errors else 200, hook=hook,
                  last=last_attempts([hook]).get(hook.id), events=EVENTS, errors=errors,
                  values=values)  # fmt: skip


def back_to(hook: Webhook) -> str:
    return url_for("admin.webhook", hook_id=hook.id)


@bp.post("/webhooks/<int:hook_id>/pause")
def pause_webhook(hook_id):
    hook = get_webhook(hook_id)
    return carry_out(lambda: set_webhook_active(current_user, hook, False),
                     _("The webhook is paused: no events are sent to it."),
                     back_to(hook))  # fmt: skip


@bp.post("/webhooks/<int:hook_id>/resume")
def resume_webhook(hook_id):
    hook = get_webhook(hook_id)
    return carry_out(lambda: set_webhook_active(current_user, hook, True),
                     _("The webhook is active again: new events are sent to it."),
                     back_to(hook))  # fmt: skip


@bp.post("/webhooks/<int:hook_id>/secret")
def rotate_secret(hook_id):
    hook = get_webhook(hook_id)
    return carry_out(lambda: rotate_webhook_secret(current_user, hook),
                     _("The webhook has a new signing secret: give it to the receiver."),
                     back_to(hook))  # fmt: skip


@bp.post("/webhooks/<int:hook_id>/delete")
def remove_webhook(hook_id):
    hook = get_webhook(hook_id)
    return carry_out(lambda: delete_webhook(current_user, hook),
                     _("Deleted the webhook to %(url)s.", url=hook.url),
                     url_for("admin.webhooks"))  # fmt: skip


@bp.post("/webhooks/<int:hook_id>/test")
def test_webhook(hook_id):
    """Send a ping now and say how the receiver answered."""
    hook = get_webhook(hook_id)
    ping = send_test(current_user, hook)
    if ping.delivered_at:
        flash(_("The test was delivered: HTTP %(code)s in %(ms)s ms.", code=ping.response_code,
                ms=ping.duration_ms), "success")  # fmt: skip
    else:
        flash(_("The test failed: %(error)s", error=ping.error), "error")
    return redirect(url_for("admin.webhook_deliveries", hook_id=hook.id), code=303)


@bp.post("/webhooks/<int:hook_id>/deliveries/<int:delivery_id>/again")
def send_delivery_again(hook_id, delivery_id):
    """Queue a failed event once more; the worker sends it."""
    hook = get_webhook(hook_id)
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != hook.id:
        abort(404)
    return carry_out(lambda: send_again(current_user, delivery),
                     _("Delivery #%(id)s is queued to be sent again, as a new delivery.",
                       id=delivery.id),
                     url_for("admin.webhook_deliveries", hook_id=hook.id))  # fmt: skip


DELIVERIES_PAGE = 30


@bp.get("/webhooks/<int:hook_id>/deliveries")
def webhook_deliveries(hook_id):
    """The hook's delivery log, newest first."""
    hook = get_webhook(hook_id)
    query = (
        db.select(WebhookDelivery)
        .filter_by(webhook_id=hook.id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    )
    page = paginate(query, page_number(), DELIVERIES_PAGE)
    return render("admin/webhook_deliveries.html", "deliveries", hook=hook, page=page)


# -- exports ----------------------------------------------------------------------------


@bp.get("/export/ideas.csv")
def export_ideas_csv():
    """Every idea, or one board's (?board=slug), as a CSV download streamed in chunks."""
    board = None
    if slug := request.args.get("board"):
        board = None if "\x00" in slug else db.session.scalar(db.select(Board).filter_by(slug=slug))
        if board is None:
            abort(404)
    chunks = export_ideas(current_user, board)
    keep_writes()  # the audit entry, before the first row leaves (a GET commits nothing)
    return current_app.response_class(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{ideas_filename(board)}"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip


# -- sign-in: OpenID Connect providers and the signed sign-on's secret ---------------------


def get_stored_provider(name: str) -> IdentityProvider:
    row = db.session.scalar(db.select(IdentityProvider).where(IdentityProvider.name == name))
    if row is None:
        abort(404)
    return row


def sign_in_page(errors=None, values=None, code=200, new_secret=None):
    stored = db.session.scalars(db.select(IdentityProvider).order_by(IdentityProvider.label))
    return render("admin/sign_in.html", "sign_in", code, providers=providers().values(),
                  stored={row.name for row in stored}, errors=errors or {},
                  values=values or {"scopes": DEFAULT_SCOPES}, new_secret=new_secret,
                  sign_on=sign_on_enabled(), absolute_url=absolute_url,
                  sign_on_from_environment=bool(sign_on_secret_from_environment()))  # fmt: skip


def provider_form(form) -> dict:
    """What the admin typed, to show again with its errors (never the secret)."""
    return {field: form.get(field, "") for field in PROVIDER_FIELDS}


@bp.get("/sign-in")
def sign_in_settings():
    return sign_in_page()


@bp.post("/sign-in/providers")
def new_provider():
    try:
        with all_or_nothing():
            row = save_provider(current_user, None, request.form)
    except ValidationError as invalid:
        return sign_in_page(invalid.fields, provider_form(request.form), 422)
    warn_if_unusable(row)
    flash(_("Added %(label)s: its button is on the sign-in page.", label=row.label), "success")
    return redirect(url_for("admin.sign_in_settings"), code=303)


def warn_if_unusable(row: IdentityProvider) -> None:
    if problem := check_provider(row):
        flash(_("Saved, but signing in with it will not work yet: %(problem)s", problem=problem),
              "error")  # fmt: skip


@bp.route("/sign-in/providers/<name>", methods=["GET", "POST"])
def provider(name):
    row = get_stored_provider(name)
    errors = {}
    if request.method == "POST":
        try:
            with all_or_nothing():
                save_provider(current_user, row, request.form)
        except ValidationError as invalid:
            errors = invalid.fields
        else:
            warn_if_unusable(row)
            flash(_("%(label)s is saved.", label=row.label), "success")
            return redirect(url_for("admin.sign_in_settings"), code=303)
    values = provider_form(request.form) if errors else provider_fields(row)
    return render("admin/provider.html", "provider_form", 422 if errors else 200, row=row,
                  values=values, errors=errors, absolute_url=absolute_url)  # fmt: skip


@bp.post("/sign-in/providers/<name>/delete")
def remove_provider(name):
    row = get_stored_provider(name)
    label = row.label
    return carry_out(lambda: delete_provider(current_user, row),
                     _("Removed %(label)s from the sign-in page.", label=label),
                     url_for("admin.sign_in_settings"))  # fmt: skip


@bp.post("/sign-in/secret")
def new_sign_on_secret():
    """Shown once, in this answer: later pages never show a saved secret."""
    try:
        with all_or_nothing():
            secret = make_sign_on_secret(current_user)
    except ValidationError as invalid:
        return sign_in_page(invalid.fields, code=422)
    return sign_in_page(new_secret=secret)


@bp.post("/sign-in/secret/delete")
def remove_sign_on_secret_view():
    return carry_out(lambda: remove_sign_on_secret(current_user),
                     _("Signed sign-on is off: the company's links no longer sign anyone in."),
                     url_for("admin.sign_in_settings"))  # fmt: skip
