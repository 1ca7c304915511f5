"""Languages: English and German, chosen per request (README, "Languages").

A signed-in person's own setting wins; then the language a visitor picked in the footer
(a cookie); then the browser's Accept-Language; then English. Mails are written in the
recipient's language (`in_language_of`).
"""

from contextlib import contextmanager
from datetime import UTC, datetime

from flask import has_request_context, request
from flask_babel import (
    Babel,
    force_locale,
    format_date,
    format_number,
    format_timedelta,
    get_locale,
    gettext,
)
from flask_login import current_user

LANGUAGES = {"en": "English", "de": "Deutsch"}
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "stimme_language"

babel = Babel()


def select_language() -> str:
    if not has_request_context() or request.blueprint == "api":
        return DEFAULT_LANGUAGE  # the JSON API answers in English, for programs
    user = current_user
    if user and user.is_authenticated and user.locale in LANGUAGES:
        return user.locale
    picked = request.cookies.get(LANGUAGE_COOKIE)
    return picked if picked in LANGUAGES else browser_language()


def browser_language() -> str:
    """The best of our languages for the browser's Accept-Language, else English."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)


def language() -> str:
    """The current request's language code: "en" or "de"."""
    return str(get_locale() or DEFAULT_LANGUAGE)


@contextmanager
def in_language_of(user):
    """Write mails, notices and messages for `user` in their language, not the requester's.

    An account with no language chosen gets the language of the page being answered (a new
    sign-up, a reset asked for from the browser); outside a request, English.
    """
    code = getattr(user, "locale", "")
    with force_locale(code if code in LANGUAGES else select_language()):
        yield


def english(text) -> str:
    """A built-in (lazy) text in English whoever asks: the API, webhooks and CSV stay English."""
    with force_locale(DEFAULT_LANGUAGE):
        return str(text)


def time_ago(moment: datetime | None) -> str:
    """ "3 days ago" / "vor 3 Tagen", rounded to the nearest unit; under a minute, "just
    now" / "gerade eben"."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elapsed = datetime.now(UTC) - moment
    if elapsed.total_seconds() < 60:
        return gettext("just now")
    # threshold=1: "13 months ago" would read oddly; Babel rounds up a unit past 0.85
    # by default, so 11 months would say "1 year" (granularity stays exact).
    return format_timedelta(-elapsed, add_direction=True, threshold=1.0)


def short_date(moment: datetime | None) -> str:
    """ "Nov 27, 2026" / "27.11.2026"."""
    return format_date(moment, "medium") if moment else ""


def init_app(app) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    babel.init_app(app, locale_selector=select_language)
    app.jinja_env.globals.update(languages=LANGUAGES, language=language)
    app.jinja_env.filters["number"] = format_number  # 1,234 / 1.234
