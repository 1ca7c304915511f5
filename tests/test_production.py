"""Running in production: request ids and JSON logs, health that names what fails,
the proxy's headers, rate limits that survive a Redis outage, and a refusal to start
without a secret."""

import itertools
import json
import logging
import subprocess
import sys

import pytest

from conftest import free_port
from portal import create_app
from portal.extensions import db
from portal.logs import JsonFormatter, configure_logging
from processes import BIN, ROOT, site_env

WELL_FORMED = "5f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f"


@pytest.fixture
def other_app(app, tmp_path):
    """Makes other instances of the portal on the suite's database; closes them after."""
    made = []

    def make(**config):
        made.append(
            create_app(
                {
                    "ENV": {"PORTAL_ENV": "development", **config.pop("ENV", {})},
                    "INSTANCE_PATH": str(tmp_path / f"instance{len(made)}"),
                    "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                    "WTF_CSRF_ENABLED": False,
                    **config,
                }
            )
        )
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
    configure_logging(app)  # the suite's own log handler back


@pytest.fixture
def without_search_index(other_app, tmp_path):
    """A site whose Whoosh index folder is empty, logging JSON."""
    return other_app(
        ENV={"LOG_FORMAT": "json"},
        SEARCH_BACKEND="whoosh",
        SEARCH_INDEX_DIR=str(tmp_path / "no-index"),
    )


# -- request ids -------------------------------------------------------------------------


def test_a_well_formed_request_id_is_kept_and_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": WELL_FORMED})
    assert response.headers["X-Request-ID"] == WELL_FORMED


@pytest.mark.parametrize(
    "offered",
    ["", "short", "x" * 129, "id with spaces", "tab\tinside-id", '{"json": 1}', "ümlaut-id-1"],
)
def test_any_other_request_id_is_replaced_by_a_new_one(client, offered):
    response = client.get("/healthz", headers={"X-Request-ID": offered})
    made = response.headers["X-Request-ID"]
    assert made != offered and len(made) == 32 and int(made, 16) >= 0


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_a_line_logged_during_a_request_is_json_with_its_id(without_search_index, make, capsys):
    make.board()
    capsys.readouterr()
    response = without_search_index.test_client().get(
        "/search?q=export", headers={"X-Request-ID": WELL_FORMED}
    )
    assert response.status_code == 200  # answered from SQL, with a warning in the log
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    (warning,) = [line for line in lines if line["logger"] == "portal.search"]
    assert warning["level"] == "WARNING" and "unavailable" in warning["message"]
    assert warning["request_id"] == WELL_FORMED == response.headers["X-Request-ID"]
    assert (warning["method"], warning["path"]) == ("GET", "/search")
    assert set(warning) >= {"time", "level", "logger", "message", "request_id", "method", "path"}


def test_an_exception_is_logged_on_the_same_line():
    try:
        raise ValueError("the mail server said no")
    except ValueError:
        record = logging.LogRecord("portal.outbox", logging.ERROR, __file__, 1, "send failed",
                                   None, sys.exc_info())  # fmt: skip
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "send failed" and entry["request_id"] is None
    assert "ValueError: the mail server said no" in entry["exception"]
    assert entry["exception"].startswith("Traceback")


# -- health ------------------------------------------------------------------------------


def test_healthz_and_readyz_name_a_search_that_does_not_answer(without_search_index):
    client = without_search_index.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {
        "status": "error",
        "checks": {"database": "ok", "search": "error: SearchUnavailable"},
    }
    ready = client.get("/readyz")
    assert ready.status_code == 503
    body = ready.get_json()
    assert body["status"] == "unavailable" and body["search_backend"] == "whoosh"
    assert body["checks"]["search"] == "error: SearchUnavailable"
    assert body["checks"]["database"] == "ok"


def test_readyz_reports_postgres_search(app, other_app):
    on_postgres = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    body = other_app(SEARCH_BACKEND="postgres").test_client().get("/readyz").get_json()
    assert body["search_backend"] == "postgres"
    # SQLite has no PostgreSQL full-text search: the check says so instead of failing.
    assert body["checks"]["search"] == ("ok" if on_postgres else "error: SearchUnavailable")


# -- behind a proxy ----------------------------------------------------------------------


ATTEMPT = itertools.count()


def sign_in_attempts(client, address: str, count: int) -> list[int]:
    """Each attempt names another account: the limit per account is not what is measured."""
    return [
        client.post(
            "/signin",
            data={"email": f"nobody{next(ATTEMPT)}@example.com", "password": "wrong"},
            headers={"X-Forwarded-For": address},
        ).status_code
        for _ in range(count)
    ]


def test_behind_one_proxy_limits_count_per_client_address(app, other_app):
    limit = int(app.config["RATE_LIMITS"]["signin"].split()[0])
    proxied = other_app(ENV={"PROXY_HOPS": "1"}).test_client()
    assert 429 not in sign_in_attempts(proxied, "198.51.100.7", limit)
    assert sign_in_attempts(proxied, "198.51.100.7", 1) == [429]
    assert 429 not in sign_in_attempts(proxied, "198.51.100.8", 1)


def test_without_proxy_hops_a_forwarded_address_is_not_believed(client, app):
    limit = int(app.config["RATE_LIMITS"]["signin"].split()[0])
    statuses = [sign_in_attempts(client, f"198.51.100.{n}", 1)[0] for n in range(limit + 1)]
    assert 429 not in statuses[:limit] and statuses[limit] == 429


# -- rate limits when Redis is down ------------------------------------------------------

REDIS_DOWN = """
import sys
from portal import create_app
from portal.extensions import db
app = create_app({"WTF_CSRF_ENABLED": False})
with app.app_context():
    db.create_all()
client = app.test_client()
form = {"email": "nobody@example.com", "password": "wrong"}
print(*[client.post("/signin", data=form).status_code for _ in range(int(sys.argv[1]))])
"""


def test_a_redis_outage_keeps_limits_per_process_and_never_answers_500(app, tmp_path):
    """Nothing listens on the port: Flask-Limiter falls back to counting in memory."""
    limit = int(app.config["RATE_LIMITS"]["signin"].split()[0])
    env = site_env(tmp_path, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}")
    done = subprocess.run(
        [sys.executable, "-c", REDIS_DOWN, str(limit + 2)], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    statuses = [int(status) for status in done.stdout.split()]
    assert all(status in (200, 422) for status in statuses[:limit]), statuses
    assert statuses[limit:] == [429, 429]
    assert "falling back to in-memory storage" in done.stderr


# -- starting --------------------------------------------------------------------------


@pytest.mark.slow
def test_gunicorn_refuses_to_start_in_production_without_a_secret(tmp_path):
    env = site_env(tmp_path, PORTAL_ENV="production")
    done = subprocess.run(
        [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--workers", "1",
         "--bind", f"127.0.0.1:{free_port()}", "wsgi:app"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr


@pytest.mark.slow
def test_the_deploy_script_migrates_before_it_reloads(tmp_path):
    env_file = tmp_path / "stimme.env"
    site = site_env(tmp_path, PORTAL_ENV="production")
    env_file.write_text(
        f"SECRET_KEY={'k' * 64}\n"
        f"DATABASE_URL={site['DATABASE_URL']}\n"
        'MAIL_FROM="Stimme <no-reply@stimme.example>"\n'
    )
    done = subprocess.run(
        ["sh", "scripts/deploy.sh"],
        env={**site, "STIMME_ENV_FILE": str(env_file), "DEPLOY_INSTALL": "0",
             "SYSTEMCTL": "echo systemctl"},
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    steps = [line for line in done.stdout.splitlines() if not line.startswith("== deployed")]
    assert steps == [
        "== flask db upgrade",
        "== reloading stimme-web, restarting the workers",
        "systemctl reload stimme-web.service",
        "systemctl restart stimme-worker@*.service",
    ]
    current = subprocess.run(
        [str(BIN / "flask"), "--app", "portal", "db", "current"],
        env={**site, "SECRET_KEY": "k" * 64}, cwd=ROOT, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert "(head)" in current.stdout, current.stdout + current.stderr
