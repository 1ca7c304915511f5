"""The JSON shapes of SPEC section 6, shared by the API answers and the webhook payloads.

Internal notes have no shape here on purpose: nothing that leaves through the API or a
webhook can carry one.
"""

from datetime import UTC, datetime

from flask import current_app

from portal.i18n import english
from portal.models import Board, Comment, Idea, User
from portal.statuses import get_status


def iso(moment: datetime | None, timespec: str = "auto") -> str | None:
    """ISO 8601 in UTC with a Z, as the SPEC asks for every time; pages and feeds ask for
    timespec="seconds", as HTML's <time datetime> allows at most three digits of a second."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def public_url(path: str) -> str:
    """An absolute address on BASE_URL: right behind a proxy, in the worker and in mails."""
    return current_app.config["BASE_URL"] + path


def person_json(user: User) -> dict:
    return {"id": user.id, "name": english(user.display_name)}


def idea_json(idea: Idea, my_vote: int = 0) -> dict:
    return {
        "number": idea.number,
        "board": idea.board.slug,
        "title": idea.title,
        "body": idea.body,
        "body_html": idea.body_html,
        "status": idea.status,
        "status_label": english(get_status(idea.status).label),
        "vote_count": idea.vote_count,
        "comment_count": idea.comment_count,
        "category": idea.category.slug if idea.category else None,
        "author": person_json(idea.author),
        "created_at": iso(idea.created_at),
        "updated_at": iso(idea.updated_at),
        "url": public_url(f"/ideas/{idea.number}"),
        "merged_into": idea.merged_into.number if idea.merged_into else None,
        "my_vote": my_vote,
    }


def comment_json(comment: Comment) -> dict:
    """A public comment; callers never pass an internal note (see the module's note)."""
    if comment.is_internal:
        raise ValueError("internal notes are never serialised for the API or webhooks")
    return {
        "id": comment.id,
        "idea": comment.idea.number,
        "body": comment.body,
        "body_html": comment.body_html,
        "author": person_json(comment.author),
        "is_official": comment.is_official,
        "is_pinned": comment.is_pinned,
        "edited_by_staff": comment.edited_by_staff,
        "created_at": iso(comment.created_at),
        "edited_at": iso(comment.edited_at),
        "url": public_url(f"/ideas/{comment.idea.number}#comment-{comment.id}"),
    }


def board_json(board: Board) -> dict:
    return {
        "slug": board.slug,
        "name": board.name,
        "description": board.description,
        "is_private": board.is_private,
        "votes_per_user": board.votes_per_user,
        "max_votes_per_idea": board.max_votes_per_idea,
        "categories": [{"slug": c.slug, "name": c.name} for c in board.categories],
        "url": public_url(f"/b/{board.slug}"),
    }
