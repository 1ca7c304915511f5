"""Buttons visitors see too (Vote, Follow, Post idea, Comment): pressed while signed out, the
intent is kept and the visitor is sent to sign in (SPEC section 12); portal/operations/
intents.py carries it out after.

Visitors' pages are cached and shared (portal/pagecache.py), so they carry no CSRF token: a
signed-out press is checked by where the browser says it came from instead, and all it can
do is keep an intent that the sign-in page then spells out. A signed-in press needs its
token as every other form does.
"""

import functools

from flask import current_app, session, url_for
from flask_login import current_user

from portal.database import begin_writing
from portal.extensions import csrf
from portal.htmx import navigate
from portal.operations.intents import find_intent, hold_intent
from portal.security import refuse_cross_site_writes, refuse_foreign_request

INTENT = "intent"  # the session key of a visitor's intent


def press(keep):
    """Decorate a POST view that visitors may press: signed in, the view runs (after the
    CSRF check); signed out, keep(**view_args) returns the hold_intent arguments and the
    page to come back to, the intent is kept, and the visitor goes to sign in."""

    def decorate(view):
        @functools.wraps(view)
        def run(*args, **kwargs):
            checks = current_app.config["WTF_CSRF_ENABLED"]
            if current_user.is_authenticated:
                if checks:
                    csrf.protect()
                    refuse_cross_site_writes()
                return view(*args, **kwargs)
            if checks:
                refuse_foreign_request()
            intent, back = keep(**kwargs)
            return hold_and_sign_in(intent, back)

        return csrf.exempt(run)

    return decorate


def hold_and_sign_in(intent: dict, back: str):
    """Keep the visitor's intent (one at a time) and send them to sign in, coming back to
    back."""
    begin_writing()  # some of these views read first (reads_first)
    session[INTENT] = hold_intent(previous=session.get(INTENT), **intent)
    return navigate(url_for("auth.signin", next=back))


def waiting_intent():
    """The intent this browser's visitor keeps, for the sign-in page to spell out."""
    return find_intent(session.get(INTENT))
