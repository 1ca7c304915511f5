"""Telling people what happened to the ideas they follow: in-app notices and email.

An event is queued in the outbox in the same transaction as the change (queue_fan_out)
and fanned out by the worker: a status change on an idea with 10,000 followers costs the
product owner's request one row. Each follower gets one notice and at most one mail; the
person who acted gets neither.
"""

from flask import current_app, render_template, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from portal import workflow
from portal.extensions import db
from portal.models import (
    Board,
    Comment,
    Idea,
    Notification,
    OutboxMessage,
    StatusChange,
    Subscription,
    SubscriptionLevel,
    User,
    Vote,
)

FANOUT = "fanout"
NOTICE_MAX = 300
# Which mail each email preference lets through.
WANTS_MAIL = {"status": {"status"}, "all": {"status", "all"}, "none": set()}


def queue_fan_out(event: str, **ids) -> None:
    """Record, in the current transaction, an event for the worker to tell followers of."""
    db.session.add(OutboxMessage(kind=FANOUT, payload={"event": event, **ids}))


def fan_out(payload: dict) -> None:
    """Turn one event into notices and queued mails (the worker commits them together)."""
    base_url = current_app.config["BASE_URL"]
    with current_app.test_request_context("/", base_url=base_url):  # for url_for in mails
        EVENTS[payload["event"]](payload)


def followers(idea: Idea, actor_id: int, level: str, at):
    """(subscription, user) of everyone who followed idea at `level` or more when the event
    happened (`at`: the worker may run later), but the actor."""
    query = (
        db.select(Subscription, User)
        .join(User, User.id == Subscription.user_id)
        .where(
            Subscription.idea_id == idea.id,
            Subscription.muted.is_(False),
            Subscription.created_at <= at,
            User.id != actor_id,
            User.deleted_at.is_(None),
        )
        .order_by(User.id)
    )
    if level == SubscriptionLevel.ALL:
        query = query.where(Subscription.level == SubscriptionLevel.ALL)
    return db.session.execute(query).all()


def status_changed(payload: dict) -> None:
    change = db.session.get(StatusChange, payload["status_change_id"])
    if change is None:
        return
    idea = db.session.get(Idea, change.idea_id)
    label = workflow.get_status(change.to_status).label
    text = f"“{idea.title}” is now {label}"
    for _subscription, user in followers(
        idea, change.author_id, SubscriptionLevel.STATUS, change.created_at
    ):
        db.session.add(
            Notification(user_id=user.id, idea_id=idea.id, kind="status", text=text[:NOTICE_MAX])
        )
        if "status" in WANTS_MAIL.get(user.email_preference, set()) and user.email_verified_at:
            send_update(
                user,
                idea,
                subject=f"#{idea.number} {idea.title}: now {label}",
                template="status_change",
                change=change,
                label=label,
                actor=change.author,
            )
    votes_released(change, idea)


def votes_released(change: StatusChange, idea: Idea) -> None:
    """Closing an idea gives its voters their budget votes back: tell them (UserVoice's rule)."""
    closes = workflow.accepts_votes(change.from_status) and not workflow.accepts_votes(
        change.to_status
    )
    board = db.session.get(Board, idea.board_id)
    if not (closes and board.has_budget):
        return
    votes = db.session.scalars(db.select(Vote).where(Vote.idea_id == idea.id)).all()
    for vote in votes:
        what, it = (
            ("Your vote is", "it")
            if vote.weight == 1
            else (f"Your {vote.weight} votes are", "them")
        )
        text = f"{what} back from “{idea.title}”: use {it} again in {board.name}"
        db.session.add(
            Notification(
                user_id=vote.user_id, idea_id=idea.id, kind="votes_back", text=text[:NOTICE_MAX]
            )
        )


def comment_posted(payload: dict) -> None:
    """Official answers reach every follower; other comments those who follow everything."""
    comment = db.session.get(Comment, payload["comment_id"])
    if comment is None or not comment.is_public:
        return
    idea = db.session.get(Idea, comment.idea_id)
    kind = "status" if comment.is_official else "all"
    what = "answered" if comment.is_official else "commented on"
    news = "official answer" if comment.is_official else "new comment"
    text = f"{comment.author.display_name} {what} “{idea.title}”"
    for _subscription, user in followers(idea, comment.author_id, kind, comment.created_at):
        db.session.add(
            Notification(user_id=user.id, idea_id=idea.id, kind="comment", text=text[:NOTICE_MAX])
        )
        if kind in WANTS_MAIL.get(user.email_preference, set()) and user.email_verified_at:
            send_update(
                user,
                idea,
                subject=f"#{idea.number} {idea.title}: {news}",
                template="comment",
                comment=comment,
            )


EVENTS = {"status_changed": status_changed, "comment_posted": comment_posted}


def send_update(user: User, idea: Idea, subject: str, template: str, **context) -> None:
    """Queue one mail about idea, with a one-click unsubscribe (RFC 8058)."""
    from portal.outbox import queue_email  # the outbox imports this module to fan out

    token = unsubscribe_token(user, idea)
    unsubscribe = url_for("account.unsubscribe", token=token, _external=True)
    context = {
        "user": user,
        "idea": idea,
        "idea_url": url_for("public.idea", number=idea.number, _external=True),
        "unsubscribe_url": unsubscribe,
        "preferences_url": url_for("account.profile", _external=True),
        **context,
    }
    queue_email(
        user.email,
        subject[:200],
        render_template(f"mail/{template}.txt", **context),
        render_template(f"mail/{template}.html", **context),
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="unsubscribe")


def unsubscribe_token(user: User, idea: Idea) -> str:
    """A link that stops mail about one idea for one person, without signing in."""
    return _signer().dumps([user.id, idea.id])


def read_unsubscribe_token(token: str) -> tuple[User, Idea] | None:
    """The person and idea a token names, or None when it was not made by this site."""
    try:
        user_id, idea_id = _signer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not all(isinstance(n, int) and 0 < n < 2**31 for n in (user_id, idea_id)):
        return None
    user, idea = db.session.get(User, user_id), db.session.get(Idea, idea_id)
    return (user, idea) if user and idea else None


def unread_count(user) -> int:
    return db.session.scalar(
        db.select(db.func.count(Notification.id)).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    )
