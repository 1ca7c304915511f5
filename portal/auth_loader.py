"""How flask-login finds the signed-in user, and what it does for anonymous visitors."""

from flask import flash, request, url_for

from portal.extensions import db, login_manager
from portal.htmx import navigate
from portal.models import User

login_manager.login_view = "auth.signin"
login_manager.login_message = "Please sign in to continue."
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Load by "id:version": a password reset or sign-out everywhere ends old sessions."""
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version) or not user.is_active:
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized():
    flash(login_manager.login_message, "info")
    target = request.full_path if request.method == "GET" else request.referrer
    return navigate(url_for("auth.signin", next=target or None))
