"""What visitors and customers use: boards, ideas, votes and comments."""

import secrets

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from portal import memberpages, statuses, workflow
from portal.database import all_or_nothing, keep_writes, reads_first
from portal.extensions import db
from portal.forms import CommentForm, IdeaForm, StatusForm, show_errors
from portal.htmx import render, render_or_redirect, wants_fragment
from portal.i18n import gettext as _
from portal.insights import team_promise
from portal.markup import clean_text
from portal.models import Board, Comment, Idea, Merge, Role, Subscription, User, Vote
from portal.operations import OperationError, ValidationError
from portal.operations.comments import add_comment, edit_comment
from portal.operations.flags import flag
from portal.operations.ideas import edit_idea, existing_submission, submit_idea
from portal.operations.intents import kept_draft
from portal.operations.merges import merge_ideas, undo_merge
from portal.operations.moderation import require_moderator
from portal.operations.status import change_status
from portal.operations.subscriptions import set_subscription
from portal.operations.votes import (
    cast_vote,
    retract_vote,
    vote_state,
    votes_left,
)
from portal.queries import (
    CLOSED,
    OPEN_FOR_VOTES,
    SORTS,
    STATUS_GROUPS,
    board_query,
    get_idea,
    has_ideas,
    ideas_by_number,
    latest_status_changes,
    listed_ideas,
    my_votes,
    phase_tallies,
    visible_boards,
)
from portal.ratelimits import named_limit
from portal.search import scored_similar_ideas, strong_match
from portal.settings import site_settings
from portal.views.helpers import (
    atom_feed,
    carry_out,
    get_board,
    idea_url,
    page_number,
    paginate,
    safe_next,
)
from portal.views.presses import hold_and_sign_in, press

bp = Blueprint("public", __name__)


@bp.get("/")
def index():
    boards = visible_boards()
    public_ideas = (
        listed_ideas()
        .where(Idea.board_id.in_([board.id for board in boards]))
        .options(joinedload(Idea.board))
        .limit(6)
    )
    popular = db.session.scalars(
        public_ideas.where(Idea.status.in_(statuses.voting_statuses())).order_by(
            Idea.vote_count.desc(), Idea.trending.desc(), Idea.id.desc()
        )
    ).all()
    shipped = db.session.scalars(
        public_ideas.where(Idea.status == "completed").order_by(Idea.status_changed_at.desc())
    ).all()
    return render(
        "public/index.html", "boards", boards=boards, tallies=phase_tallies(boards),
        popular=popular, shipped=shipped, promise=team_promise(90),
    )  # fmt: skip


def board_filters(board) -> dict:
    """The board page's sort and filters from the query string. Until a person picks a
    status, the page lists the ideas they can still vote for; `?status=` (empty) is every
    status, as "Any status" in the filter sends it."""
    sort = request.args.get("sort", "trending")
    status = request.args.get("status", OPEN_FOR_VOTES)
    category = request.args.get("category", "")
    known = status == "" or status in STATUS_GROUPS or status in statuses.STATUSES
    return {
        "sort": sort if sort in SORTS else "trending",
        "status": status if known else OPEN_FOR_VOTES,
        "category": category if any(c.slug == category for c in board.categories) else "",
    }


def only_closed_left(board, filters) -> bool:
    """Whether a page of the default listing came out empty while closed ideas match."""
    if filters["status"] != OPEN_FOR_VOTES:
        return False
    return has_ideas(board, dict(filters, status=CLOSED))


@bp.get("/b/<slug>")
def board(slug):
    if (shared := memberpages.serve()) is not None:
        return shared
    board = get_board(slug)
    filters = board_filters(board)
    page = paginate(board_query(board, filters), page_number(), current_app.config["PER_PAGE"])
    weights = my_votes(current_user, page.items)
    response = render(
        "public/board.html",
        "idea_list",
        board=board,
        filters=filters,
        sorts=SORTS,
        status_groups=STATUS_GROUPS,
        default_status=OPEN_FOR_VOTES,
        closed=CLOSED,
        closed_waiting=not page.items and only_closed_left(board, filters),
        page=page,
        my_votes=weights,
        votes_left=votes_left(current_user, board),
    )
    return memberpages.keep(response, board, page.items, weights)


def idea_context(idea, comment_form=None) -> dict:
    """Everything the idea page shows: activity, the vote widget and the forms."""
    staff = current_user.is_authenticated and current_user.is_staff
    comments_query = (
        db.select(Comment)
        .options(joinedload(Comment.author))
        .where(Comment.idea_id == idea.id, Comment.visible_clause(current_user))
        .order_by(Comment.created_at, Comment.id)
    )
    # Pinned staff comments first, then everything in time order.
    activity = sorted(
        [*db.session.scalars(comments_query).all(), *idea.status_changes],
        key=lambda item: (not getattr(item, "is_pinned", False), item.created_at),
    )
    subscription = None
    if current_user.is_authenticated:
        subscription = db.session.scalar(
            db.select(Subscription).filter_by(user_id=current_user.id, idea_id=idea.id)
        )
    owners = []
    if idea.can_change_status(current_user):
        owners = db.session.scalars(
            db.select(User)
            .where(User.role_value >= int(Role.OWNER), User.deleted_at.is_(None))
            .order_by(User.name)
        ).all()
    merges = []
    if staff:
        merges = db.session.scalars(
            db.select(Merge).filter_by(target_id=idea.id, undone_at=None).order_by(Merge.id)
        ).all()
    return {
        "idea": idea,
        "owners": owners,
        "merges": merges,
        "activity": activity,
        "state": vote_state(current_user, idea),
        # Only for those who may comment: a form makes a CSRF token, and so a session.
        "comment_form": comment_form
        or (CommentForm(formdata=None) if idea.can_comment(current_user) else None),
        "subscription": subscription,
    }


@bp.get("/ideas/<int:number>")
@bp.get("/ideas/<int:number>-<path:slug>")
def idea(number, slug=None):
    idea = get_idea(number)
    if idea.merged_into is not None and idea.status == workflow.DUPLICATE:
        # 302, never 301: browsers keep a 301 for good, and a merge can be undone (SPEC 4).
        return redirect(idea_url(idea.merged_into), code=302)
    return render("ideas/detail.html", "idea_page", **idea_context(idea, kept_comment(idea)))


def kept_comment(idea) -> CommentForm | None:
    """The comment form with the text someone wrote before signing in (?draft=)."""
    draft = kept_draft(current_user, request.args.get("draft"), "comment")
    if draft is None or draft.idea_number != idea.number or not idea.can_comment(current_user):
        return None
    return CommentForm(formdata=None, data={"body": draft.body})


VOTERS_PER_PAGE = 100


@bp.get("/ideas/<int:number>/voters")
def voters(number):
    idea = get_idea(number)
    if not idea.board.can_see_voters(current_user):
        abort(403)
    votes = (
        db.select(Vote)
        .options(joinedload(Vote.user))
        .filter_by(idea_id=idea.id)
        .order_by(Vote.created_at, Vote.id)
    )
    page = paginate(votes, page_number(), VOTERS_PER_PAGE)
    return render_template("ideas/voters.html", idea=idea, page=page)


def _weight() -> int:
    value = request.form.get("weight", "1")
    return int(value) if value.isdecimal() and len(value) < 3 else 0


def _keep_vote(number):
    return {"kind": "vote", "number": number, "weight": _weight() or 1}, _idea_page(number)


def _idea_page(number, anchor=None) -> str:
    return url_for("public.idea", number=number, _anchor=anchor)


@bp.post("/ideas/<int:number>/vote")
@reads_first  # the person and the idea are read before the operation takes the write lock
@named_limit("vote")
@press(_keep_vote)
def vote(number):
    idea = get_idea(number)
    site_settings()  # read now for the answer's template, not under the write lock
    error = None
    try:
        with all_or_nothing():
            if request.form.get("action") == "retract":
                state = retract_vote(current_user, idea)
            else:
                state = cast_vote(current_user, idea, _weight())
        keep_writes()  # before the widget renders: SQLite's write lock is held for the vote only
    except OperationError as refused:
        error = refused.fields.get("weight") or refused.message
        state = vote_state(current_user, idea)
        if not request.htmx:
            flash(error, "error")
    return render_or_redirect(
        safe_next(idea_url(idea)),
        "ideas/_vote.html",
        "vote",
        idea=idea,
        state=state,
        error=error,
        oob_budget=True,
        card=request.form.get("card") == "1",
    )


@bp.route("/b/<slug>/new", methods=["GET", "POST"])
@named_limit("post", methods=["POST"])
def submit(slug):
    """The new-idea form: visitors may write and see similar ideas too; their post keeps
    the text and asks them to sign in (SPEC section 12)."""
    board = board_to_write_on(slug)
    form = IdeaForm()
    form.category.choices = [("", _("No category"))] + [
        (str(c.id), c.name) for c in board.categories
    ]
    if not form.is_submitted():
        form.submission_key.data = secrets.token_urlsafe(16)
        if draft := kept_draft(current_user, request.args.get("draft"), "idea"):
            form.title.data, form.body.data = draft.title, draft.body
        return render("ideas/new.html", "idea_form", board=board, form=form)
    signed_in = current_user.is_authenticated
    if signed_in and (existing := existing_submission(current_user, form.submission_key.data)):
        return redirect(idea_url(existing), code=303)  # a second click on the same form
    if not form.confirmed.data and (similar := similar_to(board, form.title.data)):
        form.confirmed.data = "1"  # the next submit posts
        return render("ideas/new.html", "idea_form", board=board, form=form, **similar)
    if not signed_in:
        draft = {"kind": "idea", "slug": board.slug, "title": form.title.data or "",
                 "body": form.body.data or ""}  # fmt: skip
        return hold_and_sign_in(draft, url_for("public.submit", slug=board.slug))
    try:
        with all_or_nothing():
            idea = submit_idea(
                current_user, board, form.title.data, form.body.data, form.category.data,
                form.submission_key.data,
            )  # fmt: skip
    except ValidationError as invalid:
        show_errors(form, invalid)
        return render("ideas/new.html", "idea_form", 422, board=board, form=form)
    if idea.is_held:
        flash(
            _("Thanks! Your idea waits for a moderator's approval before others can see it."),
            "info",
        )
    else:
        flash(_("Your idea is posted. Share it so others can vote for it."), "success")
    return redirect(idea_url(idea), code=303)


def board_to_write_on(slug):
    """The board of the new-idea form: a visitor may write on any board they can see (one
    they cannot see asks them to sign in), a blocked person on none (403, as the post
    would be refused; the edit form is too)."""
    if not current_user.is_authenticated:
        board = db.session.scalar(db.select(Board).filter_by(slug=slug))
        if board is None or not board.can_view(current_user):
            abort(current_app.login_manager.unauthorized())
        return board
    board = get_board(slug)
    if not current_user.can_write:
        abort(403)
    return board


def similar_to(board, title) -> dict:
    """Ideas like this title on this board when one is close enough to stop the post;
    weaker ones only show while the title is typed (decision 0021)."""
    scored = scored_similar_ideas(clean_text(title or ""), [board.slug])
    if not strong_match(scored):
        return {}
    numbers = [number for number, _ in scored]
    ideas = ideas_by_number(numbers)
    similar = [ideas[n] for n in numbers if n in ideas]
    if not similar:
        return {}
    responses = latest_status_changes(similar, answered_only=True)
    return {"similar": similar, "responses": responses, "my_votes": my_votes(current_user, similar)}


@bp.route("/ideas/<int:number>/edit", methods=["GET", "POST"])
@login_required
def edit(number):
    idea = get_idea(number)
    if not idea.can_edit(current_user):
        abort(403)
    form = IdeaForm(obj=None if request.method == "POST" else idea)
    form.category.choices = [("", _("No category"))] + [
        (str(c.id), c.name) for c in idea.board.categories
    ]
    if request.method == "GET":
        form.category.data = str(idea.category_id or "")
        return render("ideas/edit.html", "idea_form", idea=idea, form=form)
    try:
        with all_or_nothing():
            edit_idea(current_user, idea, form.title.data, form.body.data, form.category.data)
    except ValidationError as invalid:
        show_errors(form, invalid)
        return render("ideas/edit.html", "idea_form", 422, idea=idea, form=form)
    if idea.is_held:
        flash(
            _("Your changes are saved. The idea waits for a moderator's approval before "
              "others can see it."),
            "info",
        )  # fmt: skip
    else:
        flash(_("Your changes are saved."), "success")
    return redirect(idea_url(idea), code=303)


def _keep_comment(number):
    draft = {"kind": "comment", "number": number, "body": request.form.get("body", "")}
    return draft, _idea_page(number, "comments")


@bp.post("/ideas/<int:number>/comments")
@named_limit("comment")
@press(_keep_comment)
def comment(number):
    idea = get_idea(number)
    form = CommentForm()
    official = request.form.get("kind") == "official"
    internal = request.form.get("kind") == "internal"
    try:
        with all_or_nothing():
            posted = add_comment(current_user, idea, form.body.data, official, internal)
    except ValidationError as invalid:
        show_errors(form, invalid)
        status = 200 if request.htmx else 422
        return render("ideas/detail.html", "comments", status, **idea_context(idea, form))
    if not wants_fragment():
        return redirect(f"{idea_url(idea)}#comment-{posted.id}", code=303)
    return render("ideas/detail.html", "comments", **idea_context(idea))


def get_comment(comment_id, check_editor=True) -> Comment:
    """The comment, when the person may see it (404) and, if asked, edit it (403)."""
    comment = db.session.get(Comment, comment_id)
    if comment is None or not comment.can_view(current_user):
        abort(404)
    if check_editor and not comment.can_edit(current_user):
        abort(403)
    return comment


@bp.route("/comments/<int:comment_id>/edit", methods=["GET", "POST"])
@login_required
def edit_comment_view(comment_id):
    comment = get_comment(comment_id)
    form = CommentForm(obj=comment)
    if request.method == "POST":
        try:
            with all_or_nothing():
                edit_comment(current_user, comment, form.body.data)
            return redirect(f"{idea_url(comment.idea)}#comment-{comment.id}", code=303)
        except ValidationError as invalid:
            show_errors(form, invalid)
    status = 422 if form.errors else 200
    return render("ideas/edit_comment.html", "comment_form", status, comment=comment, form=form)


@bp.post("/ideas/<int:number>/subscription")
@press(lambda number: ({"kind": "follow", "number": number}, _idea_page(number)))
def subscription(number):
    idea = get_idea(number)
    level = request.form.get("level")
    following = level in ("status", "all")
    subscription = set_subscription(current_user, idea, level if following else None)
    message = (_("You are following this idea.") if following
               else _("You will no longer get updates on this idea."))  # fmt: skip
    if not wants_fragment():
        flash(message, "success")
    return render_or_redirect(idea_url(idea), "ideas/detail.html", "follow", idea=idea,
                              subscription=subscription, follow_message=message)  # fmt: skip


def status_form(idea, form=None) -> StatusForm:
    form = form or StatusForm(formdata=None)
    form.status.choices = [
        (slug, statuses.get_status(slug).label) for slug in statuses.allowed_targets(idea.status)
    ]
    return form


@bp.route("/ideas/<int:number>/status", methods=["GET", "POST"])
@login_required
def status(number):
    """The product team moves an idea on, with a public response (a dialog with htmx)."""
    idea = get_idea(number)
    if not idea.can_change_status(current_user):
        abort(403)
    form = status_form(idea, StatusForm() if request.method == "POST" else None)
    if request.method == "GET":
        return render("ideas/status.html", "status_dialog", idea=idea, form=form)
    try:
        with all_or_nothing():
            change_status(current_user, idea, form.status.data or "", form.response.data)
    except OperationError as refused:
        show_errors(form, refused)
        code = 200 if request.htmx else refused.status_code
        answer = render("ideas/status.html", "status_dialog", code, idea=idea, form=form)
        # The form targets the whole idea page; a refusal shows the dialog again instead.
        answer.headers["HX-Retarget"], answer.headers["HX-Reswap"] = "#dialog-slot", "innerHTML"
        return answer
    if not wants_fragment():
        flash(
            _("The idea is now %(status)s.", status=statuses.get_status(idea.status).label),
            "success",
        )
        return redirect(idea_url(idea), code=303)
    return render("ideas/detail.html", "idea_page", **idea_context(idea))


@bp.get("/ideas/<int:number>/feed.atom")
def idea_feed(number):
    """Every status change and official response of one idea, newest first; 404 on private
    boards, whoever asks, since feed readers ask without a session."""
    idea = get_idea(number)
    if not idea.is_public or idea.board.is_private:
        abort(404)
    answers = db.session.scalars(
        db.select(Comment)
        .options(joinedload(Comment.author))
        .where(Comment.idea_id == idea.id, Comment.is_official.is_(True), Comment.public_clause())
    ).all()
    entries = sorted(
        [*idea.status_changes, *answers], key=lambda item: item.created_at, reverse=True
    )
    updated = max([idea.created_at, *(entry_updated(item) for item in entries)])
    return atom_feed(
        "feeds/idea.xml", idea=idea, entries=entries, updated=updated, entry_updated=entry_updated
    )


def entry_updated(item):
    """When a feed entry (a status change or an answer) last changed."""
    return getattr(item, "edited_at", None) or item.created_at


def flag_answer(back: str, error: str | None = None):
    """The flag form's answer: in place with htmx, else back to the idea with a message."""
    message = error or _("Thank you. A moderator will look at it.")
    if request.htmx:
        return render_template("ideas/_flagged.html", message=message, error=bool(error))
    flash(message, "error" if error else "success")
    return redirect(back, code=303)


def send_flag(target, back: str):
    form = request.form
    try:
        with all_or_nothing():
            flag(current_user, target, form.get("reason", ""), form.get("note", ""),
                 form.get("duplicate_of"))  # fmt: skip
    except OperationError as refused:
        return flag_answer(back, refused.explanation)
    return flag_answer(back)


@bp.post("/ideas/<int:number>/flags")
@login_required
@named_limit("flag")
def flag_idea(number):
    idea = get_idea(number)
    return send_flag(idea, idea_url(idea))


@bp.post("/comments/<int:comment_id>/flags")
@login_required
@named_limit("flag")
def flag_comment(comment_id):
    comment = get_comment(comment_id, check_editor=False)
    return send_flag(comment, f"{idea_url(comment.idea)}#comment-{comment.id}")


@bp.post("/ideas/<int:number>/merge")
@login_required
def merge(number):
    """A moderator merges this idea (a duplicate) into the one numbered `into`."""
    source = get_idea(number)
    into = request.form.get("into", "").strip().lstrip("#")
    target = db.session.scalar(db.select(Idea).filter_by(number=int(into))) if (
        into.isdecimal() and len(into) < 10) else None  # fmt: skip

    def merge_them():
        require_moderator(current_user)  # first: an outsider learns nothing from the input
        if target is None or not target.can_view(current_user):
            raise ValidationError({"into": _("Give the number of the original idea.")})
        merge_ideas(current_user, source, target)

    done = _(
        "Merged #%(number)d into this idea. Votes and followers moved here.", number=source.number
    )
    back = idea_url(target) if target else idea_url(source)
    return carry_out(merge_them, done, back, back_if_refused=idea_url(source))


@bp.post("/merges/<int:merge_id>/undo")
@login_required
def undo(merge_id):
    record = db.session.get(Merge, merge_id)
    if record is None:
        abort(404)
    done = _("The merge is undone: #%(number)d has its votes back.", number=record.source.number)
    return carry_out(lambda: undo_merge(current_user, record), done, idea_url(record.source),
                     back_if_refused=idea_url(record.target))  # fmt: skip


FEED_ENTRIES = 30


@bp.get("/b/<slug>/feed.atom")
def board_feed(slug):
    """A board's newest ideas; 404 for private boards, whoever asks, since feed readers
    ask without a session."""
    board = get_board(slug)
    if board.is_private:
        abort(404)
    newest = board_query(board, {"sort": "new", "status": "", "category": ""})
    ideas = db.session.scalars(newest.limit(FEED_ENTRIES)).all()
    updated = max([board.created_at, *(idea.updated_at for idea in ideas)])
    return atom_feed("feeds/board.xml", board=board, ideas=ideas, updated=updated)
