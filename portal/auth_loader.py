"""Who is signed in: server-side sessions behind the session cookie, the sign-in that waits
for a second factor, and what flask-login does for anonymous visitors.

The cookie (Flask's signed session) holds a random session token where flask-login keeps a
user id; the database holds only the token's hash, so deleting the row ends the session
wherever its cookie is.
"""

import time

from flask import flash, request, session, url_for
from flask_login import current_user, login_user, logout_user

from portal.database import keep_writes
from portal.extensions import db, login_manager
from portal.htmx import navigate
from portal.i18n import gettext
from portal.models import User
from portal.operations.sessions import close_session, open_session, use_session
from portal.operations.two_factor import must_set_up_two_factor

login_manager.login_view = "auth.signin"

# Where a staff member who must set up two-factor sign-in may still go.
TWO_FACTOR_SETUP_ENDPOINTS = frozenset({"account.two_factor", "auth.signout", "static"})
PENDING = "second_factor"  # the session key of a sign-in that waits for its code
PENDING_SECONDS = 300
REMEMBER_COOKIE = "remember_token"


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """The user of a live session: one query joining the session and its user."""
    user = use_session(str(token))
    if user is None:
        session.pop("_user_id", None)  # an ended session: the cookie stops asking
        if REMEMBER_COOKIE in request.cookies:  # flask-login's, from before these sessions
            session["_remember"] = "clear"
    return user


def load_signed_in_user():
    """before_request: load the user before the view runs, so that the once-a-minute note
    of the session's use commits on its own, whatever the view answers; send staff who
    must first set up two-factor sign-in there. Static files and the API (tokens, never
    cookies) are left alone."""
    if "_user_id" not in session or request.endpoint == "static" or request.blueprint == "api":
        return None
    if current_user.is_authenticated and db.session.dirty:
        keep_writes()
    if (
        current_user.is_authenticated
        and request.endpoint not in TWO_FACTOR_SETUP_ENDPOINTS
        and must_set_up_two_factor(current_user)
    ):
        return navigate(url_for("account.two_factor"))
    return None


def sign_in(user: User, remember: bool) -> None:
    """Start a new session for user: a new token in a cleared cookie (no fixation), which
    outlives the browser only with "remember me". The caller commits."""
    token = open_session(user, remember, request.user_agent.string, request.remote_addr or "")
    _leave_current_session()
    session.permanent = remember
    user.session_token = token
    login_user(user)


def sign_out() -> None:
    """End this browser's session on the server and in the cookie. The caller commits."""
    _leave_current_session()
    logout_user()


def _leave_current_session() -> None:
    if current_user.is_authenticated:  # signing in again, perhaps as someone else
        close_session(current_user.session_token)
    session.clear()


def await_second_factor(user: User, remember: bool, target: str) -> None:
    """The password was right: keep who is signing in until their code comes (no session
    exists until then)."""
    _leave_current_session()
    session[PENDING] = {"user": user.id, "remember": remember, "next": target,
                        "until": time.time() + PENDING_SECONDS}  # fmt: skip


def pending_sign_in() -> tuple[User, bool, str] | None:
    """The user waiting to give a second factor, "remember me" and where to go after."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or pending.get("until", 0) < time.time():
        return None
    user = db.session.get(User, pending.get("user", 0))
    if user is None or not user.is_active or not user.has_two_factor:
        return None
    return user, bool(pending.get("remember")), pending.get("next") or "/"


def second_factor_key() -> str:
    """Wrong codes are counted per account, whichever address they come from."""
    if current_user.is_authenticated:
        return f"second-factor:{current_user.id}"
    pending = session.get(PENDING)
    user_id = pending.get("user") if isinstance(pending, dict) else None
    return f"second-factor:{user_id}" if user_id else f"second-factor-ip:{request.remote_addr}"


@login_manager.unauthorized_handler
def unauthorized():
    flash(gettext("Please sign in to continue."), "info")
    target = request.full_path if request.method == "GET" else request.referrer
    return navigate(url_for("auth.signin", next=target or None))
