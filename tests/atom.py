"""An Atom (RFC 4287) validator for the tests: the RFC's grammar, then its other rules.

`tests/data/atom.rng` is the grammar of the RFC's Appendix B; what a grammar cannot say
(the Schematron rules of Appendix B and rules stated only in the RFC's prose) is checked
here, each problem reported with where it is.
"""

import re
from collections import Counter
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
XHTML = "http://www.w3.org/1999/xhtml"
NS = {"atom": ATOM}
SCHEMA = etree.RelaxNG(etree.parse(str(Path(__file__).parent / "data" / "atom.rng")))

# RFC 3339, section 5.6: a full date, an uppercase T, a time and a zone (Z or an offset).
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.ASCII)
# RFC 3987: a scheme, then no spaces, controls or characters IRIs never hold.
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
NOT_IN_IRI = re.compile(r'[\x00-\x20\x7f-\x9f<>"{}|\\^`]')
HTML_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
TEXT_CONSTRUCTS = ("title", "subtitle", "summary", "rights")


class AtomError(AssertionError):
    pass


def validate(document: bytes) -> list[str]:
    """Every way document breaks RFC 4287; an empty list when it is valid Atom."""
    try:
        root = etree.fromstring(document)
    except etree.XMLSyntaxError as broken:
        return [f"not well-formed XML: {broken}"]
    if not SCHEMA.validate(root):
        return [f"line {e.line}: {e.message}" for e in SCHEMA.error_log]
    problems = []
    problems += check_ids(root)
    problems += check_dates(root)
    problems += check_authors(root)
    for element in [root, *root.iterfind("atom:entry", NS)]:
        problems += check_links(element)
    for entry in root.iterfind("atom:entry", NS):
        problems += check_entry(entry)
    for construct in root.iter(*(f"{{{ATOM}}}{name}" for name in (*TEXT_CONSTRUCTS, "content"))):
        problems += check_text(construct)
    return problems


def assert_valid(document: bytes) -> etree._Element:
    """Return the parsed feed; raises AtomError listing every problem when it is not valid."""
    problems = validate(document)
    if problems:
        raise AtomError("not valid Atom:\n  " + "\n  ".join(problems))
    return etree.fromstring(document)


def where(element) -> str:
    return f"line {element.sourceline}: atom:{etree.QName(element).localname}"


def is_absolute_iri(value: str) -> bool:
    """An absolute IRI (RFC 3987): a scheme and something after it, nothing out of place."""
    scheme, colon, rest = value.partition(":")
    if not (colon and rest and SCHEME.fullmatch(scheme)) or NOT_IN_IRI.search(value):
        return False
    parts = urlsplit(value)
    return not rest.startswith("//") or bool(parts.netloc)


def check_ids(root) -> list[str]:
    """atom:id values are absolute IRIs (4.2.6); the feed and its entries each have their own."""
    problems = []
    ids = root.findall(".//atom:id", NS)
    for element in ids:
        if not is_absolute_iri(element.text or ""):
            problems.append(f"{where(element)} {element.text!r} is not an absolute IRI")
    used = Counter(
        entry.findtext("atom:id", namespaces=NS) for entry in root.iterfind("atom:entry", NS)
    )
    if root.tag == f"{{{ATOM}}}feed":
        used[root.findtext("atom:id", namespaces=NS)] += 1
    problems += [f"the id {value!r} is used {n} times" for value, n in used.items() if n > 1]
    return problems


def check_dates(root) -> list[str]:
    """Date constructs are RFC 3339 date-times with a zone (3.3)."""
    problems = []
    for element in root.iter(f"{{{ATOM}}}updated", f"{{{ATOM}}}published"):
        value = (element.text or "").strip()
        if value != element.text or not RFC3339.fullmatch(value):
            problems.append(f"{where(element)} {element.text!r} is not an RFC 3339 date-time")
            continue
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"{where(element)} {value!r} is no real moment")
    return problems


def check_authors(root) -> list[str]:
    """A feed has an author unless every entry has one (4.1.1); so does a lone entry."""
    if root.find("atom:author", NS) is not None:
        return []
    return [
        f"{where(entry)} has no atom:author, and neither has its feed"
        for entry in ([root] if root.tag == f"{{{ATOM}}}entry" else root.iterfind("atom:entry", NS))
        if entry.find("atom:author", NS) is None
        and entry.find("atom:source/atom:author", NS) is None
    ]


def check_links(element) -> list[str]:
    """At most one alternate link per type and hreflang (4.1.1, 4.1.2); links have an href."""
    problems = []
    alternates = Counter()
    for link in element.iterfind("atom:link", NS):
        if not (link.get("href") or "").strip():
            problems.append(f"{where(link)} has an empty href")
        if link.get("rel", "alternate") == "alternate":
            alternates[link.get("type"), link.get("hreflang")] += 1
    problems += [
        f"{where(element)} has {n} alternate links of type {kind!r}, hreflang {lang!r}"
        for (kind, lang), n in alternates.items()
        if n > 1
    ]
    return problems


def check_entry(entry) -> list[str]:
    """An entry has an id, a title and updated (4.1.2); with no content, an alternate link;
    with out-of-line content, a summary (4.1.1.1)."""
    problems = [
        f"{where(entry)} has no atom:{name}"
        for name in ("id", "title", "updated")
        if entry.find(f"atom:{name}", NS) is None
    ]
    content = entry.find("atom:content", NS)
    alternate = [link for link in entry.iterfind("atom:link", NS)
                 if link.get("rel", "alternate") == "alternate"]  # fmt: skip
    if content is None and not alternate:
        problems.append(f"{where(entry)} has neither atom:content nor an alternate link")
    if content is not None and content.get("src") and entry.find("atom:summary", NS) is None:
        problems.append(f"{where(entry)} has out-of-line content but no atom:summary")
    return problems


def check_text(construct) -> list[str]:
    """type="html" holds escaped, well-formed HTML; "text" holds no markup; "xhtml" is one
    XHTML div (3.1.1)."""
    kind = construct.get("type", "text")
    if kind in ("text", "html") and len(construct):
        return [f"{where(construct)} of type {kind} has child elements (markup not escaped)"]
    if kind == "html":
        return [f"{where(construct)} {problem}" for problem in html_problems(construct.text or "")]
    if kind == "xhtml":
        divs = [child for child in construct if child.tag == f"{{{XHTML}}}div"]
        if len(construct) != 1 or len(divs) != 1:
            return [f"{where(construct)} of type xhtml must hold exactly one xhtml:div"]
    return []


class _Balance(HTMLParser):
    """Follows open tags; records end tags that close nothing open."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open, self.problems = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in HTML_VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in HTML_VOID:
            return
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1] if self.open else 'nothing'}")
        else:
            self.open.pop()


def html_problems(markup: str) -> list[str]:
    """Why markup is not a well-formed HTML fragment: unclosed or crossed tags."""
    checker = _Balance()
    checker.feed(markup)
    checker.close()
    unclosed = [f"<{tag}> is never closed" for tag in checker.open]
    return [f"holds broken HTML: {problem}" for problem in checker.problems + unclosed]
