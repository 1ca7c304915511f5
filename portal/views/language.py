"""Choosing the interface language from the footer or the profile (portal/i18n.py decides
which applies)."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user, login_required

from portal.i18n import LANGUAGE_COOKIE, LANGUAGES
from portal.operations import ValidationError
from portal.operations.accounts import set_language
from portal.views.helpers import safe_next

bp = Blueprint("language", __name__)

ONE_YEAR = 365 * 24 * 3600


def _remembered(code: str):
    """Back to where the person was, with their choice kept in a cookie for later visits
    ("" forgets it: the browser's Accept-Language decides again)."""
    response = redirect(safe_next(url_for("public.index")), code=303)
    if code:
        response.set_cookie(LANGUAGE_COOKIE, code, max_age=ONE_YEAR, secure=request.is_secure,
                            httponly=True, samesite="Lax")  # fmt: skip
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
    try:
        set_language(current_user, code)
    except ValidationError:
        abort(400)  # the form offers only valid choices
    return _remembered(code)
