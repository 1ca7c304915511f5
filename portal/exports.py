"""Data that leaves the site as files: every idea as CSV for admins, and each person's own
data as JSON (SPEC sections 1 and 4)."""

import csv
import io
from collections.abc import Iterator

from flask import current_app
from sqlalchemy import func, or_
from sqlalchemy.orm import aliased, contains_eager, joinedload

from portal import statuses
from portal.extensions import db
from portal.i18n import english
from portal.i18n import gettext as _
from portal.models import (
    ApiToken,
    Board,
    Category,
    Comment,
    Flag,
    Idea,
    Notification,
    Role,
    StatusChange,
    Subscription,
    User,
    Vote,
    utcnow,
)
from portal.notifications import visible_notices
from portal.operations import PermissionDenied
from portal.operations.audit import record_audit
from portal.representations import idea_json, iso

IDEA_COLUMNS = [
    "number", "title", "board", "category", "status", "status_label", "vote_count", "voters",
    "comment_count", "author_name", "author_email", "created_at", "updated_at",
    "status_changed_at", "merged_into", "hidden", "held", "deleted", "url",
]  # fmt: skip
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# injection"); an apostrophe in front makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 500
ROWS_PER_FETCH = 1000


def export_ideas(actor, board: Board | None) -> Iterator[str]:
    """Record the export in the audit log and return the CSV of every idea (or the board's),
    as chunks to stream; raises PermissionDenied for anyone but an admin."""
    if not (actor.is_authenticated and actor.has_role(Role.ADMIN)):
        raise PermissionDenied(_("Only admins export ideas."))
    record_audit(actor, "ideas.export", None, after={"board": board.slug if board else None})
    # English, as the column names (docs/decisions/0008); made now, as the rows stream
    # after the request's session ends.
    labels = {slug: english(status.label) for slug, status in statuses.STATUSES.items()}
    base_url = current_app.config["BASE_URL"]
    rows = (idea_row(row, labels, base_url) for row in idea_rows(board))
    return csv_chunks(IDEA_COLUMNS, rows)


def ideas_filename(board: Board | None) -> str:
    """A dated name, so monthly exports do not overwrite each other in Downloads."""
    return "-".join(["ideas", *([board.slug] if board else []), f"{utcnow():%Y-%m-%d}"]) + ".csv"


def idea_rows(board: Board | None):
    """One row per idea, fetched in batches: 100,000 ideas never sit in memory at once."""
    voters = db.select(Vote.idea_id, func.count().label("voters")).group_by(Vote.idea_id).subquery()
    merged = aliased(Idea)
    query = (
        db.select(
            Idea.number,
            Idea.title,
            Board.slug.label("board"),
            Category.slug.label("category"),
            Idea.status,
            Idea.vote_count,
            func.coalesce(voters.c.voters, 0).label("voters"),
            Idea.comment_count,
            User.name.label("author_name"),
            User.email.label("author_email"),
            User.deleted_at.label("author_deleted_at"),
            Idea.created_at,
            Idea.updated_at,
            Idea.status_changed_at,
            merged.number.label("merged_into"),
            Idea.is_hidden,
            Idea.is_held,
            Idea.is_deleted,
        )  # fmt: skip
        .join(Board, Board.id == Idea.board_id)
        .join(User, User.id == Idea.author_id)
        .outerjoin(Category, Category.id == Idea.category_id)
        .outerjoin(merged, merged.id == Idea.merged_into_id)
        .outerjoin(voters, voters.c.idea_id == Idea.id)
        .order_by(Idea.number)
        .execution_options(yield_per=ROWS_PER_FETCH)
    )
    if board is not None:
        query = query.where(Idea.board_id == board.id)
    yield from db.session.execute(query)


def idea_row(row, labels: dict[str, str], base_url: str) -> list:
    deleted_author = row.author_deleted_at is not None
    return [
        row.number, row.title, row.board, row.category or "", row.status,
        labels.get(row.status, row.status), row.vote_count, row.voters, row.comment_count,
        "Deleted user" if deleted_author else row.author_name,
        "" if deleted_author else row.author_email, iso(row.created_at), iso(row.updated_at),
        iso(row.status_changed_at) or "", row.merged_into or "", yes_no(row.is_hidden),
        yes_no(row.is_held), yes_no(row.is_deleted), f"{base_url}/ideas/{row.number}",
    ]  # fmt: skip


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def safe_cell(value):
    """The value as a spreadsheet shows it as text, never as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(header: list[str], rows) -> Iterator[str]:
    """CSV text in chunks of rows, after a byte order mark (Excel then reads UTF-8, umlauts
    and all)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for count, row in enumerate(rows, 1):
        writer.writerow([safe_cell(value) for value in row])
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# -- a person's own data ------------------------------------------------------------------


def personal_data(user: User) -> dict:
    """Everything user wrote, voted, followed, flagged and was told about ideas they wrote or
    may see now (shown), and nothing of anyone else's that they could not see anyway: no
    other person's email, no one else's notes."""
    return {
        "exported_at": iso(utcnow()),
        "site": current_app.config["BASE_URL"],
        "profile": profile_json(user),
        "ideas": my_ideas(user),
        "comments": my_comments(user),
        "status_changes": my_status_changes(user),
        "votes": [
            {
                "idea": idea_ref(idea, user),
                "weight": vote.weight,
                "created_at": iso(vote.created_at),
            }  # fmt: skip
            for vote, idea in mine(Vote, Vote.user_id, user)
        ],
        "subscriptions": my_subscriptions(user),
        "flags": my_flags(user),
        "notifications": [
            {
                "kind": notice.kind,
                "text": notice.text,
                "idea": idea_ref(notice.idea, user) if notice.idea else None,
                "created_at": iso(notice.created_at),
                "read_at": iso(notice.read_at),
            }  # fmt: skip
            for notice in db.session.scalars(
                visible_notices(user)  # as on the notifications page
                .options(contains_eager(Notification.idea))
                .order_by(Notification.created_at, Notification.id)
            )
        ],
        # Which tokens exist and when they were used; never the tokens or their hashes.
        "api_tokens": [
            {
                "name": token.name,
                "starts_with": token.prefix,
                "created_at": iso(token.created_at),
                "last_used_at": iso(token.last_used_at),
                "revoked_at": iso(token.revoked_at),
            }
            for token in db.session.scalars(db.select(ApiToken).filter_by(user_id=user.id))
        ],  # fmt: skip
    }


def profile_json(user: User) -> dict:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role.slug,
        "created_at": iso(user.created_at),
        "email_verified_at": iso(user.email_verified_at),
        "blocked": user.is_blocked,
        "preferences": {
            "email_preference": user.email_preference,
            "email_frequency": user.email_frequency,
        },
    }


def shown(user: User):
    """SQL, with Idea and Board joined: the ideas whose rows a person's data holds, those
    they wrote and those they may see now (Idea.visible_clause).

    Their own ideas stay whatever staff did to them or their board: the export is their
    copy of their own words, which the profile page, a page of the site, no longer lists.
    Votes, follows, flags and answers on someone else's idea go as the idea goes."""
    return or_(Idea.author_id == user.id, Idea.visible_clause(user))


def idea_ref(idea: Idea, user: User) -> dict:
    """Which idea a vote, comment or flag was about (one the person wrote or may see)."""
    return {
        "number": idea.number,
        "title": idea.title,
        "url": current_app.config["BASE_URL"] + f"/ideas/{idea.number}",
    }


def mine(model, person, user: User) -> list:
    """(row, idea) of model's rows whose `person` column is user, about ideas shown to
    them, oldest first."""
    return db.session.execute(
        db.select(model, Idea)
        .join(Idea, Idea.id == model.idea_id)
        .join(Idea.board)
        .options(contains_eager(Idea.board))
        .where(person == user.id, shown(user))
        .order_by(model.created_at, model.id)
    ).all()


def my_subscriptions(user: User) -> list[dict]:
    return [
        {
            "idea": idea_ref(idea, user),
            "level": sub.level,
            "muted": sub.muted,
            "created_at": iso(sub.created_at),
        }  # fmt: skip
        for sub, idea in mine(Subscription, Subscription.user_id, user)
    ]


def my_ideas(user: User) -> list[dict]:
    ideas = db.session.scalars(
        db.select(Idea)
        .options(
            joinedload(Idea.board),
            joinedload(Idea.category),
            joinedload(Idea.author),
            joinedload(Idea.merged_into),
        )  # fmt: skip
        .filter_by(author_id=user.id)  # every one of them: see shown()
        .order_by(Idea.created_at, Idea.id)
    ).all()
    weights = dict(
        db.session.execute(db.select(Vote.idea_id, Vote.weight).filter_by(user_id=user.id)).all()
    )
    return [
        idea_json(idea, weights.get(idea.id, 0))
        | {"hidden": idea.is_hidden, "held": idea.is_held, "deleted": idea.is_deleted}
        for idea in ideas
    ]


def my_comments(user: User) -> list[dict]:
    """The person's own comments, their own internal notes among them (marked so) while
    they may read internal notes: a demoted author's notes stay with the team."""
    query = (
        db.select(Comment)
        .join(Comment.idea)
        .join(Idea.board)
        .options(contains_eager(Comment.idea).contains_eager(Idea.board))
        .where(Comment.author_id == user.id, shown(user))
        .order_by(Comment.created_at, Comment.id)
    )
    if not Comment.can_read_notes(user):
        query = query.where(Comment.is_internal.is_(False))
    comments = db.session.scalars(query).all()
    return [
        {
            "id": comment.id,
            "idea": idea_ref(comment.idea, user),
            "body": comment.body,
            "body_html": comment.body_html,
            "official": comment.is_official,
            "internal": comment.is_internal,
            "hidden": comment.is_hidden,
            "deleted": comment.is_deleted,
            "created_at": iso(comment.created_at),
            "edited_at": iso(comment.edited_at),
        }
        for comment in comments
    ]


def my_status_changes(user: User) -> list[dict]:
    """Status changes the person made, with their public responses (product owners)."""
    return [
        {
            "idea": idea_ref(idea, user),
            "from": change.from_status,
            "to": change.to_status,
            "response": change.response,
            "created_at": iso(change.created_at),
        }  # fmt: skip
        for change, idea in mine(StatusChange, StatusChange.author_id, user)
    ]


def my_flags(user: User) -> list[dict]:
    flags = db.session.scalars(
        db.select(Flag).filter_by(user_id=user.id).order_by(Flag.created_at, Flag.id)
    ).all()
    comments = {
        comment.id: comment
        for comment in db.session.scalars(
            db.select(Comment)
            .join(Comment.idea)
            .join(Idea.board)
            .options(contains_eager(Comment.idea).contains_eager(Idea.board))
            .where(Comment.id.in_([f.comment_id for f in flags if f.comment_id]), shown(user))
        )
    }
    ideas = {
        idea.id: idea
        for idea in db.session.scalars(
            db.select(Idea)
            .join(Idea.board)
            .options(contains_eager(Idea.board))
            .where(Idea.id.in_([f.idea_id for f in flags if f.idea_id]), shown(user))
        )
    }
    flags = [f for f in flags if f.comment_id in comments or f.idea_id in ideas]
    return [
        {
            "target": "comment" if flag.comment_id else "idea",
            "idea": idea_ref(
                comments[flag.comment_id].idea if flag.comment_id else ideas[flag.idea_id], user
            ),  # fmt: skip
            "comment_id": flag.comment_id,
            "reason": flag.reason,
            "duplicate_of": flag.duplicate_of,
            "note": flag.note,
            "created_at": iso(flag.created_at),
            "resolved_at": iso(flag.resolved_at),
        }
        for flag in flags
    ]
