"""Forged requests, with CSRF protection on as in every deployment (issue 8, point 3).

Every writing route of tests/permissions.toml outside /api/v1 is sent, as a person the
matrix allows, without a token, with a wrong token, with another session's token, and
with a valid token from another site (`Sec-Fetch-Site: cross-site`, a foreign `Origin`):
each is refused with 400 and changes no table. The same request with the person's own
token from our own pages then does what the matrix says, so the refusals are the check's
and not the world's. The JSON API takes bearer tokens, never cookies, and is exempt.
"""

import re

import pytest

from conftest import PASSWORD, empty_tables
from matrix import WRITES, build_world, load_matrix
from portal import create_app
from portal.extensions import db, limiter
from portal.models import PendingIntent

ROWS, BOOKKEEPING = load_matrix()
SITE = "http://localhost"  # the test client's host, and BASE_URL here
FOREIGN = "https://evil.example"
# The one writing route that takes no CSRF token: the signed token in its address is the
# proof, and mail providers post to it from their own servers (RFC 8058 one-click).
EXEMPT = {("/unsubscribe/<token>", "POST")}
# Buttons visitors see on cached, shared pages that carry no token: Flask-WTF's check is left
# to portal/views/presses.py, which makes it for the signed-in and checks where a visitor's
# press came from (all it can do is keep an intent for their sign-in).
PRESSES = {
    ("/ideas/<int:number>/vote", "POST"),
    ("/ideas/<int:number>/comments", "POST"),
    ("/ideas/<int:number>/subscription", "POST"),
}
WRITING = [row for row in ROWS if row.writes and not row.is_api and not row.case]
# Who sends each route's request: the first person the matrix lets through.
SENDERS = ("customer", "other", "blocked", "moderator", "owner", "admin", "visitor")
ATTACKS = {
    "no token": ({}, None),
    "a wrong token": ({}, "wrong"),
    "another session's token": ({}, "another"),
    "Sec-Fetch-Site cross-site": ({"Sec-Fetch-Site": "cross-site"}, "own"),
    "a foreign Origin": ({"Origin": FOREIGN}, "own"),
}
OWN_PAGE = {"Sec-Fetch-Site": "same-origin", "Origin": SITE}


@pytest.fixture(autouse=True)
def _clean_state():
    """Replaces conftest's per-test emptying: the world is built once for the module."""
    limiter.reset()


@pytest.fixture(scope="module")
def strict(app, tmp_path_factory):
    """The portal with CSRF protection on, on the suite's database."""
    strict = create_app(
        {
            "ENV": {"PORTAL_ENV": "development"},
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("strict")),
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "WTF_CSRF_ENABLED": True,
            "BASE_URL": SITE,
            "PASSWORD_HASH_METHOD": app.config["PASSWORD_HASH_METHOD"],
            # As on the suite's site: the matrix's customer comes in through the company's app.
            "SSO_JWT_SECRET": app.config["SSO_JWT_SECRET"],
        }
    )
    yield strict
    with strict.app_context():
        db.session.remove()
        db.engine.dispose()


def csrf_token_in(page: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'"X-CSRFToken": "([^"]+)"', page
    )
    assert found, "no CSRF token on the page"
    return found.group(1)


def fetch_token(app, person, path: str) -> None:
    """Open a page as person, keeping the cookies it sets and the token it carries."""
    page = app.test_client(use_cookies=False).get(path, headers=person.headers(api=False))
    person.keep(page)
    person.csrf = csrf_token_in(page.text)


def sign_in_with_token(app):
    def sign_in(person):
        fetch_token(app, person, "/signin")
        client = app.test_client(use_cookies=False)
        data = {"email": person.user.email, "password": PASSWORD, "csrf_token": person.csrf}
        response = client.post("/signin", data=data, headers=person.headers(api=False))
        assert response.status_code == 303, response.text
        person.keep(response)
        fetch_token(app, person, "/me")  # signing in starts a new session, with a new token

    return sign_in


@pytest.fixture(scope="module")
def world(strict):
    built = build_world(strict, sign_in_with_token(strict), BOOKKEEPING)
    fetch_token(strict, built.people["visitor"], "/signin")
    built.remember()
    yield built
    with strict.app_context():
        empty_tables()


def sender(row) -> str:
    return next((role for role in SENDERS if row.expect[role] == "ok"), "customer")


def token_for(world, role: str, which: str | None) -> str | None:
    if which == "own":
        return world.people[role].csrf
    if which == "another":
        return world.people["admin" if role != "admin" else "customer"].csrf
    return "IjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAi.forged" if which else None


def send(world, row, role, headers: dict, token: str | None):
    """Send row's request as role with token in the form (or none) and extra headers;
    returns the answer and the tables it changed (put back if any)."""
    form = dict(row.form)  # filled in by world.send
    if token is not None:
        form["csrf_token"] = token
    before = world.snapshot()
    response = world.send(row, role, headers=headers, form=form)
    changed = world.changes(before)
    if changed:
        world.restore(changed)
    return response, changed


def attack_cases():
    for row in WRITING:
        if (row.rule, row.method) in EXEMPT:
            continue  # test_unsubscribing_from_a_mail_needs_its_signed_token_only
        for attack in ATTACKS:
            yield pytest.param(row, attack, id=f"{row.label} with {attack}")


@pytest.mark.parametrize(("row", "attack"), list(attack_cases()))
def test_a_forged_write_is_refused_and_changes_nothing(world, row, attack):
    headers, which = ATTACKS[attack]
    role = sender(row)
    response, changed = send(world, row, role, headers, token_for(world, role, which))
    assert response.status_code == 400, f"{row.label} as {role}: {response.status_code}"
    assert "came from another site" in response.text
    assert not changed, f"{row.label} as {role} changed {changed}"


@pytest.mark.parametrize("row", WRITING, ids=[row.label for row in WRITING])
def test_the_same_write_from_our_own_page_does_what_the_matrix_says(world, row):
    role = sender(row)
    response, changed = send(world, row, role, OWN_PAGE, world.people[role].csrf)
    expected = row.expect[role]
    if expected == "ok":
        assert response.status_code < 400, f"{row.label} as {role}: {response.status_code}"
        if row.expected_effect == "change":
            assert changed, f"{row.label} as {role} changed nothing"
    else:
        assert response.status_code != 400, f"{row.label} as {role}: refused as forged"
        assert not changed


def test_every_writing_route_but_unsubscribe_needs_a_token(strict):
    """The exemptions are exactly the ones meant: checked on the app, not the matrix."""
    csrf = strict.extensions["csrf"]
    exempt = set()
    for rule in strict.url_map.iter_rules():
        view = strict.view_functions[rule.endpoint]
        if f"{view.__module__}.{view.__name__}" in csrf._exempt_views:
            exempt |= {(rule.rule, method) for method in rule.methods & WRITES}
    assert exempt == EXEMPT | PRESSES
    assert strict.blueprints["api"] in csrf._exempt_blueprints


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "same-site"}, {"Origin": "null"}, {"Origin": "http://localhost.evil"},
     {"Origin": "https://localhost"}, {"Sec-Fetch-Site": "cross-site", "Origin": SITE}],
    ids=["same-site", "null Origin", "look-alike Origin", "other scheme", "cross-site own Origin"],
)  # fmt: skip
def test_other_signs_of_another_site_are_refused_too(world, headers):
    (vote,) = [row for row in WRITING if row.rule == "/ideas/<int:number>/vote"]
    token = world.people["customer"].csrf
    for extra in ({}, {"HX-Request": "true"}):  # htmx sends the token as a header instead
        response, changed = send(world, vote, "customer", {**headers, **extra}, token)
        assert response.status_code == 400 and not changed


@pytest.mark.parametrize(
    "headers",
    [{}, {"Sec-Fetch-Site": "none"}, {"Origin": SITE.upper()}, {"Sec-Fetch-Site": "same-origin"}],
    ids=["no browser headers", "typed by the person", "Origin in capitals", "same-origin"],
)  # fmt: skip
def test_our_own_requests_pass(world, headers):
    (vote,) = [row for row in WRITING if row.rule == "/ideas/<int:number>/vote"]
    response, changed = send(world, vote, "customer", headers, world.people["customer"].csrf)
    assert response.status_code == 303 and "vote" in changed


def test_behind_a_proxy_the_browsers_origin_and_base_url_are_ours(app, tmp_path, make):
    """With PROXY_HOPS the origin is the one the browser used (X-Forwarded-Host/-Proto);
    BASE_URL's origin counts too, for a proxy that does not say."""
    proxied = create_app(
        {
            "ENV": {"PORTAL_ENV": "development"},
            "INSTANCE_PATH": str(tmp_path / "proxied"),
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "WTF_CSRF_ENABLED": True,
            "WTF_CSRF_SSL_STRICT": False,  # the Referer rule is Flask-WTF's, tested there
            "PROXY_HOPS": 1,
            "BASE_URL": "https://ideas.example.org",
        }
    )
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "feedback.example.com"}
    client = proxied.test_client()
    token = csrf_token_in(client.get("/signin", base_url="http://10.0.0.5", headers=forwarded).text)
    data = {"email": "nobody@example.com", "password": "wrong password", "csrf_token": token}
    answers = {"https://feedback.example.com": 422, "https://ideas.example.org": 422,
               "http://10.0.0.5": 400, "http://feedback.example.com": 400}  # fmt: skip
    for origin, status in answers.items():
        response = client.post("/signin", data=data, base_url="http://10.0.0.5",
                               headers={**forwarded, "Origin": origin})  # fmt: skip
        assert response.status_code == status, origin
    with proxied.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_api_takes_bearer_tokens_from_anywhere(world):
    """No cookie signs an API request in, so another site cannot act through a browser:
    the API needs no CSRF token and ignores where a request comes from."""
    (vote,) = [row for row in ROWS if row.rule == "/api/v1/ideas/<int:number>/vote"
               and row.method == "PUT"]  # fmt: skip
    before = world.snapshot()
    response = world.send(vote, "customer", headers={"Sec-Fetch-Site": "cross-site",
                                                     "Origin": FOREIGN})  # fmt: skip
    changed = world.changes(before)
    world.restore(changed)
    assert response.status_code == 200 and "vote" in changed
    cookie_only = world.app.test_client(use_cookies=False).put(
        world.fill(vote.path), json={}, headers=world.people["customer"].headers(api=False)
    )
    assert cookie_only.status_code == 401


def test_unsubscribing_from_a_mail_needs_its_signed_token_only(world):
    (row,) = [r for r in WRITING if (r.rule, r.method) in EXEMPT]
    answered, changed = send(world, row, "visitor", {"Sec-Fetch-Site": "cross-site",
                                                     "Origin": FOREIGN}, None)  # fmt: skip
    assert answered.status_code == 200 and "subscription" in changed
    forged = world.app.test_client().post("/unsubscribe/forged-token", headers={"Origin": FOREIGN})
    assert forged.status_code == 404


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Origin": FOREIGN}])
def test_a_visitors_press_from_another_site_keeps_nothing(world, strict, headers):
    """A visitor's Vote carries no token; one sent from another site is refused."""
    (vote,) = [row for row in WRITING if row.rule == "/ideas/<int:number>/vote"]

    def intents() -> int:
        with strict.app_context():
            return db.session.scalar(db.select(db.func.count(PendingIntent.id)))

    before = intents()
    response, changed = send(world, vote, "visitor", headers, None)
    assert response.status_code == 400 and not changed and intents() == before
    from_our_page, _changed = send(world, vote, "visitor", OWN_PAGE, None)
    assert from_our_page.status_code == 303
    assert from_our_page.headers["Location"].startswith("/signin?next=")
    assert intents() == before + 1
