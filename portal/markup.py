"""The one place user text becomes HTML: Markdown rendered once, on write, then sanitised."""

import re

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = frozenset(
    {
        "a", "b", "blockquote", "br", "code", "del", "em", "h3", "h4", "h5", "h6", "hr",
        "i", "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead",
        "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"align"}, "th": {"align"}}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow ugc noopener"

# C0 and C1 control characters except tab, newline and carriage return.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Raw HTML in Markdown is escaped, not passed through; headings start at h3 so user
# text never outranks the page's own headings.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_markdown.enable("strikethrough")


def clean_text(text: str | None) -> str:
    """Strip control characters and surrounding whitespace; normalise line endings."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    return CONTROL_CHARACTERS.sub("", text).strip()


def _demote_headings(html: str) -> str:
    return re.sub(r"<(/?)h[12]>", r"<\1h3>", html)


def render_markdown(text: str) -> str:
    """Render Markdown to HTML that is safe to store and show as it is."""
    html = _demote_headings(_markdown.render(text))
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel=LINK_REL,
    )


def stored_html(html: str) -> Markup:
    """Mark HTML made by render_markdown as safe for templates."""
    return Markup(html)
