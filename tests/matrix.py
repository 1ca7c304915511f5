"""The permission matrix (tests/permissions.toml) and the world its rows are tried in.

A World is built once per test module: one person per role, signed in once, with the
ideas, comments, tokens and webhooks the rows name. Every case sends a request as one
role from a fresh client that carries only that role's cookies (or API token), compares a
snapshot of every table before and after, and puts the database back when the request was
allowed to change it.
"""

import hashlib
import io
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import inspect
from werkzeug.datastructures import FileStorage

from conftest import PASSWORD, Factory, empty_tables, signed_sign_on
from portal import totp
from portal.extensions import db, limiter
from portal.models import (
    CustomStatus,
    Idea,
    IdentityProvider,
    Notification,
    Role,
    SignInLink,
    User,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from portal.notifications import unsubscribe_token
from portal.operations import two_factor
from portal.operations.accounts import issue_token
from portal.operations.branding import save_brand_image
from portal.operations.comments import add_comment
from portal.operations.merges import merge_ideas
from portal.operations.tokens import create_token
from portal.operations.votes import cast_vote
from portal.operations.webhooks.editing import new_secret
from portal.search import get_backend
from portal.search.indexing import reindex_all
from portal.totp_keys import seal

MATRIX = Path(__file__).with_name("permissions.toml")
ROLES = ("visitor", "customer", "other", "blocked", "moderator", "owner", "admin")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# An outcome is one of these words or an exact status code such as "403".
WORDS = {"ok", "login", "refused"}
EFFECTS = {"change", "none", "any"}
# The table that only ever counts up (idea numbers, page versions): never put back.
COUNTER = "counter"
# The smallest image there is: a GIF of one white pixel.
ONE_PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01"
    b"\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
# Tables whose rows the search index holds.
SEARCHED = {"idea", "board", "category"}


@dataclass(frozen=True)
class Row:
    """One line of the matrix: a route rule and method, tried at path as every role."""

    rule: str
    method: str
    expect: dict[str, str]
    path: str = ""
    case: str = ""
    form: dict = field(default_factory=dict)
    json: dict | None = None
    effect: str = ""
    records: tuple[str, ...] = ()
    to_signin: bool = False
    xfail: str = ""
    note: str = ""

    @property
    def is_api(self) -> bool:
        return self.rule.startswith("/api/")

    @property
    def writes(self) -> bool:
        return self.method in WRITES

    @property
    def expected_effect(self) -> str:
        """What an allowed request does to the database: GETs never change it."""
        return self.effect or ("change" if self.writes else "none")

    @property
    def label(self) -> str:
        return f"{self.method} {self.rule}" + (f" [{self.case}]" if self.case else "")


def load_matrix(path: Path = MATRIX) -> tuple[list[Row], dict[str, str]]:
    """The rows and the bookkeeping columns every comparison leaves out; raises ValueError
    for a row that is not complete."""
    document = tomllib.loads(path.read_text())
    rows = []
    for entry in document["route"]:
        entry = dict(entry)
        entry["records"] = tuple(entry.get("records", ()))
        row = Row(**entry)
        problems = row_problems(row)
        if problems:
            raise ValueError(f"{row.label}: {'; '.join(problems)}")
        rows.append(row)
    return rows, dict(document.get("bookkeeping", {}))


def row_problems(row: Row) -> list[str]:
    problems = []
    if set(row.expect) != set(ROLES):
        problems.append(f"expect names {sorted(row.expect)}, not the seven roles")
    for role, outcome in row.expect.items():
        if outcome not in WORDS and not re.fullmatch(r"[2-5]\d\d", outcome):
            problems.append(f"{role}: unknown outcome {outcome!r}")
    if row.effect and row.effect not in EFFECTS:
        problems.append(f"unknown effect {row.effect!r}")
    if not row.writes and row.effect == "change":
        problems.append("a GET may not be expected to change anything")
    if any("." in table for table in row.records):
        problems.append("records names whole tables (columns go under [bookkeeping])")
    return problems


def app_routes(app) -> set[tuple[str, str]]:
    """Every (rule, method) the app answers, static files, HEAD and OPTIONS apart."""
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


# ---------------------------------------------------------------------------- snapshots


def snapshot(ignore=()) -> dict[str, tuple[int, str]]:
    """Every table in the database (the search tables too) as its row count and a checksum
    of its rows; `ignore` names tables or table.column pairs to leave out. Read on a raw
    connection of its own, in one transaction: a tenth of the cost through the ORM."""
    ignore = set(ignore)
    names = [name for name in table_names(db.engine) if name not in ignore]
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        if db.engine.dialect.name == "postgresql":
            result = _checksums_in_postgres(cursor, names, ignore)
        else:
            result = {name: _checksum(cursor, name, ignore) for name in names}
        cursor.close()
        connection.rollback()
    finally:
        connection.close()
    return result


def _checksum(cursor, name: str, ignore: set[str]) -> tuple[int, str]:
    cursor.execute(f'SELECT * FROM "{name}"')
    columns = [f"{name}.{column[0]}" for column in cursor.description]
    keep = [i for i, column in enumerate(columns) if column not in ignore]
    lines = sorted(repr(tuple(row[i] for i in keep)) for row in cursor.fetchall())
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _checksums_in_postgres(cursor, names: list[str], ignore: set[str]) -> dict:
    """One statement for every table: a round trip each would cost more than the rows."""
    parts = []
    for name in names:
        dropped = "".join(
            f" - '{column.partition('.')[2]}'" for column in ignore if column.startswith(f"{name}.")
        )
        parts.append(
            f"SELECT '{name}', count(*), md5(coalesce(string_agg(line, E'\\n' ORDER BY line), ''))"
            f' FROM (SELECT (to_jsonb(t){dropped})::text AS line FROM "{name}" t) rows'
        )
    cursor.execute(" UNION ALL ".join(parts))
    return {name: (count, digest) for name, count, digest in cursor.fetchall()}


_TABLES: dict[str, list[str]] = {}


def table_names(engine) -> list[str]:
    """The database's tables, looked up once per database (the suite makes them at start)."""
    key = str(engine.url)
    if key not in _TABLES:
        _TABLES[key] = inspect(engine).get_table_names()
    return _TABLES[key]


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )


# -------------------------------------------------------------------------------- world


class Person:
    """How one role shows itself: the cookies of its signed-in session, or an API token."""

    def __init__(self, role: str, user: User | None, token: str | None):
        self.role, self.user, self.token = role, user, token
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def keep(self, response) -> None:
        """Remember the cookies an answer sets (or deletes)."""
        for header in response.headers.getlist("Set-Cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            gone = re.search(r"(?i);\s*(max-age=0|expires=thu, 01 jan 1970)", header)
            if gone:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def headers(self, api: bool) -> dict[str, str]:
        if api:
            return {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if not self.cookies:
            return {}
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}


class Placeholders(dict):
    """The world's values for str.format_map, functions called on use."""

    def __getitem__(self, name):
        value = super().__getitem__(name)
        return value() if callable(value) else value


class World:
    """The people, objects and placeholders the matrix rows are tried with."""

    def __init__(self, app):
        self.app = app
        self.people: dict[str, Person] = {}
        self.values: dict[str, object] = {"password": PASSWORD}
        self.baseline: dict[str, list[dict]] = {}
        self.bookkeeping: set[str] = set()  # table.column pairs no comparison looks at
        self.state: dict | None = None  # the last snapshot, while nothing has changed since

    # -- requests ---------------------------------------------------------------------

    def fill(self, value):
        """A value with its {placeholders} filled (a function's value is made afresh, such as
        a current two-factor code); a lone placeholder keeps its type."""
        if isinstance(value, list):
            return [self.fill(item) for item in value]
        if isinstance(value, dict):
            return {key: self.fill(item) for key, item in value.items()}
        if isinstance(value, str):
            values = Placeholders(self.values)
            whole = re.fullmatch(r"\{(\w+)\}", value)
            if whole and not isinstance(values[whole.group(1)], str):
                return values[whole.group(1)]
            return value.format_map(values)
        return value

    def send(self, row: Row, role: str, headers: dict | None = None, form: dict | None = None):
        """Send row's request as role from a client without a cookie jar of its own."""
        person = self.people[role]
        client = self.app.test_client(use_cookies=False)
        sent = {**person.headers(row.is_api), **(headers or {})}
        kwargs = {"headers": sent}
        if row.json is not None:
            kwargs["json"] = self.fill(row.json)
        elif row.writes or row.form:
            kwargs["data"] = self.fill(form if form is not None else row.form)
        response = client.open(self.fill(row.path or row.rule), method=row.method, **kwargs)
        response.close()
        return response

    # -- the database -----------------------------------------------------------------

    def snapshot(self) -> dict[str, tuple[int, str]]:
        """Every table now, bookkeeping apart; the last one again while nothing changed."""
        if self.state is None:
            with self.app.app_context():
                self.state = snapshot(self.bookkeeping)
        return self.state

    def changes(self, before: dict) -> list[str]:
        """The tables changed since before; the next case starts from what they are now."""
        self.state = None
        return changed_tables(before, self.snapshot())

    def remember(self) -> None:
        """Keep every row, to put back after a request that was allowed to change them."""
        with self.app.app_context():
            self.baseline = {
                table.name: [dict(row._mapping) for row in db.session.execute(table.select())]
                for table in db.metadata.sorted_tables
                if table.name != COUNTER
            }

    def restore(self, changed=None) -> None:
        """Put the rows of the changed tables (all, when not told) back as remembered: rows
        that came back first, parents before children; new rows go, children first. The
        page and configuration versions move on, so nothing kept in memory under the
        changed state is served. The search index is rebuilt when what it holds changed."""
        with self.app.app_context():
            names = set(changed) if changed is not None else set(self.baseline)
            tables = [t for t in db.metadata.sorted_tables if t.name in names & set(self.baseline)]
            extra = {table.name: self._put_back(table) for table in tables}
            for table in reversed(tables):
                for key in extra[table.name]:
                    db.session.execute(table.delete().where(*_matching(table, key)))
            db.session.commit()
            if changed is None or names & SEARCHED or any(n.startswith("idea_fts") for n in names):
                reindex_all()
                db.session.commit()
        self.state = None
        limiter.reset()

    def _put_back(self, table) -> list[tuple]:
        """Insert or update the remembered rows of table; returns the keys of rows to go."""
        columns = [column.name for column in table.primary_key.columns]
        remembered = {tuple(row[c] for c in columns): row for row in self.baseline[table.name]}
        now = {
            tuple(row[c] for c in columns): dict(row)
            for row in db.session.execute(table.select()).mappings()
        }
        for key, row in remembered.items():
            if key not in now:
                db.session.execute(table.insert().values(**row))
            elif now[key] != row:
                db.session.execute(table.update().where(*_matching(table, key)).values(**row))
        return [key for key in now if key not in remembered]


def _matching(table, key: tuple) -> list:
    return [column == value for column, value in zip(table.primary_key.columns, key, strict=True)]


def sign_in_with(app):
    """A sign_in for build_world: the person signs in through the real form."""

    def sign_in(person):
        client = app.test_client(use_cookies=False)
        response = client.post("/signin", data={"email": person.user.email, "password": PASSWORD})
        assert response.status_code == 303, response.text
        person.keep(response)

    return sign_in


def build_world(app, sign_in, bookkeeping=()) -> World:
    """Make the people and objects every row needs, sign each role in with sign_in(person),
    and remember the database as it then is."""
    world = World(app)
    world.bookkeeping = set(bookkeeping)
    with app.app_context():
        empty_tables()
        get_backend().rebuild([])
    make = Factory(app)
    users = {
        "customer": make.user(name="Cara Customer", email="customer@example.com"),
        "other": make.user(name="Otto Other", email="other@example.com"),
        "blocked": make.user(name="Bea Blocked", email="blocked@example.com"),
        "moderator": make.user(Role.MODERATOR, name="Mo Moderator", email="mod@example.com"),
        "owner": make.user(Role.OWNER, name="Olive Owner", email="owner@example.com"),
        "admin": make.user(Role.ADMIN, name="Ada Admin", email="admin@example.com"),
    }
    newcomer = make.user(name="Nina Newcomer", email="newcomer@example.com")
    secured = make.user(name="Tess Twofactor", email="twofactor@example.com")
    features = make.board("features")
    lab = make.board("lab", categories=(), is_private=True)
    values = world.values
    values.update(
        idea=make.idea(features, users["customer"], title="Export reports as CSV"),
        original=make.idea(features, users["owner"], title="Dark mode for the dashboard"),
        voted=make.idea(features, users["other"], title="Calendar sync with Outlook"),
        duplicate=make.idea(features, users["other"], title="Night mode for the dashboard"),
        private=make.idea(lab, users["moderator"], title="Secret beta of the new editor"),
        hidden=make.idea(features, users["customer"], title="Buy cheap watches", is_hidden=True),
        held=make.idea(features, users["customer"], title="Print the roadmap", is_held=True),
        newcomer_email=newcomer.email,
        sso_token=lambda: signed_sign_on(email=newcomer.email),
        other_id=users["other"].id,
        owner_id=users["owner"].id,
        two_factor_id=secured.id,
        # A logo for /admin/site/logo: a file field, fresh for each request that sends it.
        image_file=lambda: (io.BytesIO(ONE_PIXEL_GIF), "logo.gif"),
    )
    with app.app_context(), app.test_request_context():
        values.update(_objects(values, users, newcomer))
        _with_two_factor(secured)
        db.session.commit()
        reindex_all()
        db.session.commit()
    anonymous = app.test_client(use_cookies=False)
    anonymous.get("/").close()  # makes the page version rows, as any first visit does
    world.people["visitor"] = Person("visitor", None, None)
    for role, user in users.items():
        person = Person(role, user, values.pop(f"{role}_api_token"))
        limiter.reset()
        sign_in(person)
        world.people[role] = person
    limiter.reset()
    with app.app_context():
        world.values.update(_sessions(users["customer"]))
    world.remember()
    return world


def _sessions(customer: User) -> dict:
    """The customer's signed-in session (to end it), and a two-factor secret with a code
    made afresh for each request that sends it."""
    secret = totp.new_secret()
    found = {"totp_secret": secret, "totp_code": lambda: totp.code_at(secret, totp.current_step())}
    sessions = db.metadata.tables.get("user_session")
    if sessions is not None:
        query = db.select(sessions.c.id).where(sessions.c.user_id == customer.id)
        found["customer_session"] = db.session.scalar(query)
    return found


def _with_two_factor(user: User) -> None:
    """Someone who uses two-factor sign-in, for an admin to reset."""
    secret = totp.new_secret()
    code = totp.code_at(secret, totp.current_step())
    two_factor.enable_two_factor(db.session.get(User, user.id), secret, code)


def _objects(values: dict, users: dict, newcomer: User) -> dict:
    """Comments, votes, a merge, tokens, notices, webhooks and an admin's own status (no
    idea has it, so it may be removed); returns their placeholders."""

    def idea(name):
        return db.session.scalar(db.select(Idea).filter_by(number=values[name]))

    people = {role: db.session.get(User, user.id) for role, user in users.items()}
    found = {"idea_id": idea("idea").id}
    found["comment"] = add_comment(people["customer"], idea("idea"), "I would use it weekly.").id
    # On {original}: an official answer would close {idea} to its author's edits.
    team = add_comment(people["owner"], idea("original"), "We are looking at it.", official=True)
    found["team_comment"] = team.id
    note = add_comment(people["owner"], idea("original"), "Staff only: a big customer.",
                       internal=True)  # fmt: skip
    found["internal_note"] = note.id
    for person in people.values():
        cast_vote(person, idea("voted"))
        db.session.add(Notification(user_id=person.id, idea_id=found["idea_id"], kind="status",
                                    text="An idea you follow moved on."))  # fmt: skip
    people["blocked"].is_blocked = True
    found["merge"] = merge_ideas(people["moderator"], idea("duplicate"), idea("original")).id
    for role, person in people.items():
        row, token = create_token(person, "matrix")
        found[f"{role}_api_token"] = token
        if role == "customer":
            found["token_id"] = row.id
    unverified = db.session.get(User, newcomer.id)
    unverified.email_verified_at = None
    found["verify"] = issue_token(unverified, "verify")
    found["reset"] = issue_token(unverified, "reset")
    found["signin_link"] = issue_token(unverified, "signin")
    found["unsubscribe"] = unsubscribe_token(people["customer"], idea("idea"))
    # The customer came in through the company's app too: a way in besides the password.
    link = SignInLink(user_id=users["customer"].id, provider="sso", subject="customer-in-app")
    db.session.add(link)
    db.session.flush()
    found["customer_link"] = link.id
    found.update(_webhooks(people["admin"]))
    # An OpenID Connect provider an admin added, at a closed port: signing in with it fails
    # at once, with the page that says it does not answer.
    db.session.add(IdentityProvider(name="matrix-idp", label="Matrix Login",
                                    issuer="http://127.0.0.1:9", client_id="matrix",
                                    sealed_client_secret=seal("matrix-secret"),
                                    scopes="openid email"))  # fmt: skip
    db.session.add(CustomStatus(slug="beta", label="In beta", colour="#0a7ea4", phase="active"))
    found["custom_status"] = "beta"
    # A logo, for its address and its Remove button; the favicon stays the default.
    upload = FileStorage(io.BytesIO(ONE_PIXEL_GIF), "logo.gif")
    found["logo_name"] = save_brand_image(people["admin"], "logo", upload)
    db.session.flush()
    return found


def _webhooks(admin: User) -> dict:
    """An active hook with a failed delivery, and a paused one; both point at a closed port,
    so "Send test" fails at once without leaving the machine."""
    hooks = {}
    for name, active in (("hook", True), ("paused_hook", False)):
        hook = Webhook(url="http://127.0.0.1:9/stimme", events=["idea.created"],
                       secret=new_secret(), description=name, is_active=active,
                       failure_streak=0, created_by_id=admin.id)  # fmt: skip
        db.session.add(hook)
        db.session.flush()
        hooks[name] = hook.id
    body = {"event": "idea.created", "delivery": 0, "created_at": "2025-01-01T00:00:00Z",
            "idea": {"number": 1}}  # fmt: skip
    delivery = WebhookDelivery(webhook_id=hooks["hook"], event="idea.created",
                               body=json.dumps(body), attempts=3, error="Connection refused",
                               last_attempt_at=utcnow())  # fmt: skip
    db.session.add(delivery)
    db.session.flush()
    return {**hooks, "delivery": delivery.id}


def is_sign_in_redirect(response) -> bool:
    location = response.headers.get("HX-Redirect") or response.headers.get("Location") or ""
    return urlsplit(location).path == "/signin"
