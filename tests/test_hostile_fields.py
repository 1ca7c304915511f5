"""No input produces a 500 (issue 18, point 7; SPEC section 9).

One value of each hostile class (a NUL byte, a lone surrogate, deep nesting, a huge number,
overlong text) goes into every form field, query parameter, path part and JSON field of
every route the app serves, one at a time, the other fields keeping valid values. Each
request is sent by a person the permission matrix (tests/permissions.toml) allows on the
route, so that it passes the permission checks and reaches the handler.

Nothing lists the fields by hand: the forms, links and htmx attributes of every page the
matrix reads name the fields of the routes they send to (parsed with lxml), and the
OpenAPI description names the API's; a route no page and no matrix row gives fields to
fails until one does. No answer may be a server error; a refusal is a readable page or the
API's error object (SPEC section 6); a refused write leaves every table as it was, and an
accepted one stores no NUL and no lone surrogate. The test data is the matrix's world
(tests/matrix.py), put back after every request that changed it.
"""

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

import lxml.html
import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from conftest import PASSWORD, empty_tables
from matrix import (
    Person,
    Row,
    app_routes,
    build_world,
    load_matrix,
    sign_in_with,
)
from portal.api.openapi import openapi_document
from portal.extensions import db, limiter

ROWS, BOOKKEEPING = load_matrix()

pytestmark = pytest.mark.long  # make test-long: the corpora through every field of the matrix

# --- the hostile values -------------------------------------------------------------------

TEXT = {
    "NUL": "Nul\x00byte",
    "lone surrogate": "lone\ud800surrogate",  # in a form or URL: bytes that are not UTF-8
    "deep nesting": "[" * 5_000 + "]" * 5_000,
    "10**400": str(10**400),
    "2**63": str(2**63),
    "100,000 characters": "x" * 100_000,
}
# Bodies may be larger than URLs: this one is just under the 1 MB limit with the others.
BODY_TEXT = {**TEXT, "1 MB": "x" * 1_000_000}
# JSON fields get each text as a string, and the classes JSON can spell as such.
JSON_VALUES = {
    **{f"{name} as text": json.dumps(value) for name, value in BODY_TEXT.items()},
    "deep nesting": "[" * 5_000 + "]" * 5_000,
    "10**400": str(10**400),
    "2**63": str(2**63),
}
# An <int:...> path part only matches digits: the huge numbers are what it can be given.
NUMBERS = {name: TEXT[name] for name in ("10**400", "2**63")}
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Who is tried first for a route the matrix allows to several: visitors for signing in and
# up, then the least privileged person who may.
PREFERENCE = ("visitor", "customer", "other", "moderator", "owner", "admin", "blocked")
# htmx attributes that send a request, as a form's action does.
HTMX_SENDS = ("hx-get", "hx-post", "hx-put", "hx-patch", "hx-delete")
# The second step of signing in is reached by someone who took the first: Tess, who uses
# two-factor sign-in, has given her password (the matrix sends everyone else to sign in).
SECOND_STEP = {"/signin/code"}
# The matrix's OpenID Connect provider listens nowhere: its handlers read every part and
# answer 502 (test_openid_connect.py sends hostile answers through a provider that runs).
PROVIDER_DOWN = {"/signin/oidc/<name>", "/signin/oidc/<name>/callback"}
# Between them their pages show every form: visitors sign in, customers write their own,
# others flag, admins see everything staff do (all seven show no field more).
READERS = ("visitor", "customer", "other", "admin")
# Links the crawl does not follow: files, and the language switch (a cookie and a redirect).
NOT_PAGES = {"static", "language.choose"}
# Button-only forms (no field but the CSRF token) that show only in a state the world's
# pages are never in.
SHOWN_ELSEWHERE = {
    ("/me/sessions/end-others", "POST"): "shown to someone also signed in elsewhere",
    ("/verify/resend", "POST"): "shown to someone whose address is not verified",
    ("/admin/sign-in/secret", "POST"): "shown where SSO_JWT_SECRET is not set (the suite sets it)",
    ("/admin/sign-in/secret/delete", "POST"): "shown where an admin made the secret",
}


@dataclass
class Fields:
    """What is known of one route's input: the fields that name it, and valid values."""

    names: set[str] = field(default_factory=set)
    values: dict[str, str] = field(default_factory=dict)
    seen: bool = False  # a page, the matrix or the OpenAPI description showed the route


@pytest.fixture(autouse=True)
def _clean_state():
    """Replaces conftest's per-test emptying: the world is built once for the module."""
    limiter.reset()


@pytest.fixture(scope="module")
def world(app):
    """The matrix's world, and "pending": Tess after the first step of signing in."""
    limits = dict(app.config["RATE_LIMITS"])
    # Hundreds of requests per route from one person are the point, not a limit's answer.
    app.config["RATE_LIMITS"].update({name: "1000000 per minute" for name in limits})
    built = build_world(app, sign_in_with(app), BOOKKEEPING)
    pending = Person("pending", None, None)
    first_step = {"email": "twofactor@example.com", "password": PASSWORD}
    pending.keep(app.test_client(use_cookies=False).post("/signin", data=first_step))
    built.people["pending"] = pending
    built.remember()
    yield built
    app.config["RATE_LIMITS"].update(limits)
    with app.app_context():
        empty_tables()


@pytest.fixture(scope="module")
def fields(world):
    """Every route's fields, from the pages the matrix reads, its rows and the OpenAPI
    description."""
    found: dict[tuple[str, str], Fields] = defaultdict(Fields)
    crawl(world, found)
    for row in ROWS:
        known = found[(row.rule, row.method)]
        known.seen |= bool(row.form or row.json is not None or row.is_api)
        known.names |= set(row.form) | set(row.json or {})
        known.names |= set(dict(parse_qsl(urlsplit(row.path).query)))
    for (rule, method), names in openapi_fields().items():
        found[(rule, method)].names |= names
    return found


def crawl(world, found: dict) -> None:
    """Read every page the matrix reads as each of READERS it allows, and every page those
    link to as the admin, who sees every staff form (a paused webhook's, a merge's undo)."""
    adapter = world.app.url_map.bind("localhost")
    pending = [
        (world.fill(row.path or row.rule), role)
        for row in ROWS
        if row.method == "GET" and not row.is_api
        for role in READERS
        if row.expect[role] == "ok"
    ]
    seen = set(pending)
    while pending:
        path, role = pending.pop()
        page = send(world, Row(rule=path, method="GET", expect={}), role, path)
        if page.status_code != 200 or page.mimetype != "text/html":
            continue
        for link in read_page(adapter, path, page.text, found):
            if (link, "admin") not in seen:
                seen.add((link, "admin"))
                pending.append((link, "admin"))
    world.restore()  # a link may do something (verify an address): the world as it was


def read_page(adapter, path: str, html: str, found: dict) -> list[str]:
    """Add the routes that the page's forms, links and htmx attributes send to, with the
    fields they send and the values the page fills in; returns the pages it links to."""
    document = lxml.html.document_fromstring(html)
    links = []
    for form in document.iter("form"):
        method = (form.get("method") or "get").upper()
        names = {
            element.get("name")
            for element in form.iter("input", "textarea", "select", "button")
            if element.get("name") and element.get("name") != "csrf_token"
        }
        values = {name: value for name, value in form.form_values() if name in names}
        targets = [(form.get("action") or path, method)]
        targets += [(form.get(a), a[3:].upper()) for a in HTMX_SENDS if form.get(a)]
        for target, verb in targets:
            record(adapter, urljoin(path, target), verb, names, values, found)
    for element in document.iter():
        sends = [(element.get(a), a[3:].upper()) for a in HTMX_SENDS if element.get(a)]
        if element.tag == "a" and element.get("href"):
            sends.append((element.get("href"), "GET"))
        own = {element.get("name")} if element.tag in ("input", "select", "textarea") else set()
        for target, verb in sends:
            rule = record(adapter, urljoin(path, target), verb, own - {None}, {}, found)
            if element.tag == "a" and rule and rule.endpoint not in NOT_PAGES:
                links.append(urlsplit(urljoin(path, target)).path)  # filters add no form
    return links


def record(adapter, url: str, method: str, names: set, values: dict, found: dict):
    """Add what a page sends to url; returns the route's rule, None for another site's."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or parts.scheme not in ("", "http", "https"):
        return None
    try:
        rule, _ = adapter.match(parts.path, method=method, return_rule=True)
    except (HTTPException, RequestRedirect):
        return None
    known = found[(rule.rule, method)]
    known.seen = True
    query = dict(parse_qsl(parts.query))
    known.names |= names | set(query)
    for name, value in {**query, **values}.items():
        known.values.setdefault(name, value)
    return rule


def openapi_fields() -> dict[tuple[str, str], set[str]]:
    """Each API operation's JSON body fields and query parameters, by route rule."""
    document = openapi_document()
    schemas = document["components"]["schemas"]
    found = {}
    for path, operations in document["paths"].items():
        rule = re.sub(r"\{(\w+)\}", r"<int:\1>", path)
        for method, operation in operations.items():
            names = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "query"}
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                schema = schemas[body["schema"]["$ref"].rpartition("/")[2]]
                names |= set(schema.get("properties", {}))
            found[(rule, method.upper())] = names
    return found


# --- sending --------------------------------------------------------------------------------


def send(world, row: Row, role: str, path: str, body: bytes | None = None, kind: str = ""):
    """One request as role, from a client that carries only that person's cookies or token."""
    client = world.app.test_client(use_cookies=False)
    headers = world.people[role].headers(row.is_api)
    if body is not None:
        headers["Content-Type"] = kind
    response = client.open(path, method=row.method, data=body, headers=headers)
    response.close()
    return response


def form_body(values: dict[str, str]) -> bytes:
    """A urlencoded form as a browser would send it; a lone surrogate goes as the bytes
    UTF-8 would give it, which are not UTF-8."""
    return urlencode(values, encoding="utf-8", errors="surrogatepass").encode("ascii")


def json_body(values: dict, name: str, raw: str) -> bytes:
    """values as a JSON object with name's value the raw JSON text given."""
    members = {key: json.dumps(value) for key, value in values.items()} | {name: raw}
    text = "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in members.items()) + "}"
    return text.encode("ascii")


def with_query(path: str, name: str, value: str) -> str:
    parts = urlsplit(path)
    query = dict(parse_qsl(parts.query)) | {name: value}
    return f"{parts.path}?{urlencode(query, encoding='utf-8', errors='surrogatepass')}"


PART = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def with_part(world, rule: str, method: str, path: str, name: str, value: str) -> str:
    """path (which matches rule) with the path part name replaced by value, percent-encoded."""
    adapter = world.app.url_map.bind("localhost")
    _, arguments = adapter.match(urlsplit(path).path, method=method, return_rule=True)
    arguments[name] = value

    def part(match):
        text = str(arguments[match.group(2)])
        return quote(text.encode("utf-8", "surrogatepass"), safe="")

    return PART.sub(part, rule)


def path_parts(rule: str, texts: dict[str, str]) -> dict[str, dict[str, str]]:
    """The hostile values of texts each path part of rule can be given (a number's part
    only matches digits)."""
    numbers = {label: text for label, text in texts.items() if label in NUMBERS}
    return {
        name: numbers if converter in ("int", "float") else texts
        for converter, name in PART.findall(rule)
    }


# --- checking -------------------------------------------------------------------------------


def problems_with(row: Row, role: str, answer) -> list[str]:
    """What is wrong with an answer: a server error (other than the one the matrix expects,
    as /readyz's 503), or a refusal nobody can read."""
    status = answer.status_code
    if status >= 500 and str(status) != row.expect.get(role):
        return [f"answered {status}"]
    if status == 413:  # every hostile value fits under the limit, to reach the handler
        return ["answered 413"]
    if status < 400:
        return []
    if row.is_api or answer.mimetype == "application/json":
        error = (answer.get_json(silent=True) or {}).get("error")
        if not (isinstance(error, dict) and {"code", "message", "fields"} <= set(error)):
            return [f"{status} without the API's error object: {answer.text[:200]!r}"]
    elif answer.mimetype != "text/html" or not answer.text.strip():
        return [f"{status} without a page: {answer.mimetype} {answer.text[:200]!r}"]
    return []


def unstorable_rows(tables: list[str]) -> list[str]:
    """Rows of tables holding a NUL or a lone surrogate (SQLite stores what it is given)."""
    found = []
    for name in tables:
        table = db.metadata.tables.get(name)
        if table is None:
            continue
        for row in db.session.execute(table.select()):
            texts = [value for value in row if isinstance(value, str)]
            if any(UNSTORABLE.search(text) for text in texts):
                found.append(f"{name} {tuple(row)[:1]}")
    return found


def exchange(world, row: Row, role: str, path: str, body=None, kind="") -> list[str]:
    """Send one hostile request; for a write (or a GET that may write: signed sign-on),
    compare the tables and put them back."""
    if row.expected_effect == "none":
        return problems_with(row, role, send(world, row, role, path, body, kind))
    before = world.snapshot()
    answer = None
    try:
        answer = send(world, row, role, path, body, kind)
    finally:
        changed = [t for t in world.changes(before) if answer is None or t not in row.records]
        problems = problems_with(row, role, answer) if answer is not None else []
        if changed and answer is not None and answer.status_code >= 400:
            problems.append(f"refused with {answer.status_code} but changed {changed}")
        if changed:
            with world.app.app_context():
                problems += [f"stored unclean text in {r}" for r in unstorable_rows(changed)]
            world.restore(changed)
    return problems


# --- the routes -----------------------------------------------------------------------------


def chosen(rows: list[Row]) -> tuple[Row, str] | None:
    """The row and the person that get furthest into a route: a row without a case first,
    the first person of PREFERENCE whom it allows, else whom a rule of the handler refuses
    (past the permission checks all the same); None when nobody reaches the handler."""
    if rows[0].rule in SECOND_STEP:
        return rows[0], "pending"
    if rows[0].rule in PROVIDER_DOWN:
        return rows[0], "visitor"
    for outcome in ("ok", "refused"):
        for row in sorted(rows, key=lambda row: bool(row.case)):
            for role in PREFERENCE:
                if row.expect[role] == outcome:
                    return row, role
    return None


ROUTES = sorted({(row.rule, row.method) for row in ROWS})
TIMES: dict[str, float] = {}


def test_every_route_is_listed_and_has_known_fields(app, fields):
    """Every route of the url_map is tried: the matrix names who may use it, and a page, a
    matrix row or the OpenAPI description shows what it takes (a write nothing sends to
    fails here until one does)."""
    missing = sorted(app_routes(app) - set(ROUTES))
    assert not missing, f"routes without a row in tests/permissions.toml: {missing}"
    unknown = [
        f"{method} {rule}"
        for rule, method in ROUTES
        if method != "GET"
        and not fields[(rule, method)].seen
        and (rule, method) not in SHOWN_ELSEWHERE
    ]
    assert not unknown, f"write routes no page, matrix row or OpenAPI operation sends to: {unknown}"
    unreachable = [
        f"{method} {rule}"
        for rule, method in ROUTES
        if not chosen(rows_of(rule, method)) and (fields[(rule, method)].names or PART.search(rule))
    ]
    assert not unreachable, f"routes whose handler nobody reaches: {unreachable}"


def rows_of(rule: str, method: str) -> list[Row]:
    return [row for row in ROWS if (row.rule, row.method) == (rule, method)]


@pytest.mark.parametrize(("rule", "method"), ROUTES, ids=[f"{m} {r}" for r, m in ROUTES])
def test_no_hostile_value_in_any_field_breaks_the_route(world, fields, rule, method):
    started = time.perf_counter()
    rows = rows_of(rule, method)
    row, role = chosen(rows) or (rows[0], "visitor")  # takes nothing, or the test above fails
    path = world.fill(row.path or row.rule)
    known = fields[(rule, method)]
    problems = []
    # PostgreSQL tries every write again, and a read with what only PostgreSQL refuses.
    on_postgres = world.app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    texts = {"NUL": TEXT["NUL"]} if on_postgres and not row.writes else TEXT
    for name, values in path_parts(rule, texts).items():
        for label, value in values.items():
            hostile = with_part(world, rule, method, path, name, value)
            sent = body_for(world, row, known)
            problems += [f"path part {name}, {label}: {p}"
                         for p in exchange(world, row, role, hostile, *sent)]  # fmt: skip
    for name in sorted(known.names):
        for label, body, target in hostile_requests(world, row, known, path, name, texts):
            problems += [f"field {name}, {label}: {p}"
                         for p in exchange(world, row, role, target, *body)]  # fmt: skip
    TIMES[f"{method} {rule}"] = time.perf_counter() - started
    assert not problems, f"{method} {rule} as {role}:\n" + "\n".join(problems)


def valid_values(world, row: Row, known: Fields) -> dict:
    """The other fields' values: the matrix row's (a request that works), else the page's."""
    if row.json is not None:
        return world.fill(row.json)
    return {**known.values, **world.fill(row.form)}


def body_for(world, row: Row, known: Fields) -> tuple[bytes | None, str]:
    """The body that goes with a request whose path or query is hostile."""
    values = valid_values(world, row, known)
    if row.is_api and row.json is not None:
        return json.dumps(values).encode(), "application/json"
    if row.writes:
        return form_body(values), "application/x-www-form-urlencoded"
    return None, ""


def hostile_requests(world, row: Row, known: Fields, path: str, name: str, texts: dict):
    """(label, (body, content type), path) for each hostile value of field name (of texts
    when it goes in the query)."""
    values = valid_values(world, row, known)
    if row.is_api and row.writes:
        for label, raw in JSON_VALUES.items():
            yield label, (json_body(values, name, raw), "application/json"), path
    elif row.writes:
        for label, text in BODY_TEXT.items():
            body = form_body({**values, name: text})
            yield label, (body, "application/x-www-form-urlencoded"), path
    else:
        for label, text in texts.items():
            yield label, (None, ""), with_query(path, name, text)


# --- what the answers say -------------------------------------------------------------------


def api_post(world, path: str, text: str):
    """POST text as a JSON body to path as the customer; returns the answer and the tables
    it changed (put back)."""
    (row,) = rows_of("/api/v1/ideas", "POST")  # any POST under /api/v1 is sent alike
    before = world.snapshot()
    answer = send(world, row, "customer", path, text.encode(), "application/json")
    changed = world.changes(before)
    world.restore(changed)
    return answer, changed


def test_json_too_deep_or_with_numbers_too_large_gets_a_clear_400(world):
    idea = world.fill("{idea}")
    for depth in (33, 5_000):
        deep = '{"title": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
        answer, changed = api_post(world, "/api/v1/ideas", deep)
        assert answer.status_code == 400 and not changed
        assert answer.json["error"]["message"] == (
            "The JSON body is nested more than 32 levels deep."
        )
    for number in (str(10**400), str(2**63), str(-(2**63)), "1e400", "9007199254740992"):
        answer, changed = api_post(world, f"/api/v1/ideas/{idea}/flags", '{"reason": "spam", '
                                   f'"duplicate_of": {number}}}')  # fmt: skip
        assert answer.status_code == 400 and not changed, number
        assert "out of range" in answer.json["error"]["message"], number
    just_deep_enough = '{"board": "features", "x": ' + "[" * 31 + "]" * 31 + "}"
    answer, _ = api_post(world, "/api/v1/ideas", just_deep_enough)
    assert answer.json["error"]["fields"] == {"title": "This field is required."}


def test_nul_and_lone_surrogates_are_cleaned_before_any_view_reads_them(world):
    body = json.dumps({"board": "features", "title": "Dark\x00 mode \ud800 please"})
    answer, changed = api_post(world, "/api/v1/ideas", body)
    assert answer.status_code == 201 and "idea" in changed
    assert answer.json["title"] == "Dark mode \ufffd please"
    (row,) = rows_of("/admin/users", "GET")
    found = send(world, row, "admin", "/admin/users?q=%00Cara%00")
    assert found.status_code == 200 and "Cara Customer" in found.text
    # A server that passes a raw URL on may hand over bytes that are not UTF-8.
    raw = world.app.test_client(use_cookies=False).get(
        "/admin/users",
        environ_overrides={"QUERY_STRING": "q=\xff"},
        headers=world.people["admin"].headers(api=False),
    )
    assert raw.status_code == 200 and "%FF" in raw.text  # read as if sent percent-encoded


def test_a_number_beyond_any_row_is_an_unknown_number(world):
    """404 as for any unknown idea, by every method: never 405 nor 500 (SQLite cannot even
    compare a number that large)."""
    huge = str(2**63)
    for rule, method, path, role in [
        ("/api/v1/ideas/<int:number>/comments", "POST", f"/api/v1/ideas/{huge}/comments", "owner"),
        ("/api/v1/ideas/<int:number>/vote", "PUT", f"/api/v1/ideas/{huge}/vote", "customer"),
        ("/ideas/<int:number>/vote", "POST", f"/ideas/{huge}/vote", "customer"),
    ]:
        (row, *_) = rows_of(rule, method)
        kind = "application/json" if row.is_api else "application/x-www-form-urlencoded"
        answer = send(world, row, role, path, b"{}" if row.is_api else b"", kind)
        assert answer.status_code == 404, (method, path, answer.status_code)


def test_pages_take_forms_not_json(world):
    (row,) = [row for row in rows_of("/b/<slug>/new", "POST") if not row.case]
    before = world.snapshot()
    for text in ('{"title": 5, "body": ["a"]}', "[1, 2]", "[" * 5_000 + "]" * 5_000):
        answer = send(world, row, "customer", "/b/features/new", text.encode(), "application/json")
        assert answer.status_code == 415 and "<h1" in answer.text
    assert world.changes(before) == []
    # A read carries no form: a monitor that sends a JSON content type gets its page.
    health = world.app.test_client().get("/healthz", content_type="application/json")
    assert health.status_code == 200 and health.json == {"status": "ok"}


def test_timing(capsys):
    """Prints the slowest routes, to keep the whole file within a minute."""
    slowest = sorted(TIMES.items(), key=lambda item: -item[1])[:5]
    with capsys.disabled():
        print(f"\nhostile fields: {len(TIMES)} routes in {sum(TIMES.values()):.1f} s; slowest: "
              + ", ".join(f"{route} {seconds:.2f} s" for route, seconds in slowest))  # fmt: skip
    assert TIMES
