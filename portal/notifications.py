"""Telling people what happened to the ideas they follow: in-app notices and email.

An event is queued in the outbox in the same transaction as the change (queue_fan_out)
and fanned out by the worker: a status change on an idea with 10,000 followers costs the
product owner's request one row. Each follower gets one notice and at most one mail; the
person who acted gets neither.
"""

from datetime import timedelta

from flask import current_app, render_template, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from portal import workflow
from portal.extensions import db
from portal.models import (
    Board,
    Comment,
    Idea,
    Merge,
    Notification,
    OutboxMessage,
    StatusChange,
    Subscription,
    SubscriptionLevel,
    User,
    Vote,
    utcnow,
)

FANOUT = "fanout"
NOTICE_MAX = 300
# Which mail each email preference lets through, and which notices go into its digest.
WANTS_MAIL = {"status": {"status"}, "all": {"status", "all"}, "none": set()}
DIGEST_KINDS = {
    "status": {"status", "answer", "votes_back"},
    "all": {"status", "answer", "comment", "votes_back"},
    "none": set(),
}
DIGEST_EVERY = timedelta(days=7)


def wants_mail_now(user: User, level: str) -> bool:
    """Whether user wants a mail for news of `level` right away (not in a weekly digest)."""
    return (
        level in WANTS_MAIL.get(user.email_preference, set())
        and user.email_verified_at is not None
        and user.email_frequency == "instant"
    )


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
        if wants_mail_now(user, "status"):
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
            Notification(
                user_id=user.id,
                idea_id=idea.id,
                kind="answer" if comment.is_official else "comment",
                text=text[:NOTICE_MAX],
            )
        )
        if wants_mail_now(user, kind):
            send_update(
                user,
                idea,
                subject=f"#{idea.number} {idea.title}: {news}",
                template="comment",
                comment=comment,
            )


def idea_merged(payload: dict) -> None:
    """Everyone who followed the duplicate hears where its votes and followers went."""
    merge = db.session.get(Merge, payload["merge_id"])
    if merge is None or merge.undone_at is not None:
        return
    source, target = merge.source, merge.target
    text = f"“{source.title}” was merged into “{target.title}”: your vote and follow moved there"
    for _subscription, user in followers(source, merge.actor_id, SubscriptionLevel.STATUS,
                                         merge.created_at):  # fmt: skip
        db.session.add(Notification(user_id=user.id, idea_id=target.id, kind="status",
                                    text=text[:NOTICE_MAX]))  # fmt: skip
        if wants_mail_now(user, "status"):
            send_update(user, target, subject=f"#{source.number} was merged into #{target.number}",
                        template="merged", source=source)  # fmt: skip


EVENTS = {
    "status_changed": status_changed,
    "comment_posted": comment_posted,
    "idea_merged": idea_merged,
}


def send_update(user: User, idea: Idea | None, subject: str, template: str, **context) -> None:
    """Queue one mail about idea (None: a digest), with a one-click unsubscribe (RFC 8058)."""
    from portal.outbox import queue_email  # the outbox imports this module to fan out

    token = unsubscribe_token(user, idea)
    unsubscribe = url_for("account.unsubscribe", token=token, _external=True)
    context = {
        "user": user,
        "idea": idea,
        "idea_url": url_for("public.idea", number=idea.number, _external=True) if idea else None,
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


def unsubscribe_token(user: User, idea: Idea | None) -> str:
    """A link that stops mail about one idea (or, with None, all mail) for one person,
    without signing in."""
    return _signer().dumps([user.id, idea.id if idea else 0])


def read_unsubscribe_token(token: str) -> tuple[User, Idea | None] | None:
    """The person and idea (None: all mail) a token names, or None when this site did not
    make it."""
    try:
        user_id, idea_id = _signer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not all(isinstance(n, int) and 0 <= n < 2**31 for n in (user_id, idea_id)):
        return None
    user = db.session.get(User, user_id) if user_id else None
    idea = db.session.get(Idea, idea_id) if idea_id else None
    if user is None or (idea_id and idea is None):
        return None
    return user, idea


_notification = Notification.__table__
# Built once, run on the session's connection: every signed-in page asks (bench/README.md).
UNREAD = (
    db.select(db.func.count())
    .select_from(_notification)
    .where(_notification.c.user_id == db.bindparam("user_id"), _notification.c.read_at.is_(None))
)


def unread_count(user) -> int:
    return db.session.connection().execute(UNREAD, {"user_id": user.id}).scalar_one()


def queue_digests() -> int:
    """Queue the weekly digest of everyone whose week is up; returns how many.

    Each user's `digest_sent_at` moves forward with a compare-and-set in the same
    transaction as the queued mail, so two workers never send one digest twice. The caller
    commits.
    """
    now = utcnow()
    due = db.session.scalars(
        db.select(User).where(
            User.email_frequency == "weekly",
            User.email_preference != "none",
            User.email_verified_at.is_not(None),
            User.deleted_at.is_(None),
            User.digest_sent_at <= now - DIGEST_EVERY,
        )
    ).all()
    queued = 0
    for user in due:
        since = user.digest_sent_at
        claimed = db.session.execute(
            db.update(User)
            .where(User.id == user.id, User.digest_sent_at == since)
            .values(digest_sent_at=now)
        ).rowcount
        notices = db.session.scalars(
            db.select(Notification)
            .where(
                Notification.user_id == user.id,
                Notification.created_at > since,
                Notification.created_at <= now,
                Notification.kind.in_(DIGEST_KINDS[user.email_preference]),
            )
            .order_by(Notification.created_at)
        ).all()
        if claimed and notices:
            with current_app.test_request_context("/", base_url=current_app.config["BASE_URL"]):
                send_update(user, None, "Your weekly digest", "digest", notices=notices)
            queued += 1
    return queued
