"""Telling people what happened to the ideas they follow: in-app notices and email.

An event is queued in the outbox in the same transaction as the change (queue_fan_out)
and fanned out by the worker: a status change on an idea with 10,000 followers costs the
product owner's request one row. Each follower gets one notice and at most one mail; the
person who acted gets neither.
"""

from datetime import timedelta

from flask import current_app, render_template, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_

from portal import statuses
from portal.extensions import db
from portal.i18n import gettext as _
from portal.i18n import in_language_of, ngettext
from portal.i18n import lazy_gettext as _l
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
from portal.outbox import queue_email

FANOUT = "fanout"
NOTICE_MAX = 300
# Which mail each email preference lets through, and which notices go into its digest.
WANTS_MAIL = {"status": {"status"}, "all": {"status", "all"}, "none": set()}
DIGEST_KINDS = {
    "status": {"status", "answer", "votes_back", "votes_kept"},
    "all": {"status", "answer", "comment", "votes_back", "votes_kept"},
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


def per_language(make_text):
    """text_for(reader, *args): make_text(*args) in the reader's language, made once per
    language and args (a notice to 10,000 followers is written at most a few times).

    Notices are stored as text, so each is written in its reader's language when made.
    """
    made = {}

    def text_for(reader, *args) -> str:
        key = (reader.locale or "", *args)
        if key not in made:
            with in_language_of(reader):
                made[key] = make_text(*args)[:NOTICE_MAX]
        return made[key]

    return text_for


def queue_fan_out(event: str, **ids) -> None:
    """Record, in the current transaction, an event for the worker to tell followers of."""
    db.session.add(OutboxMessage(kind=FANOUT, payload={"event": event, **ids}))


def fan_out(payload: dict) -> None:
    """Turn one event into notices and queued mails (the worker commits them together)."""
    base_url = current_app.config["BASE_URL"]
    with current_app.test_request_context("/", base_url=base_url):  # for url_for in mails
        EVENTS[payload["event"]](payload)


def sees(idea_id: int):
    """SQL: the User of the query may see the idea now (Idea.visible_clause, one lookup per
    reader inside the query, so 10,000 followers stay one query)."""
    return (
        db.select(Idea.id)
        .join(Board, Board.id == Idea.board_id)
        .where(Idea.id == idea_id, Idea.visible_clause(User))
        .exists()
    )


def followers(idea: Idea, actor_id: int, level: str, at, *about: Idea):
    """(subscription, user) of everyone who followed idea at `level` or more when the event
    happened (`at`: the worker may run later), but the actor, and who may see it (and the
    ideas `about`) now: visibility is checked at delivery, not when they followed."""
    query = (
        db.select(Subscription, User)
        .join(User, User.id == Subscription.user_id)
        .where(
            Subscription.idea_id == idea.id,
            Subscription.muted.is_(False),
            Subscription.created_at <= at,
            User.id != actor_id,
            User.deleted_at.is_(None),
            *(sees(seen.id) for seen in (idea, *about)),
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
    label = statuses.get_status(change.to_status).label
    text = per_language(lambda: _("“%(title)s” is now %(status)s", title=idea.title, status=label))
    for _subscription, user in followers(
        idea, change.author_id, SubscriptionLevel.STATUS, change.created_at
    ):
        db.session.add(
            Notification(user_id=user.id, idea_id=idea.id, kind="status", text=text(user))
        )
        if wants_mail_now(user, "status"):
            send_update(
                user,
                idea,
                subject=_l(
                    "#%(number)s %(title)s: now %(status)s",
                    number=idea.number,
                    title=idea.title,
                    status=label,
                ),
                template="status_change",
                change=change,
                label=label,
                actor=change.author,
            )
    votes_released(change, idea)


def votes_released(change: StatusChange, idea: Idea) -> None:
    """Closing an idea gives its voters their budget votes back: tell them (UserVoice's rule)."""
    if statuses.accepts_votes(change.from_status) and not statuses.accepts_votes(change.to_status):
        tell_votes_back(idea)


def status_closed(payload: dict) -> None:
    """An admin moved a status to a phase that takes no votes: its ideas closed at once."""
    for idea in db.session.scalars(db.select(Idea).where(Idea.id.in_(payload["idea_ids"]))):
        tell_votes_back(idea)


def tell_votes_back(idea: Idea) -> None:
    """The closed idea's voters have their budget votes back: tell each how many."""
    board = db.session.get(Board, idea.board_id)
    if not board.has_budget or not idea.is_public:
        return  # not public: its votes came back when it stopped being (idea_withdrawn)
    text = per_language(
        lambda weight: ngettext(
            "Your vote is back from “%(title)s”: use it again in %(board)s",
            "Your %(num)d votes are back from “%(title)s”: use them again in %(board)s",
            weight,
            title=idea.title,
            board=board.name,
        )
    )
    _tell_voters(idea, text, sees(idea.id), about=idea.id)


def idea_withdrawn(payload: dict) -> None:
    """A hidden, deleted or held idea holds no budget votes: tell its voters theirs are
    back, without its title or a link (they may no longer see it), if they can still see
    the board."""
    idea = db.session.get(Idea, payload["idea_id"])
    if idea is None or idea.is_public:
        return  # public again: its votes count again
    board = db.session.get(Board, idea.board_id)
    if not board.has_budget:
        return
    text = per_language(
        lambda weight: ngettext(
            "Your vote is back in %(board)s: an idea you voted for is no longer shown",
            "Your %(num)d votes are back in %(board)s: an idea you voted for is no longer shown",
            weight,
            board=board.name,
        )
    )
    _tell_voters(
        idea, text, and_(User.deleted_at.is_(None), board.readers_clause(User)), about=None
    )


def _tell_voters(idea: Idea, text, may_read, about: int | None) -> None:
    """A "votes are back" notice, text(reader, weight), for each voter who may_read it."""
    votes = db.session.execute(
        db.select(Vote.user_id, Vote.weight, User.locale)
        .join(User, User.id == Vote.user_id)
        .where(Vote.idea_id == idea.id, may_read)
    ).all()
    for vote in votes:
        db.session.add(
            Notification(
                user_id=vote.user_id,
                idea_id=about,
                kind="votes_back",
                text=text(vote, vote.weight),
            )
        )


def votes_not_back(idea: Idea, taken: dict[int, int]) -> None:
    """The idea holds budget votes again (reopened, or its merge undone), but these voters
    spent some of them elsewhere meanwhile, and those stay where they went (decision 0006):
    tell each how many did not come back. A handful of rows: written in the request."""
    board = db.session.get(Board, idea.board_id)
    text = per_language(
        lambda weight: ngettext(
            "“%(title)s” is open for votes again, but %(num)d of your votes stays where you "
            "spent it in %(board)s while it was closed",
            "“%(title)s” is open for votes again, but %(num)d of your votes stay where you "
            "spent them in %(board)s while it was closed",
            weight,
            title=idea.title,
            board=board.name,
        )
    )
    readers = db.session.execute(
        db.select(User.id, User.locale).where(User.id.in_(taken), sees(idea.id))
    ).all()
    for reader in readers:
        db.session.add(
            Notification(
                user_id=reader.id,
                idea_id=idea.id,
                kind="votes_kept",
                text=text(reader, taken[reader.id]),
            )
        )


def comment_posted(payload: dict) -> None:
    """Official answers reach every follower; other comments those who follow everything."""
    comment = db.session.get(Comment, payload["comment_id"])
    if comment is None or not comment.is_public:
        return
    idea = db.session.get(Idea, comment.idea_id)
    kind = "status" if comment.is_official else "all"

    def names() -> dict:  # display_name may be translated ("Deleted user")
        return {"name": comment.author.display_name, "title": idea.title}

    if comment.is_official:
        text = per_language(lambda: _("%(name)s answered “%(title)s”", **names()))
        subject = _l("#%(number)s %(title)s: official answer", number=idea.number,
                     title=idea.title)  # fmt: skip
    else:
        text = per_language(lambda: _("%(name)s commented on “%(title)s”", **names()))
        subject = _l("#%(number)s %(title)s: new comment", number=idea.number, title=idea.title)
    for _subscription, user in followers(idea, comment.author_id, kind, comment.created_at):
        db.session.add(
            Notification(
                user_id=user.id,
                idea_id=idea.id,
                kind="answer" if comment.is_official else "comment",
                text=text(user),
            )
        )
        if wants_mail_now(user, kind):
            send_update(
                user,
                idea,
                subject=subject,
                template="comment",
                comment=comment,
            )


def idea_merged(payload: dict) -> None:
    """Everyone who followed the duplicate hears where its votes and followers went."""
    merge = db.session.get(Merge, payload["merge_id"])
    if merge is None or merge.undone_at is not None:
        return
    source, target = merge.source, merge.target
    text = per_language(lambda: _(
        "“%(source)s” was merged into “%(target)s”: your vote and follow moved there",
        source=source.title, target=target.title))  # fmt: skip
    subject = _l("#%(source)s was merged into #%(target)s", source=source.number,
                 target=target.number)  # fmt: skip
    for _subscription, user in followers(source, merge.actor_id, SubscriptionLevel.STATUS,
                                         merge.created_at, target):  # fmt: skip
        db.session.add(Notification(user_id=user.id, idea_id=target.id, kind="status",
                                    text=text(user)))  # fmt: skip
        if wants_mail_now(user, "status"):
            send_update(user, target, subject=subject, template="merged",
                        source=source)  # fmt: skip


EVENTS = {
    "status_changed": status_changed,
    "comment_posted": comment_posted,
    "idea_merged": idea_merged,
    "status_closed": status_closed,
    "idea_withdrawn": idea_withdrawn,
}


def send_update(user: User, idea: Idea | None, subject, template: str, **context) -> None:
    """Queue one mail about idea (None: a digest), with a one-click unsubscribe (RFC 8058).

    Written in the recipient's language: subject is a lazy text, made in it too."""
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
    with in_language_of(user):
        subject, text, html = (
            str(subject)[:200],
            render_template(f"mail/{template}.txt", **context),
            render_template(f"mail/{template}.html", **context),
        )
    queue_email(
        user.email,
        subject,
        text,
        html,
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        about={"user_id": user.id, "idea_ids": mentioned_ideas(idea, context)},
    )


def mentioned_ideas(idea: Idea | None, context: dict) -> list[int]:
    """The ideas a mail speaks of: its idea, or a digest's lines'."""
    if idea is not None:
        return [idea.id]
    return sorted({n.idea_id for n in context.get("notices", ()) if n.idea_id is not None})


def recipient_may_see(payload: dict) -> bool:
    """Whether the recipient of a queued mail may still see every idea it speaks of: a mail
    can wait in the outbox (the mail server down) while an idea is hidden or its board
    closed. A digest with such a line is not sent at all; its notices stay on the
    notifications page, which shows only what its reader may see."""
    ids = payload.get("idea_ids") or []
    if not ids:
        return True
    user = db.session.get(User, payload["user_id"])
    ideas = db.session.scalars(db.select(Idea).where(Idea.id.in_(ids))).all()
    return user is not None and len(ideas) == len(ids) and all(i.can_view(user) for i in ideas)


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


def visible_notices(user):
    """A query of user's notices that they may read now (Notification.visible_clause)."""
    return (
        db.select(Notification)
        .outerjoin(Idea, Idea.id == Notification.idea_id)
        .outerjoin(Board, Board.id == Idea.board_id)
        .where(Notification.user_id == user.id, Notification.visible_clause(user))
    )


# Built once, run on the session's connection: every signed-in page asks (bench/README.md).
# The reader's role comes from the joined User row, so one statement serves everyone.
UNREAD = (
    db.select(db.func.count())
    .select_from(Notification)
    .join(User, User.id == Notification.user_id)
    .outerjoin(Idea, Idea.id == Notification.idea_id)
    .outerjoin(Board, Board.id == Idea.board_id)
    .where(
        Notification.user_id == db.bindparam("user_id"),
        Notification.read_at.is_(None),
        Notification.visible_clause(User),
    )
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
            visible_notices(user)  # a line about an idea hidden since is left out
            .where(
                Notification.created_at > since,
                Notification.created_at <= now,
                Notification.kind.in_(DIGEST_KINDS[user.email_preference]),
            )
            .order_by(Notification.created_at)
        ).all()
        if claimed and notices:
            with current_app.test_request_context("/", base_url=current_app.config["BASE_URL"]):
                send_update(user, None, _l("Your weekly digest"), "digest", notices=notices)
            queued += 1
    return queued
