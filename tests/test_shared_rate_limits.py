"""Two servers sharing RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379 count one limit: what
one lets through, the other counts too. With requests taking turns between the two
processes, N pass and the next is refused on both; other people and addresses go on.
Every test counts under its own RATELIMIT_KEY_PREFIX. Runs wherever Redis answers; in CI
it must."""

import json
import os
import re
import urllib.parse
import uuid

import pytest
import redis

from processes import Gunicorn, flask, python, request, site_env

pytestmark = pytest.mark.slow

REDIS_URL = "redis://127.0.0.1:6379"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
N = 4  # every limit of these sites: RATE_LIMIT_<NAME>="4 per minute"
LIMITS = {f"RATE_LIMIT_{name}": f"{N} per minute" for name in ("SIGNIN", "VOTE", "API")}


@pytest.fixture
def shared_redis():
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        message = f"Redis at {REDIS_URL} does not answer: {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI has one: a skip there would hide a failure)")
        pytest.skip(message)
    prefix = f"stimme-test-{uuid.uuid4().hex}"
    yield client, prefix
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def two_servers(shared_redis, tmp_path):
    _client, prefix = shared_redis
    env = site_env(
        tmp_path,
        RATELIMIT_STORAGE_URI=REDIS_URL,
        RATELIMIT_KEY_PREFIX=prefix,
        PROXY_HOPS="1",  # as behind nginx: the client's address is X-Forwarded-For
        **LIMITS,
    )
    flask(env, "db", "upgrade")
    servers = []
    try:
        for name in ("a", "b"):
            servers.append(Gunicorn(env, tmp_path / name, "--workers", "1"))
        yield servers, env
    finally:
        for server in servers:
            server.stop()


class Visitor:
    """Someone at one address, signing in (wrongly) on whichever server answers."""

    def __init__(self, address: str, server):
        self.address = address
        status, headers, page = request(server.port, "GET", "/signin", headers=self._headers())
        assert status == 200
        self.cookie = headers["set-cookie"][0].split(";", 1)[0]
        self.token = CSRF.search(page).group(1)

    def _headers(self, **extra) -> dict:
        return {"X-Forwarded-For": self.address, **extra}

    def sign_in(self, server, email="nobody@example.com") -> tuple[int, dict]:
        form = {"csrf_token": self.token, "email": email, "password": "wrong"}
        headers = self._headers(
            Cookie=self.cookie, **{"Content-Type": "application/x-www-form-urlencoded"}
        )
        status, found, _ = request(
            server.port, "POST", "/signin", urllib.parse.urlencode(form), headers
        )
        return status, found


def test_two_servers_share_one_limit_through_redis(two_servers, shared_redis):
    redis_client, prefix = shared_redis
    (a, b), _env = two_servers
    visitor = Visitor("198.51.100.7", a)
    for n in range(N):  # taking turns: neither server alone sees the limit
        status, _ = visitor.sign_in((a, b)[n % 2])
        assert status in (200, 422), f"attempt {n + 1} answered {status}"
    for server in (a, b):
        status, headers = visitor.sign_in(server)
        assert status == 429
        assert 0 < int(headers["retry-after"]) <= 60
    # Another address is counted on its own, on both servers; the account tried is not.
    neighbour = Visitor("198.51.100.8", b)
    other = "somebody.else@example.com"
    assert [neighbour.sign_in(server, other)[0] for server in (a, b)] in ([200, 200], [422, 422])
    assert [neighbour.sign_in(server)[0] for server in (a, b)] == [429, 429]
    # The counts are in Redis under this site's prefix (not in either process's memory).
    assert list(redis_client.scan_iter(match=f"*{prefix}*"))
    for server in (a, b):
        assert "Traceback" not in server.logs()


SETUP = """
import json
from datetime import timedelta
from portal import create_app
from portal.extensions import db
from portal.models import Board, User, utcnow
from portal.operations.ideas import submit_idea
from portal.operations.tokens import create_token
app = create_app()
with app.app_context():
    old = utcnow() - timedelta(days=2)
    people = [User(email=f"voter{n}@example.com", name=f"Voter {n}", password_hash="-",
                   email_verified_at=old, created_at=old) for n in range(2)]
    board = Board(slug="features", name="Features", description="Ideas.")
    db.session.add_all([*people, board])
    db.session.flush()
    ideas = [submit_idea(people[0], board, f"Shared idea number {n}", "Body.") for n in range(3)]
    tokens = [create_token(person, "limits")[1] for person in people]
    db.session.commit()
    print(json.dumps({"numbers": [idea.number for idea in ideas], "tokens": tokens}))
"""


def api(server, method, path, token=None, address="198.51.100.7") -> tuple[int, dict, str]:
    headers = {"X-Forwarded-For": address}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return request(server.port, method, path, headers=headers)


def test_votes_and_api_reads_are_counted_once_over_both_servers(two_servers, shared_redis):
    """Per account (votes, by the API, alternating PUT and DELETE) and per token (reads)."""
    (a, b), env = two_servers
    world = json.loads(python(env, SETUP).strip().splitlines()[-1])
    voter, neighbour = world["tokens"]
    number = world["numbers"][0]
    for n in range(N):
        method = "PUT" if n % 2 == 0 else "DELETE"
        status, _, body = api((a, b)[n % 2], method, f"/api/v1/ideas/{number}/vote", voter)
        assert status == 200, f"vote {n + 1} answered {status}: {body}"
    for server in (a, b):
        status, headers, body = api(server, "PUT", f"/api/v1/ideas/{number}/vote", voter)
        assert status == 429 and json.loads(body)["error"]["code"] == "rate_limited"
        assert 0 < int(headers["retry-after"]) <= 60
    # The neighbour, at the same address, votes on as before, on either server.
    assert api(b, "PUT", f"/api/v1/ideas/{number}/vote", neighbour)[0] == 200

    for n in range(N):  # reads: one count per token, whichever server answers
        assert api((b, a)[n % 2], "GET", "/api/v1/boards", voter)[0] == 200, n
    assert [api(server, "GET", "/api/v1/boards", voter)[0] for server in (a, b)] == [429, 429]
    assert api(a, "GET", "/api/v1/boards", neighbour)[0] == 200
    # Visitors without a token are counted per address.
    for n in range(N):
        assert api((a, b)[n % 2], "GET", "/api/v1/ideas", address="192.0.2.10")[0] == 200
    assert api(b, "GET", "/api/v1/ideas", address="192.0.2.10")[0] == 429
    assert api(a, "GET", "/api/v1/ideas", address="192.0.2.11")[0] == 200
    for server in (a, b):
        assert "Traceback" not in server.logs()
