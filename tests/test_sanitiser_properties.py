"""Properties of portal/markup.py, the one place user text becomes HTML, over generated
input that mixes the corpora's payloads, random HTML-ish text and Markdown: sanitising is
idempotent, its output holds nothing that runs and nothing beyond the allowlist, and it
removes markup, never text."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hostile import corpus, problems_in
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.markup import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    ALLOWED_URL_SCHEMES,
    LINK_REL,
    _demote_headings,
    _markdown,
    render_markdown,
    sanitise,
)

# markup.py alone, no database in sight; make test-long runs it
pytestmark = [pytest.mark.one_pass, pytest.mark.long]

PAYLOADS = corpus()
HTML_PIECES = [
    "<", ">", "</", "/>", "=", '"', "'", "`", "&", ";", "#", "&#", "&#x", "&lt;", "&gt;",
    "&amp;", "&quot;", "<!--", "-->", "--!>", "<![CDATA[", "]]>", "<?", "?>", "<!doctype ",
    " ", "\n", "\t", "\x00", "\x0c", "\u2028", "\ufeff", "\u202e", "script", "img", "svg",
    "math", "mtext", "mglyph", "style", "iframe", "object", "embed", "base", "meta", "link",
    "template", "noscript", "textarea", "title", "xmp", "select", "option", "table", "td",
    "form", "button", "input", "a", "b", "p", "br", "details", "marquee", "animate", "set",
    "foreignObject", "use", "image", "href", "src", "action", "formaction", "srcdoc",
    "xlink:href", "xmlns", "style", "on", "onerror", "onload", "onclick", "onfocus",
    "autofocus", "javascript:", "JaVaScRiPt:", "java\tscript:", "vbscript:", "data:",
    "data:text/html;base64,", "http://evil.example/", "//evil.example", "alert(1)",
    "expression(", "url(", "x3C", "\\u003c", "%3C",
]  # fmt: skip
MARKDOWN_PIECES = [
    "[", "]", "(", ")", "](", "![", "<", ">", "*", "**", "_", "`", "```", "~~~", "#", "## ",
    "> ", "- ", "1. ", "|", "|---|", "---", "\n", "\n\n", "    ", "\\", "http://x.example",
    "https://x.example/a?b=c", "mailto:a@b.example", "javascript:alert(1)",
    "<javascript:alert(1)>", "<https://x.example>", "&#106;avascript:", "[ref]: ",
    "[ref]", "\"title\"", "'t'", "~~", ":", "%0a", "text", "word ",
]  # fmt: skip

html_ish = st.lists(st.sampled_from(HTML_PIECES), max_size=40).map("".join)
markdown = st.lists(st.sampled_from(MARKDOWN_PIECES + HTML_PIECES), max_size=40).map("".join)
payload = st.sampled_from(PAYLOADS)
mixed = st.lists(
    st.one_of(payload, html_ish, markdown, st.text(max_size=30)), min_size=1, max_size=5
).map("".join)
anything = st.one_of(payload, html_ish, markdown, mixed)

RUNS = settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


class Allowlist(HTMLParser):
    """Records every tag, attribute and URL outside the allowlist, and the text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.outside: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.outside.append(f"<{tag}>")
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ({"rel"} if tag == "a" else set())
        for name, value in attrs:
            if name not in allowed:
                self.outside.append(f"<{tag} {name}>")
            if name == "rel" and value != LINK_REL:
                self.outside.append(f"<a rel={value!r}>")
            if name == "href" and urlsplit(value or "").scheme not in ALLOWED_URL_SCHEMES | {""}:
                self.outside.append(f"<a href={value!r}>")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag not in ALLOWED_TAGS:
            self.outside.append(f"</{tag}>")

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.outside.append("<!-- comment -->")

    def handle_decl(self, decl):
        self.outside.append(f"<!{decl}>")

    def handle_pi(self, data):
        self.outside.append(f"<?{data}>")


def read(html: str) -> Allowlist:
    parser = Allowlist()
    parser.feed(html)
    parser.close()
    return parser


def text_of(html: str) -> str:
    """The text a browser shows: HTML parsing turns every carriage return into a newline."""
    return "".join(read(html).text).replace("\r\n", "\n").replace("\r", "\n")


@RUNS
@given(anything)
def test_sanitising_is_idempotent(text):
    once = sanitise(text)
    assert sanitise(once) == once


@RUNS
@given(anything)
def test_stored_html_is_a_fixed_point(text):
    """What render_markdown stores comes out of the sanitiser unchanged."""
    stored = render_markdown(text)
    assert sanitise(stored) == stored


@RUNS
@given(anything)
def test_sanitised_html_holds_nothing_that_runs_nor_beyond_the_allowlist(text):
    for html in (sanitise(text), render_markdown(text)):
        assert problems_in(html) == [], html
        assert read(html).outside == [], html


@RUNS
@given(anything)
def test_markdown_loses_no_text_to_the_sanitiser(text):
    """Raw HTML in Markdown is escaped, so the sanitiser finds only the renderer's markup:
    it removes tags (an image's), never the words people wrote."""
    rendered = _demote_headings(_markdown.render(text))
    assert text_of(render_markdown(text)) == text_of(rendered)


def test_every_payload_alone():
    """Each payload of both corpora, as HTML and as Markdown (the properties above draw
    from them; here every one is checked once)."""
    for text in PAYLOADS:
        for html in (sanitise(text), render_markdown(text)):
            assert problems_in(html) == [] and read(html).outside == [], (text, html)
            assert sanitise(html) == html, text
        assert text_of(render_markdown(text)) == text_of(_demote_headings(_markdown.render(text)))
