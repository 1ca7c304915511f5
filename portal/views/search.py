"""Finding ideas: the search page and the similar ideas shown while a title is typed."""

from flask import Blueprint, current_app, request
from flask_login import current_user

from portal import statuses
from portal.htmx import render
from portal.markup import clean_text
from portal.queries import (
    QUERY_MAX,
    ideas_by_number,
    latest_status_changes,
    my_votes,
    visible_boards,
)
from portal.search import SearchQuery, search_ideas, similar_ideas
from portal.views.helpers import page_number

bp = Blueprint("search", __name__)


@bp.get("/search")
def search():
    boards = visible_boards()
    slugs = [board.slug for board in boards]
    text = clean_text(request.args.get("q", ""))[:QUERY_MAX]
    board = request.args.get("board", "")
    status = request.args.get("status", "")
    query = SearchQuery(
        text=text,
        boards=slugs,
        board=board if board in slugs else "",
        status=status if status in statuses.STATUSES else "",
        include_duplicates=request.args.get("duplicates") == "1",
        page=page_number(),
        per_page=current_app.config["PER_PAGE"],
    )
    result = search_ideas(query)
    ideas = ideas_by_number([hit.number for hit in result.hits])
    hits = [(hit, ideas[hit.number]) for hit in result.hits if hit.number in ideas]
    return render(
        "search/results.html",
        "results",
        query=query,
        result=result,
        hits=hits,
        boards={b.slug: b.name for b in boards},
        my_votes=my_votes(current_user, [idea for _, idea in hits]),
        has_next=query.page * query.per_page < result.total,
    )


@bp.get("/similar")
def similar():
    boards = [b.slug for b in visible_boards()]
    board = request.args.get("board", "")
    title = clean_text(request.args.get("title", ""))[:QUERY_MAX]
    numbers = similar_ideas(title, [board] if board in boards else boards)
    ideas = ideas_by_number(numbers)
    similar = [ideas[n] for n in numbers if n in ideas]
    return render(
        "search/_similar.html",
        "similar",
        similar=similar,
        responses=latest_status_changes(similar, answered_only=True),
        my_votes=my_votes(current_user, similar),
    )
