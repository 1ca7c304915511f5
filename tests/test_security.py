"""The security baseline: headers, cookies, secrets, body size, CSRF, health, redirects."""

import re
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest

from conftest import PASSWORD, Auth, htmx_headers
from portal import create_app
from portal.config import ConfigError
from portal.extensions import db
from portal.models import Comment, Idea, Role, Vote
from portal.search import default_backend

HTTPS = "https://stimme.example"
PAGES = [
    "/",
    "/b/features",
    "/b/features?sort=new&page=2",
    "/ideas/{number}",
    "/signin",
    "/signup",
    "/reset",
    "/healthz",
    "/ideas/999999",
    "/static/css/stimme.css",
]


def make_app(app, tmp_path, env, **config):
    """Another instance of the portal on the suite's database."""
    return create_app(
        {
            "ENV": env,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            **config,
        }
    )


def close(other_app) -> None:
    with other_app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def production_app(app, tmp_path):
    production = make_app(
        app, tmp_path, {"PORTAL_ENV": "production", "SECRET_KEY": "x" * 32}, BASE_URL=""
    )
    yield production
    close(production)


@pytest.fixture
def strict_app(app, tmp_path):
    """A development app with CSRF protection on, as in every real deployment."""
    strict = make_app(
        app, tmp_path, {"PORTAL_ENV": "development"}, TESTING=True, WTF_CSRF_ENABLED=True
    )
    yield strict
    close(strict)


def csrf_field(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def sign_in_with_token(client, user, remember=False, base_url="http://localhost"):
    """Sign in through the form, with the CSRF token it carries, as a browser does."""
    token = csrf_field(client.get("/signin", base_url=base_url).text)
    data = {"email": user.email, "password": PASSWORD, "csrf_token": token}
    if remember:
        data["remember"] = "y"
    referer = {"Referer": f"{base_url}/signin"}  # checked on HTTPS
    response = client.post("/signin", data=data, base_url=base_url, headers=referer)
    assert response.status_code == 303, response.text
    return response


def directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part for part in (p.strip() for p in policy.split(";")) if part}


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("as_htmx", [False, True], ids=["page", "htmx"])
def test_security_headers_on_every_answer(client, make, path, as_htmx):
    number = make.idea(make.board(), make.user())
    response = client.get(path.format(number=number), headers=htmx_headers() if as_htmx else {})
    response.close()
    assert response.status_code in (200, 404)
    csp = directives(response)
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["object-src"] == "object-src 'none'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "HX-Request" in response.headers["Vary"]
    assert "Strict-Transport-Security" not in response.headers  # development


def test_the_page_script_carries_a_fresh_policy_nonce(client, make):
    first, second = client.get("/"), client.get("/")
    assert script_nonce_matches_policy(first) and script_nonce_matches_policy(second)
    assert first.headers["Content-Security-Policy"] != second.headers["Content-Security-Policy"]


def script_nonce_matches_policy(response) -> bool:
    nonce = re.search(r"'nonce-([^']+)'", directives(response)["script-src"]).group(1)
    scripts = re.findall(r"<script[^>]*>", response.text)
    return bool(scripts) and all(f'nonce="{nonce}"' in tag for tag in scripts)


def test_refusals_before_any_view_keep_the_page_script(client, app, strict_app):
    limit = int(app.config["RATE_LIMITS"]["signin"].split()[0])
    for _ in range(limit + 1):
        throttled = client.post("/signin", data={"email": "a@example.com", "password": "x"})
    assert throttled.status_code == 429
    assert script_nonce_matches_policy(throttled)
    forged = strict_app.test_client().post("/signin", data={"email": "a@example.com"})
    assert forged.status_code == 400
    assert script_nonce_matches_policy(forged)


def test_development_cookies_are_httponly_and_lax(client, make):
    user = make.user()
    client.post("/signin", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    for name in ("session", "remember_token"):
        cookie = client.get_cookie(name)
        assert cookie.http_only and cookie.same_site == "Lax"
        assert not cookie.secure  # so http://127.0.0.1 works during development


def test_production_sends_hsts_and_secure_cookies(production_app, make):
    user = make.user()
    client = production_app.test_client()
    page = client.get("/signin", base_url=HTTPS)
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    response = sign_in_with_token(client, user, remember=True, base_url=HTTPS)
    cookies = response.headers.getlist("Set-Cookie")
    for name in ("session", "remember_token"):
        (header,) = [c for c in cookies if c.startswith(f"{name}=")]
        attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
        assert {"secure", "httponly"} <= attributes, header
        assert "SameSite=Lax" in header
    assert client.get("/me", base_url=HTTPS).status_code == 200


def test_production_errors_are_pages_not_tracebacks(production_app):
    response = production_app.test_client().get("/ideas/999999")
    assert response.status_code == 404
    assert "Not found" in response.text and "Traceback" not in response.text


def test_production_refuses_to_start_without_a_secret(app, tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        make_app(app, tmp_path, {"PORTAL_ENV": "production"})
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        make_app(app, tmp_path, {})  # production is the default


def test_a_body_over_one_megabyte_is_refused(client, auth, make, app):
    number = make.idea(make.board(), make.user())
    auth.login(make.user())
    for headers in ({}, htmx_headers()):
        response = client.post(
            f"/ideas/{number}/comments", data={"body": "x" * 1_100_000}, headers=headers
        )
        assert response.status_code == 413
        assert "larger than 1 MB" in response.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Comment.id))) == 0
    anonymous = app.test_client().post("/signin", data={"email": "a" * 1_100_000})
    assert anonymous.status_code == 413 and "Too large" in anonymous.text


def test_a_form_without_the_csrf_token_is_refused(strict_app, make, app):
    user = make.user()
    number = make.idea(make.board(), make.user())
    client = strict_app.test_client()
    refused = client.post("/signin", data={"email": user.email, "password": PASSWORD})
    assert refused.status_code == 400
    assert "The form expired or came from another site." in refused.text
    assert client.get("/me").status_code == 303  # not signed in

    sign_in_with_token(client, user)
    forged = client.post(f"/ideas/{number}/comments", data={"body": "Forged comment"})
    assert forged.status_code == 400
    unsigned_vote = client.post(f"/ideas/{number}/vote", headers=htmx_headers())
    assert unsigned_vote.status_code == 400
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Comment.id))) == 0
        assert db.session.scalar(db.select(db.func.count(Vote.id))) == 0


def test_htmx_requests_carry_the_token_from_the_page(strict_app, make, app):
    number = make.idea(make.board(), make.user())
    client = strict_app.test_client()
    sign_in_with_token(client, make.user())
    page = client.get(f"/ideas/{number}").text
    token = re.search(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", page).group(1)
    response = client.post(f"/ideas/{number}/vote", headers=htmx_headers(**{"X-CSRFToken": token}))
    assert response.status_code == 200
    assert 'data-vote-count="1"' in response.text
    posted = client.post(
        f"/ideas/{number}/comments",
        data={"body": "Sent with htmx"},
        headers=htmx_headers(**{"X-CSRFToken": token}),
    )
    assert posted.status_code == 200 and "Sent with htmx" in posted.text


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_reports_each_check(client, app):
    # The suite's database is made with create_all, so migrations may count as pending;
    # test_migrations proves a migrated database answers 200.
    response = client.get("/readyz")
    body = response.get_json()
    assert set(body) == {"status", "checks", "search_backend"}
    assert body["checks"]["database"] == "ok" and body["checks"]["search"] == "ok"
    with app.app_context():
        assert body["search_backend"] == (app.config["SEARCH_BACKEND"] or default_backend())
    assert body["checks"]["migrations"] in ("ok", "pending")
    ready = all(value == "ok" for value in body["checks"].values())
    assert response.status_code == (200 if ready else 503)
    assert body["status"] == ("ok" if ready else "unavailable")


def snapshot(app) -> dict:
    """Every row of every table, to prove that reading changes nothing."""
    with app.app_context():
        return {
            table.name: sorted(map(repr, db.session.execute(table.select()).all()))
            for table in db.metadata.sorted_tables
        }


def test_get_requests_change_nothing(app, make):
    board = make.board()
    author = make.user()
    number = make.idea(board, author)
    voter = app.test_client()
    Auth(voter).login(author)
    voter.post(f"/ideas/{number}/vote")
    voter.post(f"/ideas/{number}/comments", data={"body": "A comment."})
    with app.app_context():
        comment_id = db.session.scalar(db.select(Comment.id))
    reader = app.test_client()
    Auth(reader).login(make.user(Role.ADMIN))
    before = snapshot(app)
    paths = [p.format(number=number) for p in PAGES] + [
        "/me",
        "/b/features/new",
        f"/ideas/{number}/edit",
        f"/comments/{comment_id}/edit",
        f"/ideas/{number}-export-reports",
        "/readyz",
    ]
    for client in (voter, reader, app.test_client()):
        for path in paths:
            for headers in ({}, htmx_headers()):
                response = client.get(path, headers=headers)
                response.close()
                assert response.status_code != 500
    assert snapshot(app) == before


def lands_on(location: str) -> str:
    """The host a browser goes to for this Location (browsers read \\ as /, drop tabs)."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/").lstrip(" \x00-\x1f")
    return urlsplit(urljoin("http://localhost/signin", cleaned)).netloc


OFFSITE = [
    "//evil.example",
    "///evil.example",
    "https://evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    " //evil.example",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("target", OFFSITE)
def test_sign_in_never_redirects_off_site(client, make, target):
    user = make.user()
    form = client.get("/signin", query_string={"next": target})
    action = re.search(r'<form class="stack" method="post" action="([^"]+)"', form.text).group(1)
    assert lands_on(unescape(action)) == "localhost"
    response = client.post(
        "/signin", query_string={"next": target}, data={"email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 303
    assert lands_on(response.headers["Location"]) == "localhost"


@pytest.mark.parametrize("target", OFFSITE)
def test_voting_never_redirects_off_site(client, auth, make, target):
    number = make.idea(make.board(), make.user())
    auth.login(make.user())
    response = client.post(f"/ideas/{number}/vote", data={"next": target})
    assert response.status_code == 303
    assert lands_on(response.headers["Location"]) == "localhost"


def test_sign_in_follows_a_local_next(client, make):
    user = make.user()
    response = client.post(
        "/signin",
        query_string={"next": "/b/features?sort=new"},
        data={"email": user.email, "password": PASSWORD},
    )
    assert response.headers["Location"] == "/b/features?sort=new"


def test_idea_numbers_in_urls_need_a_real_idea(client, make, app):
    make.idea(make.board(), make.user())
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Idea.id))) == 1
    for path in ("/ideas/0", "/ideas/2", "/ideas/-1", "/ideas/abc", "/ideas/99999999999999999999"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Not found" in response.text


def test_a_database_outage_is_a_503_with_retry_advice(app, tmp_path):
    """Nothing listens on port 9: every page and API answer says to come back soon."""
    down = create_app(
        {
            "ENV": {"PORTAL_ENV": "development"},
            "INSTANCE_PATH": str(tmp_path / "down"),
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://127.0.0.1:9/none?connect_timeout=2",
            "SEARCH_BACKEND": "postgres",
        }
    )
    client = down.test_client()
    page = client.get("/")
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "briefly unavailable" in page.text and "Traceback" not in page.text
    answer = client.get("/api/v1/ideas")
    # At least our 5 s; the API's rate limiter may stretch it to its own window.
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) >= 5
    assert answer.json["error"]["code"] == "unavailable"
    assert client.get("/healthz").status_code == 503
    close(down)
