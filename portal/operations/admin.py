"""Admins set up the site: boards and their categories, people's roles, the site settings."""

import math
import re
import unicodedata

from flask_babel import format_decimal, format_number

from portal.extensions import db
from portal.i18n import gettext as _
from portal.markup import clean_text, render_markdown
from portal.models import Board, Category, Role, User
from portal.operations import PermissionDenied, ValidationError
from portal.operations.audit import record_audit
from portal.operations.sign_in_modes import mode_refusal, password_sign_in
from portal.operations.web_addresses import web_address
from portal.settings import save_settings, site_settings

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,59}")
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
NAME_MAX = 80
# WCAG 2 AA for normal text.
CONTRAST_MIN = 4.5
WHITE, TEXT = "#ffffff", "#1f2328"  # the button text on the accent; the site's text colour
DEFAULT_ACCENT, DEFAULT_ACCENT_DARK = "#1f6feb", "#1858bd"
FOOTER_LINKS_MAX = 6
LABEL_MAX = 40
URL_MAX = 500
GUIDELINES_MAX = 5_000
BOARD_FIELDS = ("name", "description", "is_private", "votes_per_user", "max_votes_per_idea",
                "hold_new_posts", "voters_public")  # fmt: skip


def require_admin(actor) -> None:
    if not (actor.is_authenticated and actor.has_role(Role.ADMIN)):
        raise PermissionDenied(_("Only admins change the site's setup."))


def _number(value, field: str, low: int, high: int, errors: dict) -> int:
    text = str(value or "0").strip()
    if not text.isdecimal() or not low <= int(text) <= high:
        errors[field] = _("A whole number from %(low)s to %(high)s.", low=low, high=high)
        return low
    return int(text)


def save_board(actor, board: Board | None, form: dict) -> Board:
    """Create a board (board None) or change one: name, privacy, votes, holding new posts."""
    require_admin(actor)
    errors = {}
    name = clean_text(form.get("name", ""))
    if not name or len(name) > NAME_MAX:
        errors["name"] = _("Give the board a name of at most %(max)s characters.", max=NAME_MAX)
    values = {
        "name": name,
        "description": clean_text(form.get("description", ""))[:2000],
        "is_private": bool(form.get("is_private")),
        "hold_new_posts": bool(form.get("hold_new_posts")),
        "voters_public": bool(form.get("voters_public")),
        "votes_per_user": _number(form.get("votes_per_user"), "votes_per_user", 0, 1000, errors),
        "max_votes_per_idea": _number(
            form.get("max_votes_per_idea") or 1, "max_votes_per_idea", 1, 3, errors
        ),
    }
    if board is None:
        slug = (form.get("slug") or "").strip().lower()
        if not SLUG.fullmatch(slug):
            errors["slug"] = _("Lowercase letters, digits and hyphens, as in “mobile-app”.")
        elif db.session.scalar(db.select(Board.id).filter_by(slug=slug)):
            errors["slug"] = _("Another board has this address.")
    if errors:
        raise ValidationError(errors)
    before = None if board is None else {f: getattr(board, f) for f in BOARD_FIELDS}
    if board is None:
        board = Board(slug=slug)
        db.session.add(board)
    for field, value in values.items():
        setattr(board, field, value)
    db.session.flush()
    record_audit(actor, "board.save", board, before, {f: getattr(board, f) for f in BOARD_FIELDS})
    return board


def _category_slug(name: str, taken: set[str]) -> str:
    """ "Übersicht" gives "ubersicht"; a name with no Latin letters ("日本語") a free
    "category-N", so every language can name its categories."""
    latin = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", latin.lower()).strip("-")[:60]
    if slug:
        return slug
    return next(f"category-{n}" for n in range(1, len(taken) + 2) if f"category-{n}" not in taken)


def add_category(actor, board: Board, name: str) -> Category:
    require_admin(actor)
    name = clean_text(name or "")
    if not name or len(name) > NAME_MAX:
        raise ValidationError(
            {"category": _("A category name of at most %(max)s characters.", max=NAME_MAX)}
        )
    taken = {category.slug for category in board.categories}
    slug = _category_slug(name, taken)
    if slug in taken or any(category.name == name for category in board.categories):
        raise ValidationError(
            {"category": _("%(board)s already has that category.", board=board.name)}
        )
    category = Category(board=board, name=name, slug=slug)
    db.session.add(category)
    db.session.flush()
    record_audit(actor, "category.add", category, None, {"board": board.slug, "name": name})
    return category


def set_role(actor, user: User, role_value: str) -> None:
    """Give someone a role; an admin cannot take away their own admin rights."""
    require_admin(actor)
    try:
        role = Role(int(role_value))
    except (TypeError, ValueError):
        raise ValidationError({"role": _("Choose one of the roles.")}) from None
    if user.id == actor.id and role < Role.ADMIN:
        raise ValidationError({"role": _("You cannot take away your own admin rights.")})
    before = {"role": user.role.name.lower()}
    user.role = role
    record_audit(actor, "user.role", user, before, {"role": role.name.lower()})


def save_site(actor, form: dict) -> None:
    """The site's name, colours (checked for contrast) and footer links, the guidelines
    shown where ideas are posted, whether staff must use two-factor sign-in, and who may
    sign in with a password (a mode that would leave customers or staff without a way in
    is refused; a form without the field keeps the mode in force)."""
    require_admin(actor)
    name = clean_text(form.get("site_name", ""))
    guidelines = clean_text(form.get("guidelines", ""))
    errors = {}
    if not name or len(name) > NAME_MAX:
        errors["site_name"] = _("A name of at most %(max)s characters.", max=NAME_MAX)
    colours = colour_values(form, errors)
    links = footer_link_values(form, errors)
    if len(guidelines) > GUIDELINES_MAX:
        errors["guidelines"] = _("At most %(max)s characters.", max=format_number(GUIDELINES_MAX))
    mode, mode_before = form.get("password_sign_in") or password_sign_in(), password_sign_in()
    if mode != mode_before and (refusal := mode_refusal(mode)):
        errors["password_sign_in"] = refusal
    if errors:
        raise ValidationError(errors)
    keys = ("site_name", "accent", "header", "footer_links", "guidelines",
            "require_staff_two_factor")  # fmt: skip
    before = {key: site_settings()[key] for key in keys}
    two_factor = "1" if form.get("require_staff_two_factor") else ""
    values = {"site_name": name, **colours, "footer_links": links, "guidelines": guidelines,
              "guidelines_html": render_markdown(guidelines) if guidelines else "",
              "require_staff_two_factor": two_factor}  # fmt: skip
    save_settings({**values, "password_sign_in": mode})
    record_audit(actor, "site.settings", None, before, {k: values[k] for k in before})
    if mode != mode_before:  # who may use a password: an entry of its own, easy to find
        record_audit(actor, "site.password_sign_in", None, {"password_sign_in": mode_before},
                     {"password_sign_in": mode})  # fmt: skip


# ------------------------------------------------------------------------------ colours


def luminance(colour: str) -> float:
    """WCAG 2's relative luminance of #rrggbb."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(one: str, other: str) -> float:
    """WCAG 2's contrast ratio of two #rrggbb colours, from 1 to 21."""
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def contrast_refusal(colour: str, text: str, text_name: str) -> str | None:
    """Why text on colour is too hard to read, with the ratio measured; None when it is not."""
    ratio = contrast_ratio(colour, text)
    if ratio >= CONTRAST_MIN:
        return None
    shown = math.floor(ratio * 10) / 10  # never round 4.46 up to a passing 4.5
    return _(
        "%(ratio)s:1 is too little contrast with %(against)s; at least %(min)s:1.",
        ratio=format_decimal(shown, format="0.0"),
        against=text_name,
        min=format_decimal(CONTRAST_MIN, format="0.0"),
    )


def colour_values(form: dict, errors: dict) -> dict[str, str]:
    """The accent (white text on its buttons, its links on white) and the header's
    background (the site's text and the accent's links on it), checked for contrast. A form
    without the header colour keeps the one in force."""
    accent = (form.get("accent") or "").strip().lower()
    header = (form.get("header") or site_settings()["header"]).strip().lower()
    for name, value in (("accent", accent), ("header", header)):
        if not COLOUR.fullmatch(value):
            errors[name] = _("Pick a colour such as #1f6feb.")
    if "accent" not in errors and (refusal := contrast_refusal(accent, WHITE, _("white text"))):
        errors["accent"] = refusal
    if "header" not in errors:
        refusal = contrast_refusal(header, TEXT, _("the text"))
        if refusal is None and "accent" not in errors:
            # The default accent's links in the header are its darker shade (stimme.css).
            links = DEFAULT_ACCENT_DARK if accent == DEFAULT_ACCENT else accent
            refusal = contrast_refusal(header, links, _("the accent colour of its links"))
        if refusal:
            errors["header"] = refusal
    return {"accent": accent, "header": header}


# ------------------------------------------------------------------------- footer links


def footer_links(text: str) -> list[tuple[str, str]]:
    """The stored footer links as (label, URL) pairs."""
    pairs = (line.partition("|") for line in text.splitlines() if "|" in line)
    return [(label.strip(), url.strip()) for label, _bar, url in pairs]


def footer_link_values(form: dict, errors: dict) -> str:
    """The footer links, one "Label | https://…" a line, checked; a form without the field
    keeps those in force."""
    if "footer_links" not in form:
        return site_settings()["footer_links"]
    lines = [line.strip() for line in clean_text(form["footer_links"]).splitlines()]
    lines = [line for line in lines if line]
    kept = []
    for line in lines:
        label, bar, url = (part.strip() for part in line.partition("|"))
        if not bar or not label or len(label) > LABEL_MAX or len(url) > URL_MAX:
            errors["footer_links"] = _(
                "One link a line, as in “Privacy | https://example.com/privacy”; labels of "
                "at most %(max)s characters.", max=LABEL_MAX)  # fmt: skip
            break
        if web_address(url) is None:
            errors["footer_links"] = _("Only http and https addresses: %(url)s", url=url)
            break
        kept.append(f"{label} | {url}")
    if len(lines) > FOOTER_LINKS_MAX:
        errors["footer_links"] = _("At most %(max)s links.", max=FOOTER_LINKS_MAX)
    return "\n".join(kept)
