"""The domain of SPEC section 2 as typed SQLAlchemy models with their permission rules.

One module per subject; importing the package imports them all, so the metadata Alembic
compares holds every table, and `from portal.models import Idea` works wherever a model
lives.
"""

from portal.models.accounts import (
    NEW_ACCOUNT_AGE,
    NO_PASSWORD,
    ROLE_LABELS,
    AccountToken,
    ApiToken,
    PendingIntent,
    RecoveryCode,
    Role,
    SignInLink,
    SpentSignOn,
    User,
    UserSession,
)
from portal.models.base import UTCDateTime, utcnow
from portal.models.boards import Board, Category
from portal.models.delivery import OutboxMessage, SearchTask, Webhook, WebhookDelivery
from portal.models.following import Notification, Subscription, SubscriptionLevel
from portal.models.ideas import (
    COMMENT_EDIT_WINDOW,
    TRENDING_EPOCH,
    TRENDING_SECONDS_PER_TENFOLD,
    Comment,
    Idea,
    Merge,
    StatusChange,
    Vote,
    trending_score,
)
from portal.models.moderation import AuditEntry, Flag
from portal.models.sitewide import (
    BlockedTransition,
    BrandImage,
    Counter,
    CustomStatus,
    IdentityProvider,
    SiteSetting,
)

__all__ = [
    "BrandImage",
    "COMMENT_EDIT_WINDOW",
    "NEW_ACCOUNT_AGE",
    "NO_PASSWORD",
    "ROLE_LABELS",
    "TRENDING_EPOCH",
    "TRENDING_SECONDS_PER_TENFOLD",
    "AccountToken",
    "ApiToken",
    "AuditEntry",
    "BlockedTransition",
    "Board",
    "Category",
    "Comment",
    "Counter",
    "CustomStatus",
    "Flag",
    "IdentityProvider",
    "Idea",
    "Merge",
    "Notification",
    "OutboxMessage",
    "PendingIntent",
    "RecoveryCode",
    "Role",
    "SearchTask",
    "SignInLink",
    "SiteSetting",
    "SpentSignOn",
    "StatusChange",
    "Subscription",
    "SubscriptionLevel",
    "UTCDateTime",
    "User",
    "UserSession",
    "Vote",
    "Webhook",
    "WebhookDelivery",
    "trending_score",
    "utcnow",
]
