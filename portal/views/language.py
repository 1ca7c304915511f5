"""Choosing the interface language from the footer (portal/i18n.py decides which applies)."""

from flask import Blueprint, abort, redirect, request
from flask_login import current_user, login_required

from portal.extensions import db
from portal.i18n import LANGUAGE_COOKIE, LANGUAGES
from portal.views.helpers import safe_next

bp = Blueprint("language", __name__)

ONE_YEAR = 365 * 24 * 3600


def _remembered(code: str):
    """Back to where the person was, with their choice kept in a cookie for later visits
    ("" forgets it: the browser's Accept-Language decides again)."""
    response = redirect(safe_next("/"), code=303)
    if code:
        response.set_cookie(
            LANGUAGE_COOKIE, code, max_age=ONE_YEAR, secure=request.is_secure, samesite="Lax"
        )
    else:
        response.delete_cookie(LANGUAGE_COOKIE)
    return response


@bp.get("/language/<code>")
def choose(code):
    """A visitor's choice: only a cookie, so a link is enough (and cached pages stay shared)."""
    if code not in LANGUAGES:
        abort(404)
    return _remembered(code)


@bp.post("/language")
@login_required
def save():
    """A signed-in person's choice becomes their account's language, mails included."""
    code = request.form.get("language", "")
    if code and code not in LANGUAGES:
        abort(400)
    response = _remembered(code)
    current_user.locale = code
    db.session.commit()
    return response
