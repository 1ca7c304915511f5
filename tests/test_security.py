"""The security baseline: headers, cookies, secrets, body size, CSRF, health, redirects."""

import re
from collections import Counter
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest

from conftest import PASSWORD, Auth, htmx_headers
from portal import create_app
from portal.config import ConfigError
from portal.extensions import db
from portal.models import Comment, Idea, Role, User, Vote, Webhook, WebhookDelivery
from portal.operations.comments import add_comment
from portal.operations.merges import merge_ideas
from portal.operations.tokens import create_token
from portal.operations.webhooks.editing import new_secret
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
    policy = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part for part in (p.strip() for p in policy.split(";")) if part}


REFERRER_POLICIES = (
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
)


def header_problems(response, production: bool = False) -> list[str]:
    """What this answer lacks of the headers every answer carries (SPEC section 10)."""
    csp, headers = directives(response), response.headers
    script = csp.get("script-src", "")
    checks = {
        "a script nonce": re.search(r"'nonce-[\w-]{16,}'", script),
        "no inline script": "'unsafe-inline'" not in script and "'unsafe-eval'" not in script,
        "object-src 'none'": csp.get("object-src") == "object-src 'none'",
        "base-uri": csp.get("base-uri") in ("base-uri 'none'", "base-uri 'self'"),
        "frame-ancestors": csp.get("frame-ancestors") == "frame-ancestors 'none'",
        "nosniff": headers.get("X-Content-Type-Options") == "nosniff",
        "a Referrer-Policy": headers.get("Referrer-Policy") in REFERRER_POLICIES,
        "HSTS in production only": ("Strict-Transport-Security" in headers) == production,
    }
    return [name for name, passed in checks.items() if not passed]


def route_values(app, make) -> dict:
    """A value for every argument of the site's routes, each naming something that exists;
    the admin who may see it all, and an API token of theirs."""
    board = make.board()
    author, admin = make.user(), make.user(Role.ADMIN)
    number = make.idea(board, author, "Export reports as CSV")
    duplicate = make.idea(board, author, "CSV export for reports")
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        staff = db.session.get(User, admin.id)
        comment = add_comment(db.session.get(User, author.id), idea, "A comment.")
        hook = Webhook(url="https://hooks.example.com/x", events=["idea.created"],
                       secret=new_secret())  # fmt: skip
        delivery = WebhookDelivery(webhook=hook, event="ping", body="{}")
        db.session.add_all([hook, delivery])
        copy = db.session.scalar(db.select(Idea).filter_by(number=duplicate))
        merge = merge_ideas(staff, copy, idea)
        token_row, token = create_token(staff, "headers")
        db.session.commit()
        return {
            "number": number, "slug": "features", "comment_id": comment.id,
            "hook_id": hook.id, "delivery_id": delivery.id, "user_id": author.id,
            "token_id": token_row.id, "merge_id": merge.id, "kind": "ideas",
            "target_id": idea.id, "token": "not-a-token", "filename": "css/stimme.css",
            "admin": admin, "api_token": token,
        }  # fmt: skip


# Asked last: after these the admin's session is over.
ENDS_THE_SESSION = {"auth.signout", "account.delete_account", "account.end_other_sessions",
                    "account.end_session", "account.password"}  # fmt: skip


def every_request(app, values) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) for every route and method of the app, reads first; an
    argument with no value here gets 1 or "x", so a new route is asked for all the same."""
    requests = []
    for rule in app.url_map.iter_rules():
        arguments = {name: values.get(name, 1) for name in rule.arguments}
        if rule.endpoint == "public.idea" and "slug" in arguments:
            arguments["slug"] = "export-reports"
        path = rule.build(arguments)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            requests.append((rule.endpoint, method, path))
    order = {"GET": 0}
    return sorted(requests, key=lambda r: (r[0] in ENDS_THE_SESSION, order.get(r[1], 1), r))


def header_variants(method: str, path: str, token: str) -> list[dict]:
    if path.startswith("/api/"):
        return [{}, {"Authorization": f"Bearer {token}"}]
    return [{}, htmx_headers()] if method == "GET" else [{}]


def test_every_route_answers_with_the_security_headers(app, make):
    """Every route of app.url_map, every method, as an admin and as a visitor, as a page,
    an htmx fragment and through the API with a token: each answer (pages, fragments,
    redirects, refusals, JSON, static files) carries the headers."""
    values = route_values(app, make)
    staff, visitor = app.test_client(), app.test_client()
    Auth(staff).login(values["admin"])
    failures, statuses, asked = [], Counter(), set()
    for endpoint, method, path in every_request(app, values):
        asked.add((endpoint, method))
        for client in (staff, visitor):
            for headers in header_variants(method, path, values["api_token"]):
                response = client.open(path, method=method, headers=headers)
                response.close()
                statuses[response.status_code] += 1
                if problems := header_problems(response):
                    failures.append((method, path, response.status_code, problems))
                if not path.startswith(("/api/", "/static/")) and response.status_code == 200:
                    assert "HX-Request" in response.headers["Vary"], path
    assert failures == []
    assert {200, 303, 401, 403, 404, 422} <= set(statuses), statuses
    assert len(asked) >= 90  # every route and method there is (for SECURITY.md)


def test_refusals_and_errors_carry_the_security_headers(app, make, auth, strict_app,
                                                        monkeypatch, tmp_path):  # fmt: skip
    values = route_values(app, make)
    customer, client = app.test_client(), app.test_client()
    Auth(customer).login(make.user())
    bearer = {"Authorization": f"Bearer {values['api_token']}"}
    monkeypatch.setitem(app.config["RATE_LIMITS"], "signin", "1 per minute")
    monkeypatch.setitem(app.config["RATE_LIMITS"], "api", "1 per minute")
    monkeypatch.setitem(app.view_functions, "roadmap.changelog", lambda: 1 / 0)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    static = client.get("/static/css/stimme.css")
    static.close()
    answers = {
        302: client.get(f"/ideas/{values['number'] + 1}"),  # merged into the other idea
        304: client.get(static.request.path, headers={"If-None-Match": static.headers["ETag"]}),
        400: strict_app.test_client().post("/signin", data={"email": "a@example.com"}),
        403: customer.get("/admin/"),
        404: client.get("/no/such/page"),
        405: client.get("/signout"),
        # From elsewhere: the sign-in limit counts this address's earlier attempt.
        413: client.post(
            "/signin", data={"email": "a" * 1_100_000}, environ_base={"REMOTE_ADDR": "203.0.113.50"}
        ),  # fmt: skip
        500: client.get("/changelog"),
        "api 404": client.get("/api/v1/ideas/999999", headers=bearer),
        "api 405": client.post("/api/v1/boards", headers=bearer),
        "api 413": client.post(
            "/api/v1/ideas", data="x" * 1_100_000, headers=bearer, content_type="application/json"
        ),  # fmt: skip
        "HEAD": client.head("/"),
        "OPTIONS": client.options("/b/features"),
    }
    client.post("/signin", data={"email": "a@example.com", "password": "x"})
    answers[429] = client.post("/signin", data={"email": "a@example.com", "password": "x"})
    answers["api 429"] = client.get("/api/v1/boards", headers=bearer)
    for name, response in answers.items():
        response.close()
        assert str(response.status_code) in str(name) or name in ("HEAD", "OPTIONS"), name
        assert header_problems(response) == [], name


def test_production_answers_carry_hsts_as_well(app, make, production_app):
    """Every route and method as a visitor over HTTPS in production (CSRF on: writes are
    refused with 400), and the headers there include Strict-Transport-Security."""
    values = route_values(app, make)
    visitor = production_app.test_client()
    failures = []
    for _endpoint, method, path in every_request(production_app, values):
        response = visitor.open(path, method=method, base_url=HTTPS)
        response.close()
        if problems := header_problems(response, production=True):
            failures.append((method, path, response.status_code, problems))
    assert failures == []


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
    cookie = client.get_cookie("stimme_session")  # __Host- needs Secure, which http lacks
    assert cookie.http_only and cookie.same_site == "Lax"
    assert not cookie.secure  # so http://127.0.0.1 works during development
    assert client.get_cookie("remember_token") is None  # the session cookie remembers


def test_production_sends_hsts_and_secure_cookies(production_app, make):
    user = make.user()
    client = production_app.test_client()
    page = client.get("/signin", base_url=HTTPS)
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    response = sign_in_with_token(client, user, remember=True, base_url=HTTPS)
    cookies = response.headers.getlist("Set-Cookie")
    (header,) = cookies
    assert header.startswith("__Host-stimme_session=")
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"secure", "httponly", "path"} <= attributes and "domain" not in attributes, header
    assert "SameSite=Lax" in header and "Path=/;" in header + ";"
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
    assert header_problems(page) == header_problems(answer) == []  # the headers too
    assert client.get("/healthz").status_code == 503
    close(down)
