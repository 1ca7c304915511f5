"""Loading with permission checks, paging, and what every template can use."""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from portal import statuses, workflow
from portal.database import all_or_nothing
from portal.extensions import db
from portal.i18n import short_date, time_ago
from portal.markup import plain_excerpt, stored_html
from portal.memberpages import slot
from portal.models import Board, Idea, Role
from portal.notifications import unread_count
from portal.operations import OperationError, ValidationError
from portal.operations.accounts import absolute_url, passwords_open_to
from portal.operations.admin import footer_links
from portal.operations.flags import REASONS as FLAG_REASONS
from portal.representations import iso
from portal.security import csp_nonce
from portal.settings import site_settings


def get_board(slug: str) -> Board:
    """Return the board the current user may see; 404 otherwise (private boards too)."""
    board = db.session.scalar(db.select(Board).filter_by(slug=slug))
    if board is None or not board.can_view(current_user):
        abort(404)
    return board


@dataclass
class Page:
    items: list
    number: int
    per_page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.number > 1


def page_number() -> int:
    value = request.args.get("page", "1")
    # isdecimal, not isdigit: int() refuses digits such as "²".
    return min(int(value), 10_000) if value.isdecimal() and int(value) > 0 else 1


def paginate(query, number: int, per_page: int) -> Page:
    """One page of query's rows; one extra row tells whether a next page exists."""
    rows = db.session.scalars(query.limit(per_page + 1).offset((number - 1) * per_page)).all()
    return Page(rows[:per_page], number, per_page, len(rows) > per_page)


def safe_next(default: str) -> str:
    """The `next` form field or query value if it points into this site, else default."""
    target = request.values.get("next") or ""
    parts = urlsplit(target)
    if (
        target.startswith("/")
        and "\\" not in target
        and not target.startswith("//")
        and not parts.netloc
    ):
        return target
    return default


def idea_url(idea: Idea) -> str:
    return url_for("public.idea", number=idea.number)


# A number no other part of a URL contains, for url_pattern to swap for each idea's.
URL_SAMPLE = str(2**31 - 1)


def url_pattern(endpoint: str):
    """url_for(endpoint, number=n) as a function of n: one url_for for a page of cards."""
    before, _, after = url_for(endpoint, number=URL_SAMPLE).partition(URL_SAMPLE)
    return lambda number: f"{before}{number}{after}"


def brand_url(name: str) -> str:
    """The address of an uploaded logo or favicon from its file name; "" for none."""
    kind, _dash, rest = name.partition("-")
    digest, _dot, extension = rest.partition(".")
    return url_for("brand.image", kind=kind, digest=digest, extension=extension) if name else ""


def register(app) -> None:
    app.jinja_env.filters["time_ago"] = time_ago
    app.jinja_env.filters["html"] = stored_html
    app.jinja_env.filters["excerpt"] = plain_excerpt
    app.jinja_env.filters["iso"] = lambda moment: iso(moment, timespec="seconds") or ""
    app.jinja_env.filters["date"] = short_date

    @app.context_processor
    def site():
        """The admins' settings, for every page and mail."""
        settings = site_settings()
        return {
            "site_name": settings["site_name"],
            "accent": settings["accent"],
            "header_colour": settings["header"],
            "footer_links": footer_links(settings["footer_links"]),
            "logo_url": brand_url(settings["logo"]),
            "favicon_url": brand_url(settings["favicon"]),
            "guidelines_html": settings.get("guidelines_html", ""),
            # Newcomers sign up with a password only while customers may use one.
            "customers_use_passwords": passwords_open_to(Role.CUSTOMER),
        }

    # Globals, not a context processor, so imported macros can use them too.
    app.jinja_env.globals.update(
        csrf_token=generate_csrf,
        csp_nonce=csp_nonce,
        statuses=statuses.STATUSES,
        status_of=statuses.get_status,  # also names a status an admin has since removed
        builtin_statuses=workflow.BUILTIN_SLUGS,
        flag_reasons=FLAG_REASONS,
        Role=Role,
        idea_url=idea_url,
        url_pattern=url_pattern,
        slot=slot,
        unread_notifications=lambda: unread_count(current_user),
    )


def carry_out(action, done: str, back: str, back_if_refused: str | None = None, invalid=None):
    """Run a staff action from a plain form: say what happened, or undo it and say why not
    (403 when the person may not act at all); then redirect. invalid(error), when given,
    answers a ValidationError instead (the form again, with its errors)."""
    try:
        with all_or_nothing():
            action()
    except OperationError as refused:
        if refused.status_code == 403:
            abort(403)
        if invalid is not None and isinstance(refused, ValidationError):
            return invalid(refused)
        flash(refused.explanation, "error")
        return redirect(back_if_refused or back, code=303)
    flash(done, "success")
    return redirect(back, code=303)


# Characters XML 1.0 forbids even as references (U+FFFE, U+FFFF, C0 controls): one in a
# title would make the whole feed unreadable, and clean_text lets the first two through.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def atom_feed(template: str, **context):
    """An Atom feed from template. Its ids and links are built on BASE_URL (`absolute`), so an
    entry keeps its id whatever host name the feed was fetched under."""
    xml = NOT_XML.sub("", render_template(template, absolute=absolute_url, **context))
    return current_app.response_class(xml, mimetype="application/atom+xml")


def public_boards() -> list[Board]:
    """Boards feeds may show: feed readers fetch without a session, so never private ones,
    whoever asks."""
    return db.session.scalars(
        db.select(Board).filter_by(is_private=False).order_by(Board.position, Board.name)
    ).all()
