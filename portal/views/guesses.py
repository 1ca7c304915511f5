"""The limits on guesses: passwords, codes, and mails sent to an address (issue 18).

Counted per account (and, for forms that name one, per address too), whichever route
spends it: guesses spread over routes, over addresses or over accounts run out the same.
Named limits themselves live in portal/ratelimits.py, below the configuration.
"""

import hashlib

from flask import request
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from portal.auth_loader import second_factor_key
from portal.operations import ValidationError
from portal.operations.accounts import normalise_email
from portal.ratelimits import named_limit


def address_key() -> str:
    return f"address:{get_remote_address()}"


def named_account_key() -> str:
    """The account a visitor's form names: its email, normalised as accounts store it.

    Never raises: Flask-Limiter takes an error here for its store failing and stops
    counting, so a body too large to read (answered 413) counts on the address alone."""
    try:
        email = request.form.get("email", "")
    except HTTPException:
        return f"unreadable:{get_remote_address()}"  # not address_key(): counted once
    return _account_key(email)


def own_account_key() -> str:
    """The signed-in person's account, the same count as forms that name their email."""
    if not current_user.is_authenticated:  # login_required answers; the limit must not fail
        return address_key()
    return _account_key(current_user.email)


def _account_key(email: str) -> str:
    try:
        email = normalise_email(email)
    except ValidationError:  # still one count per typed text, so no way around it
        email = " ".join(email.split()).lower()
    # Hashed: the limiter's store (Redis) need not hold addresses, and keys stay short.
    return "account:" + hashlib.sha256(email.encode(errors="replace")).hexdigest()[:32]


def wrong_answer(response) -> bool:
    return response.status_code == 422


def visitor_form_limit(name: str, wrong_answers_per_account: bool = False):
    """The named limit on a form that names an account by email (sign-in, sign-up, reset):
    every POST counts per address; per that account every POST too, or with
    wrong_answers_per_account only the wrong answers (422), so that the owner's own right
    answers never use up what guessers leave them."""
    on_account = {"deduct_when": wrong_answer} if wrong_answers_per_account else {}

    def decorate(view):
        view = named_limit(name, key_func=named_account_key, methods=["POST"], **on_account)(view)
        return named_limit(name, key_func=address_key, methods=["POST"])(view)

    return decorate


def own_account_limit(name: str, wrong_answers_only: bool = False):
    """The named limit on a signed-in person's form, counted on their account with the
    forms that name it: a wrong current password on /me is a sign-in guess too."""
    wrong = {"deduct_when": wrong_answer} if wrong_answers_only else {}
    return named_limit(name, key_func=own_account_key, methods=["POST"], **wrong)


def second_factor_limit(view):
    """Wrong codes (or passwords) given as proof of a second factor, counted per account
    over every route that asks for one: the sign-in's second step, turning two-factor off,
    new recovery codes, an admin confirming a reset. Answer a wrong one with 422. Not per
    address too: a code is worth guessing only behind its account's password, and
    neighbours behind one address keep their own counts."""
    return named_limit("two_factor", key_func=second_factor_key, methods=["POST"],
                       deduct_when=wrong_answer)(view)  # fmt: skip


def one_step_sign_in_limit(view):
    """The SIGNIN limit on a sign-in that one request makes (the signed sign-on, an OpenID
    Connect provider's callback, an operator's link): only answers that sign nobody in
    (anything but the redirect onwards) count, as wrong sign-ins from that address."""
    return named_limit("signin", key_func=address_key, deduct_when=signed_in_nobody)(view)


def signed_in_nobody(response) -> bool:
    return response.status_code != 303
