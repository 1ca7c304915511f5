from portal.extensions import db
from portal.models import AuditEntry


def record_audit(actor, action: str, target, before=None, after=None) -> AuditEntry:
    """Append an audit entry for a staff action on target (a model with an id, or None for
    a site-wide change, filed under the action's first word)."""
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        action=action,
        target_type=type(target).__name__.lower() if target else action.split(".")[0],
        target_id=target.id if target else None,
        before=before,
        after=after,
    )
    db.session.add(entry)
    return entry
