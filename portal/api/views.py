"""The routes of SPEC section 6. Each reads its input, calls the same operation as the
HTML page, and answers in the shapes of serialize.py; the request's transaction boundary
commits, or rolls back on an error answer (portal/database.py).

Only a bearer token signs a request in: the API ignores the session cookie, so a page on
another site cannot act through a visitor's browser, and no CSRF token is needed.
"""

from dataclasses import asdict

from flask import Blueprint, g, jsonify, request, url_for
from flask_login import current_user
from sqlalchemy import case, func
from sqlalchemy.orm import joinedload

from portal import statuses, workflow
from portal.api.errors import Unauthenticated, api_error
from portal.api.inputs import field, json_body, paging, query_choice, query_int
from portal.database import keep_writes
from portal.extensions import csrf, db, login_manager
from portal.i18n import english
from portal.incoming import MAX_ID
from portal.markup import clean_text
from portal.models import Comment, Idea
from portal.operations import ValidationError
from portal.operations.accounts import absolute_url
from portal.operations.comments import add_comment
from portal.operations.flags import flag
from portal.operations.ideas import edit_idea, submit_idea
from portal.operations.merges import merge_ideas
from portal.operations.status import change_status
from portal.operations.tokens import token_hash, user_for_token
from portal.operations.two_factor import must_set_up_two_factor
from portal.operations.votes import cast_vote, retract_vote
from portal.queries import (
    QUERY_MAX,
    SORTS,
    get_idea,
    ideas_by_number,
    listed_ideas,
    my_votes,
    visible_boards,
)
from portal.ratelimits import named_limit
from portal.representations import board_json, comment_json, idea_json, iso
from portal.search import SearchQuery, search_ideas, similar_ideas

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

# With q, ideas are ranked by the search index; this many matches are listed at most.
RANKED_MAX = 1_000
SEARCH_LIMIT_MAX = 50
TWO_FACTOR_REQUIRED = ("This site requires two-factor sign-in for its staff: set it up on your "
                       "profile page ({url}) before using an API token.")  # fmt: skip


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def api_rate_key() -> str:
    """Readers are limited per token, or per address without one (no database lookup)."""
    token = bearer_token()
    return f"token:{token_hash(token)[:24]}" if token else f"ip:{request.remote_addr}"


named_limit("api", key_func=api_rate_key)(bp)  # one count over all its routes


@bp.before_request
def authenticate():
    """Act as the token's owner, or as a visitor when there is no Authorization header.
    Staff who must first set up two-factor sign-in are refused every request, as the pages
    send them to set it up before anything else (portal/auth_loader.py)."""
    header = request.headers.get("Authorization")
    user = None
    if header is not None:
        token = bearer_token()
        user = user_for_token(token) if token else None
        if user is None:
            raise Unauthenticated("The API token is unknown or revoked.")
        if db.session.dirty:  # the token's last use, noted once a minute, whatever the answer
            keep_writes()
        if must_set_up_two_factor(user):
            return api_error(403, TWO_FACTOR_REQUIRED.format(url=absolute_url(
                "account.two_factor")), code="two_factor_required")  # fmt: skip
    # flask-login reads the request's user from g: the session cookie is never consulted.
    g._login_user = user or login_manager.anonymous_user()


def signed_in():
    if not current_user.is_authenticated:
        raise Unauthenticated("Writing needs an API token: Authorization: Bearer <token>.")
    return current_user


def idea_answer(idea: Idea, status: int = 200):
    """One idea; "held" tells its author when it waits for a moderator (after a post or an
    edit on a board that holds new posts)."""
    weight = my_votes(current_user, [idea]).get(idea.id, 0)
    answer = idea_json(idea, weight) | {"held": idea.is_held}
    response = jsonify(answer)
    response.status_code = status
    if status == 201:
        response.headers["Location"] = url_for("api.idea", number=idea.number)
    return response


def paged(key: str, items: list[dict], page: int, per_page: int, total: int) -> dict:
    return {key: items, "page": page, "per_page": per_page, "total": total,
            "has_next": page * per_page < total}  # fmt: skip


def ideas_json(ideas: list[Idea]) -> list[dict]:
    mine = my_votes(current_user, ideas)
    return [idea_json(idea, mine.get(idea.id, 0)) for idea in ideas]


def with_relations(query):
    return query.options(
        joinedload(Idea.board),
        joinedload(Idea.category),
        joinedload(Idea.author),
        joinedload(Idea.merged_into),
    )


def count(query) -> int:
    return db.session.scalar(db.select(func.count()).select_from(query.order_by(None).subquery()))


@bp.get("/openapi.json")
def openapi():
    from portal.api.openapi import openapi_document

    return jsonify(openapi_document())


@bp.get("/me")
def me():
    user = signed_in()
    return {"id": user.id, "name": english(user.display_name), "email": user.email,
            "role": user.role.slug, "blocked": user.is_blocked}  # fmt: skip


@bp.get("/boards")
def boards():
    return {"boards": [board_json(board) for board in visible_boards()]}


@bp.get("/ideas")
def ideas():
    boards = {board.slug: board for board in visible_boards()}
    board = query_choice("board", boards)
    status = query_choice("status", list(statuses.STATUSES))
    sort = query_choice("sort", SORTS)
    category = request.args.get("category", "")
    text = clean_text(request.args.get("q", ""))[:QUERY_MAX]
    page, per_page = paging()
    chosen = [boards[board]] if board else list(boards.values())
    query = listed_ideas().where(Idea.board_id.in_([b.id for b in chosen]))
    query = query.where(Idea.status == status if status else Idea.status != workflow.DUPLICATE)
    if category:
        ids = [c.id for b in chosen for c in b.categories if c.slug == category]
        if not ids:
            raise ValidationError({"category": "No category with that slug on these boards."})
        query = query.where(Idea.category_id.in_(ids))
    if text:
        ranked = matching_numbers(text, list(boards), board, status)
        query = query.where(Idea.number.in_(ranked))
    if text and not sort:  # best matches first
        query = query.order_by(case({n: i for i, n in enumerate(ranked)}, value=Idea.number))
    else:
        query = query.order_by(SORTS[sort or "trending"][1].desc(), Idea.id.desc())
    total = count(query)
    found = db.session.scalars(
        with_relations(query).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return paged("ideas", ideas_json(found), page, per_page, total)


def matching_numbers(text: str, boards: list[str], board: str, status: str) -> list[int]:
    result = search_ideas(
        SearchQuery(text=text, boards=boards, board=board, status=status, per_page=RANKED_MAX)
    )
    return [hit.number for hit in result.hits] or [-1]


@bp.post("/ideas")
@named_limit("post")
def post_idea():
    author = signed_in()
    data = json_body()
    slug = field(data, "board", str, required=True)
    board = next((b for b in visible_boards() if b.slug == slug), None)
    if board is None:
        raise ValidationError({"board": "No board with that slug."})
    title = field(data, "title", str, required=True)
    body = field(data, "body", str) or ""
    category = category_id(board, field(data, "category", str))
    # Idempotency-Key: a client's retry of the same post finds the idea it made.
    key = request.headers.get("Idempotency-Key")
    idea = submit_idea(author, board, title, body, category, key)
    return idea_answer(idea, 201)


def category_id(board, slug: str | None) -> int | None:
    if not slug:
        return None
    found = next((c for c in board.categories if c.slug == slug), None)
    if found is None:
        raise ValidationError({"category": "No category with that slug on this board."})
    return found.id


@bp.get("/ideas/<int:number>")
def idea(number):
    return idea_answer(get_idea(number))


@bp.patch("/ideas/<int:number>")
def patch_idea(number):
    editor = signed_in()
    idea = get_idea(number)
    data = json_body()  # only these three fields are read: role, status, votes are ignored
    title = field(data, "title", str)
    body = field(data, "body", str)
    if "category" in data:
        category = category_id(idea.board, field(data, "category", str))
    else:
        category = idea.category_id
    edit_idea(
        editor,
        idea,
        idea.title if title is None else title,
        idea.body if body is None else body,
        category,
    )
    return idea_answer(idea)


@bp.put("/ideas/<int:number>/vote")
@named_limit("vote")
def vote(number):
    voter = signed_in()
    idea = get_idea(number)
    weight = field(json_body(), "weight", int)
    state = cast_vote(voter, idea, 1 if weight is None else weight)
    return asdict(state)


@bp.delete("/ideas/<int:number>/vote")
@named_limit("vote")
def unvote(number):
    voter = signed_in()
    state = retract_vote(voter, get_idea(number))
    return asdict(state)


@bp.get("/ideas/<int:number>/comments")
def comments(number):
    idea = get_idea(number)
    page, per_page = paging(50)
    # Only what every reader of the idea page sees: never internal (not even for staff:
    # docs/decisions/0009), hidden or deleted.
    query = (
        db.select(Comment)
        .where(Comment.idea_id == idea.id, Comment.public_clause())
        .order_by(Comment.created_at, Comment.id)
    )
    total = count(query)
    found = db.session.scalars(
        query.options(joinedload(Comment.author), joinedload(Comment.idea))
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return paged("comments", [comment_json(comment) for comment in found], page, per_page, total)


@bp.post("/ideas/<int:number>/comments")
@named_limit("comment")
def post_comment(number):
    author = signed_in()
    idea = get_idea(number)
    data = json_body()
    body = field(data, "body", str, required=True)
    internal = bool(field(data, "internal", bool))
    official = bool(field(data, "official", bool))
    comment = add_comment(author, idea, body, official=official, internal=internal)
    if comment.is_internal:
        # Acknowledged without its text: an internal note never leaves through the API.
        answer = {"id": comment.id, "idea": idea.number, "internal": True,
                  "created_at": iso(comment.created_at)}  # fmt: skip
        return answer, 201
    return comment_json(comment), 201


@bp.post("/ideas/<int:number>/status")
def status(number):
    actor = signed_in()
    idea = get_idea(number)
    data = json_body()
    target = field(data, "status", str, required=True)
    change_status(actor, idea, target, field(data, "response", str) or "")
    return idea_answer(idea)


@bp.post("/ideas/<int:number>/merge")
def merge(number):
    actor = signed_in()
    source = get_idea(number)
    into = json_body().get("into")
    text = str(into).strip().lstrip("#") if isinstance(into, int | str) else ""
    target = None
    if text.isascii() and text.isdecimal() and int(text) <= MAX_ID:
        target = db.session.scalar(db.select(Idea).filter_by(number=int(text)))
    if target is None or not target.can_view(actor):
        raise ValidationError({"into": "Give the number of the original idea."})
    merge_ideas(actor, source, target)
    return idea_answer(source)


@bp.post("/ideas/<int:number>/flags")
@named_limit("flag")
def flag_idea(number):
    user = signed_in()
    idea = get_idea(number)
    data = json_body()
    duplicate_of = data.get("duplicate_of")
    made = flag(
        user,
        idea,
        field(data, "reason", str, required=True),
        field(data, "note", str) or "",
        duplicate_of if isinstance(duplicate_of, int | str) else None,
    )
    return {"id": made.id, "idea": idea.number, "reason": made.reason,
            "created_at": iso(made.created_at)}, 201  # fmt: skip


@bp.get("/search")
def search():
    boards = [board.slug for board in visible_boards()]
    query = SearchQuery(
        text=clean_text(request.args.get("q", ""))[:QUERY_MAX],
        boards=boards,
        board=query_choice("board", boards),
        status=query_choice("status", list(statuses.STATUSES)),
        page=query_int("page", 1, 1, 10_000),
        per_page=query_int("limit", 20, 1, SEARCH_LIMIT_MAX),
    )
    result = search_ideas(query)
    found = ideas_by_number([hit.number for hit in result.hits])
    ideas = [found[hit.number] for hit in result.hits if hit.number in found]
    mine = my_votes(current_user, ideas)
    snippets = {hit.number: str(hit.snippet) for hit in result.hits}
    return {
        "hits": [
            {**idea_json(idea, mine.get(idea.id, 0)), "snippet": snippets[idea.number]}
            for idea in ideas
        ],
        "total": result.total,
    }


@bp.get("/similar")
def similar():
    boards = [board.slug for board in visible_boards()]
    board = query_choice("board", boards)
    title = clean_text(request.args.get("title", ""))[:QUERY_MAX]
    numbers = similar_ideas(title, [board] if board else boards)
    found = ideas_by_number(numbers)
    return {"ideas": ideas_json([found[n] for n in numbers if n in found])}


@bp.after_request
def no_caching_of_personal_answers(response):
    # Answers depend on the token (my_vote, private boards): shared caches must not keep them.
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response
