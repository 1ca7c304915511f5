"""Spam brakes for accounts younger than a day, until a moderator approves one of their
posts (issue 5): few links per item and few ideas a day."""

import re
from datetime import timedelta

from portal.extensions import db
from portal.i18n import gettext as _
from portal.models import AuditEntry, Idea, utcnow
from portal.operations import ValidationError

LINKS_MAX = 2
NEW_IDEAS_PER_DAY = 3
LINK = re.compile(r"https?://|www\.", re.IGNORECASE)


def braked(author) -> bool:
    """New, untrusted, not staff, and no post of theirs approved by a moderator yet."""
    if not author.is_new or author.is_trusted or author.is_staff:
        return False
    approved = db.session.scalar(
        db.select(AuditEntry.id)
        .join(Idea, Idea.id == AuditEntry.target_id)
        .where(
            AuditEntry.target_type == "idea",
            AuditEntry.action.in_(["idea.approve", "idea.approve_trust"]),
            Idea.author_id == author.id,
        )
        .limit(1)
    )
    return approved is None


def check_links(author, *texts: str, field: str = "body") -> None:
    links = sum(len(LINK.findall(text or "")) for text in texts)
    if links > LINKS_MAX and braked(author):
        message = _(
            "New accounts can add at most %(max)s links to a post on their first day.",
            max=LINKS_MAX,
        )
        raise ValidationError({field: message})


def check_idea_pace(author) -> None:
    if not braked(author):
        return
    today = db.session.scalar(
        db.select(db.func.count(Idea.id)).where(
            Idea.author_id == author.id, Idea.created_at > utcnow() - timedelta(days=1)
        )
    )
    if today >= NEW_IDEAS_PER_DAY:
        raise ValidationError(
            {
                "title": _(
                    "New accounts can post %(max)s ideas on their first day. Come back "
                    "tomorrow, or vote for ideas like yours.",
                    max=NEW_IDEAS_PER_DAY,
                )
            }  # fmt: skip
        )
