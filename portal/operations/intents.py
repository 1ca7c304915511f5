"""The customer's intent survives signing in (SPEC section 12): what a visitor pressed (Vote,
Follow, Post idea, Comment) is kept, and carried out once they have said who they are,
whichever way they did: a password, sign-up and the confirmation link, single sign-on.

A visitor's intent is found by the random key their browser holds (only its hash is
stored); sign-up moves it to the new account, so that the confirmation link carries it out
in any browser. Votes and follows are done through the usual operations, with every rule;
the text of an idea or a comment is never posted for them: it is handed back as a draft,
for the person to check and post.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_

from portal import workflow
from portal.extensions import db
from portal.i18n import lazy_gettext as _l
from portal.markup import clean_line, clean_text
from portal.models import Board, Idea, PendingIntent, SubscriptionLevel, User, utcnow
from portal.operations.accounts import TOKEN_LIFETIMES
from portal.operations.hashes import digest
from portal.operations.subscriptions import set_subscription
from portal.operations.votes import cast_vote

KINDS = ("vote", "follow", "idea", "comment")
# A visitor's press is kept a day; one moved to a new account as long as its confirmation
# link works.
LIFETIME = timedelta(days=1)
ACCOUNT_LIFETIME = TOKEN_LIFETIMES["verify"]
# Longer than any idea or comment may be: the form, not this, says what is too long.
DRAFT_MAX = 20_000
TITLE_MAX = 1_000

PROMISES = {
    "vote": _l("Sign in or sign up and your vote will be counted."),
    "follow": _l("Sign in or sign up and you will follow this idea."),
    "idea": _l("Sign in or sign up to post your idea: your text is kept."),
    "comment": _l("Sign in or sign up to post your comment: your text is kept."),
}
TEXT_KEPT = _l("Your text is kept: check it and post.")
VOTED = _l("Your vote is counted.")
FOLLOWING = _l("You are following this idea.")
NO_COMMENTS = _l("This idea takes no comments from you now, so your comment was not kept.")
GONE = _l("What you pressed before signing in cannot be done any more: the idea is gone.")


@dataclass(frozen=True)
class Outcome:
    """Where a person goes after their intent was carried out, and what they are told."""

    kind: str
    message: str
    category: str
    idea_number: int | None = None
    board_slug: str | None = None
    draft_id: int | None = None


def hold_intent(
    kind: str, number=None, slug=None, title="", body="", weight=1, previous=None
) -> str:
    """Keep what a visitor pressed, replacing the one their key `previous` held; returns
    the new key for their session. The caller commits."""
    if previous:
        db.session.execute(db.delete(PendingIntent).filter_by(key_hash=digest(previous)))
    key = secrets.token_urlsafe(32)
    db.session.add(
        PendingIntent(
            key_hash=digest(key),
            kind=kind if kind in KINDS else "vote",
            idea_number=number,
            board_slug=(slug or "")[:60] or None,
            title=clean_line(title)[:TITLE_MAX],
            body=clean_text(body)[:DRAFT_MAX],
            weight=weight,
        )
    )
    return key


def _waiting(now: datetime):
    """Intents not yet carried out and not past their lifetime."""
    return and_(
        PendingIntent.kept_at.is_(None),
        or_(
            PendingIntent.created_at >= now - LIFETIME,
            and_(
                PendingIntent.user_id.is_not(None),
                PendingIntent.created_at >= now - ACCOUNT_LIFETIME,
            ),
        ),
    )


def find_intent(key: str | None) -> PendingIntent | None:
    """The visitor's waiting intent that key names, if any."""
    if not key:
        return None
    return db.session.scalar(
        db.select(PendingIntent).where(
            PendingIntent.key_hash == digest(key),
            PendingIntent.user_id.is_(None),
            _waiting(utcnow()),
        )
    )


def move_intent_to(user: User | None, key: str | None) -> None:
    """Sign-up: the visitor's intent now waits for the new account (and leaves the browser,
    where the next person to sign in would find it); with no new account it is dropped."""
    intent = find_intent(key)
    if intent is None:
        return
    if user is None:
        db.session.delete(intent)
        return
    intent.user_id, intent.key_hash = user.id, None


def take_intent(user: User, key: str | None) -> PendingIntent | None:
    """The intent to carry out now that user has signed in: the browser's (key), else one
    that waits for their account; it stops waiting."""
    intent = find_intent(key) or db.session.scalar(
        db.select(PendingIntent)
        .where(PendingIntent.user_id == user.id, _waiting(utcnow()))
        .order_by(PendingIntent.id.desc())
        .limit(1)
    )
    if intent is not None:
        intent.user_id, intent.key_hash, intent.kept_at = user.id, None, utcnow()
    return intent


def carry_out_intent(user: User, intent: PendingIntent) -> Outcome:
    """Do what intent asked as user: vote or follow by the usual rules (raises their
    OperationError), or hand back a draft; an idea or board that is gone answers GONE."""
    if intent.kind == "idea":
        board = db.session.scalar(db.select(Board).filter_by(slug=intent.board_slug or ""))
        if board is None or not board.can_view(user):
            return Outcome("gone", str(GONE), "info")
        return Outcome("idea", str(TEXT_KEPT), "info", board_slug=board.slug, draft_id=intent.id)
    idea = db.session.scalar(db.select(Idea).filter_by(number=intent.idea_number or 0))
    if idea is None or not idea.can_view(user):
        return Outcome("gone", str(GONE), "info")
    if idea.merged_into is not None and idea.status == workflow.DUPLICATE:
        idea = idea.merged_into  # its votes and followers went there too
    if intent.kind == "vote":
        cast_vote(user, idea, intent.weight)
        return Outcome("vote", str(VOTED), "success", idea.number)
    if intent.kind == "follow":
        set_subscription(user, idea, SubscriptionLevel.ALL)
        return Outcome("follow", str(FOLLOWING), "success", idea.number)
    if not idea.can_comment(user):
        return Outcome("gone", str(NO_COMMENTS), "info", idea.number)
    return Outcome("comment", str(TEXT_KEPT), "info", idea.number, draft_id=intent.id)


def kept_draft(user, draft_id, kind: str) -> PendingIntent | None:
    """A draft handed back to user (an idea's or a comment's text), for the form it fills."""
    if not (user.is_authenticated and str(draft_id).isdecimal() and len(str(draft_id)) < 12):
        return None
    return db.session.scalar(
        db.select(PendingIntent)
        .filter_by(id=int(draft_id), user_id=user.id, kind=kind)
        .where(PendingIntent.kept_at.is_not(None))
    )


def expired_intents(now: datetime):
    """Housekeeping's condition: intents past their lifetime, carried out or not."""
    return or_(
        PendingIntent.created_at < now - ACCOUNT_LIFETIME,
        and_(PendingIntent.user_id.is_(None), PendingIntent.created_at < now - LIFETIME),
        and_(PendingIntent.kept_at.is_not(None), PendingIntent.kept_at < now - LIFETIME),
    )
