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
    """Render mails and other texts for `user` in their language, not the requester's."""
    code = getattr(user, "locale", "") or DEFAULT_LANGUAGE
    with force_locale(code if code in LANGUAGES else DEFAULT_LANGUAGE):
        yield


def time_ago(moment: datetime | None) -> str:
    """ "3 days ago" / "vor 3 Tagen"; under a minute, "just now" / "gerade eben"."""
    from flask_babel import gettext

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
    """ "27 Nov 2026" / "27. Nov. 2026"."""
    return format_date(moment, "medium") if moment else ""


def init_app(app) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    babel.init_app(app, locale_selector=select_language)
    app.jinja_env.globals.update(languages=LANGUAGES, language=language)
    app.jinja_env.filters["number"] = format_number  # 1,234 / 1.234
