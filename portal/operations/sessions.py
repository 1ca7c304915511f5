"""Server-side sessions: a signed-in browser holds a random token, the database its digest;
when sessions end, and the names people read for their devices."""

import secrets
from datetime import datetime, timedelta

from flask import current_app

from portal.extensions import db
from portal.i18n import gettext as _
from portal.models import User, UserSession, utcnow
from portal.operations import OperationError
from portal.operations.hashes import digest

# Writing last_seen_at on every request would make each page a write; once a minute is
# enough to show when a session was last used and to end idle ones.
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)


def open_session(user: User, remember: bool, user_agent: str, ip_address: str) -> str:
    """Start a session for user; returns its token, which only the cookie holds."""
    token = secrets.token_urlsafe(32)
    _forget_ended_sessions(user)
    db.session.add(
        UserSession(
            user_id=user.id,
            token_hash=digest(token),
            remember=remember,
            device=describe_device(user_agent or ""),
            ip_address=(ip_address or "")[:45],
        )
    )
    return token


def session_has_ended(row: UserSession, now: datetime | None = None) -> bool:
    """True once the session was idle too long, or is older than any session may be.

    ended_session_clause below is the same rule in SQL: change the two together.
    """
    config = current_app.config
    now = now or utcnow()
    idle = config["SESSION_REMEMBER_TIMEOUT" if row.remember else "SESSION_IDLE_TIMEOUT"]
    return now - row.last_seen_at > idle or now - row.created_at > config["SESSION_MAX_AGE"]


def ended_session_clause(now: datetime):
    """session_has_ended as a WHERE clause, for removing ended sessions in bulk
    (portal/housekeeping.py); tests/test_housekeeping.py checks that the two agree."""
    config = current_app.config
    remembered = UserSession.remember.is_(True)
    last_seen = UserSession.last_seen_at
    return db.or_(
        db.and_(remembered, last_seen < now - config["SESSION_REMEMBER_TIMEOUT"]),
        db.and_(~remembered, last_seen < now - config["SESSION_IDLE_TIMEOUT"]),
        UserSession.created_at < now - config["SESSION_MAX_AGE"],
    )


# Built once: every signed-in request runs it, and building it would cost half as much again.
SESSION_AND_USER = (
    db.select(UserSession, User)
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.token_hash == db.bindparam("token_hash"))
)


def use_session(token: str) -> User | None:
    """The user of the live session with this token, in one query; None once it ended.

    Notes the use at most once a minute: the caller commits that change.
    """
    found = db.session.execute(SESSION_AND_USER, {"token_hash": digest(token)}).one_or_none()
    if found is None:
        return None
    row, user = found
    now = utcnow()
    if not user.is_active or session_has_ended(row, now):
        return None
    if now - row.last_seen_at >= SESSION_TOUCH_INTERVAL:
        row.last_seen_at = now
    user.session_token = token
    return user


def active_sessions(user: User) -> list[UserSession]:
    """The user's live sessions, the most recently used first."""
    rows = db.session.scalars(
        db.select(UserSession)
        .filter_by(user_id=user.id)
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    return [row for row in rows if not session_has_ended(row)]


def is_current_session(user: User, row: UserSession) -> bool:
    return user.session_token is not None and row.token_hash == digest(user.session_token)


def close_session(token: str) -> None:
    """Sign out: the session's row goes, so its cookie is refused from now on."""
    db.session.execute(db.delete(UserSession).where(UserSession.token_hash == digest(token)))


def end_session(user: User, session_id: int) -> UserSession:
    """End one of user's own sessions; raises OperationError for any other."""
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != user.id:
        raise OperationError(_("That is not one of your sessions."))
    db.session.delete(row)
    return row


def end_other_sessions(user: User, keep_token: str | None) -> int:
    """End every session of user but the one with keep_token (all of them for None);
    returns how many ended."""
    query = db.delete(UserSession).where(UserSession.user_id == user.id)
    if keep_token is not None:
        query = query.where(UserSession.token_hash != digest(keep_token))
    return db.session.execute(query).rowcount


def _forget_ended_sessions(user: User) -> None:
    for row in db.session.scalars(db.select(UserSession).filter_by(user_id=user.id)):
        if session_has_ended(row):
            db.session.delete(row)


BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
            ("Chrome/", "Chrome"), ("Safari/", "Safari"))  # fmt: skip
SYSTEMS = (("iPhone", "iOS"), ("iPad", "iPadOS"), ("Android", "Android"),
           ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
           ("Linux", "Linux"))  # fmt: skip


def describe_device(user_agent: str) -> str:
    """A person's words for a browser: "Firefox on Linux", from its User-Agent."""
    browser = next((name for mark, name in BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "An unknown browser")


def device_label(device: str) -> str:
    """A stored description from describe_device (kept in English) in the reader's
    language: "Firefox auf Linux" for "Firefox on Linux"."""
    if device == "An unknown browser":
        return _("An unknown browser")
    if device.startswith("A browser on "):
        return _("A browser on %(system)s", system=device.removeprefix("A browser on "))
    browser, on, system = device.partition(" on ")
    return _("%(browser)s on %(system)s", browser=browser, system=system) if on else device
