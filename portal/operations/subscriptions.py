from portal.extensions import db
from portal.models import Subscription, SubscriptionLevel

_RANK = {SubscriptionLevel.STATUS: 1, SubscriptionLevel.ALL: 2}


def subscribe(user, idea, level: str) -> Subscription:
    """Follow idea at level, never lowering an existing level or undoing an unsubscribe."""
    subscription = db.session.scalar(
        db.select(Subscription).filter_by(user_id=user.id, idea_id=idea.id)
    )
    if subscription is None:
        subscription = Subscription(user_id=user.id, idea_id=idea.id, level=level)
        db.session.add(subscription)
    elif _RANK[level] > _RANK[subscription.level]:
        subscription.level = level
    return subscription


def set_subscription(user, idea, level: str | None) -> Subscription:
    """Set the person's own choice: a level, or None to unsubscribe (remembered)."""
    subscription = subscribe(user, idea, level or SubscriptionLevel.STATUS)
    subscription.muted = level is None
    if level:
        subscription.level = level
    return subscription
