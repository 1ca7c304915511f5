"""Languages: English and German, chosen per request (README, "Languages").

A signed-in person's own setting wins; then the language a visitor picked in the footer
(a cookie); then the browser's Accept-Language; then English. Mails are written in the
recipient's language (`in_language_of`).
"""

from contextlib import contextmanager
from datetime import UTC, datetime

from flask import g, has_request_context, request
from flask_babel import (
    Babel,
    LazyString,
    force_locale,
    format_date,
    format_number,
    format_timedelta,
    get_locale,
    get_translations,
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
    return visitor_language()


def visitor_language() -> str:
    """The language picked in the footer (a cookie), else the browser's: what a visitor
    reads, found without loading anyone (the page cache asks on every visit)."""
    picked = request.cookies.get(LANGUAGE_COOKIE)
    return picked if picked in LANGUAGES else browser_language()


def browser_language() -> str:
    """The best of our languages for the browser's Accept-Language, else English."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)


def current_catalogue():
    """The catalogue of the language being written in, found once per request and language.

    Flask-Babel finds it again for every text, which was a third of a long page's time.
    force_locale() sets another locale object, so a kept catalogue never outlives it.
    """
    try:
        namespace = g._flask_babel
        locale = namespace.babel_locale
    except (AttributeError, RuntimeError):  # the request's first text, or no context
        return get_translations()
    kept = getattr(namespace, "stimme_catalogue", None)
    if locale is None or kept is None or kept[0] is not locale:
        catalogue = get_translations()
        kept = namespace.stimme_catalogue = (namespace.babel_locale, catalogue)
    return kept[1]


def gettext(text: str, **variables) -> str:
    """Flask-Babel's gettext, through the catalogue found once (current_catalogue)."""
    translated = current_catalogue().ugettext(text)
    return translated % variables if variables else translated


def ngettext(singular: str, plural: str, num: int, **variables) -> str:
    variables.setdefault("num", num)
    return current_catalogue().ungettext(singular, plural, num) % variables


def lazy_gettext(text: str, **variables) -> LazyString:
    """A text translated each time it is shown: for module-level labels and messages."""
    return LazyString(gettext, text, **variables)


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
    app.jinja_env.install_gettext_callables(  # Flask-Babel's, with the catalogue found once
        gettext=lambda text: current_catalogue().ugettext(text),
        ngettext=lambda singular, plural, n: current_catalogue().ungettext(singular, plural, n),
        newstyle=True,
    )
    app.jinja_env.globals.update(languages=LANGUAGES, language=language)
    app.jinja_env.filters["number"] = format_number  # 1,234 / 1.234
