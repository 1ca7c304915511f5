"""The one place user text becomes HTML: Markdown rendered once, on write, then sanitised."""

import html
import re

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

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


def clean_line(text: str | None) -> str:
    """clean_text for a one-line field (a title, a name): each run of whitespace, line
    breaks included, becomes one space (SPEC section 9)."""
    return " ".join(clean_text(text).split())


def _demote_headings(html: str) -> str:
    return re.sub(r"<(/?)h[12]>", r"<\1h3>", html)


def sanitise(html: str) -> str:
    """Keep only the allowed tags, attributes and URL schemes of html; links get LINK_REL."""
    clean = nh3.clean(
        html.lstrip("\ufeff"),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel=LINK_REL,
    )
    # Parsing drops a leading byte-order mark and reads a carriage return as a newline, so a
    # second pass would change what "&#65279;" or "&#13;" became: settled here, sanitising
    # is idempotent (tests/test_sanitiser_properties.py).
    return clean.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def render_markdown(text: str) -> str:
    """Render Markdown to HTML that is safe to store and show as it is."""
    return sanitise(_demote_headings(_markdown.render(text)))


def stored_html(html: str) -> Markup:
    """Mark HTML made by render_markdown as safe for templates."""
    return Markup(html)


# Where one block of rendered text ends: a line break or a closing block tag (closing tags
# carry no attributes, so no ">" inside one can end the match early).
_BLOCK_ENDS = re.compile(r"<br\s*/?>|</(?:p|li|h[3-6]|blockquote|pre|td|th|tr)>", re.I)
EXCERPT_LENGTH = 180


def plain_excerpt(body_html: str, limit: int = EXCERPT_LENGTH) -> str:
    """The plain text of HTML made by render_markdown, whitespace collapsed, cut at a word
    within limit characters with an ellipsis: no tag and no Markdown left."""
    # Only the start of a long body is read; a tag or entity cut off there is dropped.
    head = body_html[: limit * 6]
    text = " ".join(_text_of(head).split())
    if len(text) <= limit and len(head) < len(body_html):
        text = " ".join(_text_of(body_html).split())
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0] if " " in text[: limit + 1] else text[:limit]
    return cut[:limit].rstrip(" ,.;:!?-–—") + "…"


def _text_of(fragment: str) -> str:
    return html.unescape(nh3.clean(_BLOCK_ENDS.sub(" ", fragment), tags=set()))


def highlight_marked(text: str, start: str = "\x02", stop: str = "\x03") -> Markup:
    """Escape text whose matches a search engine wrapped in start/stop, then mark them."""
    escaped = str(escape(text))
    return Markup(escaped.replace(start, "<mark>").replace(stop, "</mark>"))


def highlight_words(text: str, words: list[str], limit: int = 240) -> Markup:
    """A plain excerpt of text with the given words marked, for the SQL fallback."""
    words = [w for w in words if w]
    excerpt = text[:limit] + ("…" if len(text) > limit else "")
    if not words:
        return Markup(escape(excerpt))
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    return highlight_marked(
        pattern.sub(
            lambda m: f"\x02{m.group(0)}\x03", excerpt.replace("\x02", "").replace("\x03", "")
        )
    )


class HighlightFormatter:
    """A Whoosh formatter that escapes every character it does not mark."""

    between = " … "

    def format_fragment(self, fragment, replace=False) -> str:
        text, index, output = fragment.text, fragment.startchar, []
        for token in fragment.matches:
            if token.startchar is None or token.startchar < index:
                continue
            output.append(str(escape(text[index : token.startchar])))
            output.append(f"<mark>{escape(text[token.startchar : token.endchar])}</mark>")
            index = token.endchar
        output.append(str(escape(text[index : fragment.endchar])))
        return "".join(output)

    def format(self, fragments, replace=False) -> str:
        return self.between.join(self.format_fragment(f) for f in fragments)

    def __call__(self, text, fragments) -> str:
        return self.format(fragments)


def whoosh_highlight(hit, field: str, fallback_limit: int, **options) -> Markup:
    """A hit's field as highlighted by HighlightFormatter (which escapes it; Whoosh
    hands its output back as plain str), or an escaped excerpt where nothing matched."""
    html = hit.highlights(field, **options)
    return Markup(html) if html else highlight_words(hit[field], [], fallback_limit)
