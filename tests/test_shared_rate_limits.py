"""Two servers sharing RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379 count one limit: what
one lets through, the other counts too. Runs wherever Redis answers; in CI it must."""

import os
import re
import urllib.parse
import uuid

import pytest
import redis

from processes import Gunicorn, flask, request, site_env

pytestmark = pytest.mark.slow

REDIS_URL = "redis://127.0.0.1:6379"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


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
    )
    flask(env, "db", "upgrade")
    servers = []
    try:
        for name in ("a", "b"):
            servers.append(Gunicorn(env, tmp_path / name, "--workers", "1"))
        yield servers
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

    def sign_in(self, server) -> tuple[int, dict]:
        form = {"csrf_token": self.token, "email": "nobody@example.com", "password": "wrong"}
        headers = self._headers(
            Cookie=self.cookie, **{"Content-Type": "application/x-www-form-urlencoded"}
        )
        status, found, _ = request(
            server.port, "POST", "/signin", urllib.parse.urlencode(form), headers
        )
        return status, found


def test_two_servers_share_one_limit_through_redis(two_servers, shared_redis, app):
    redis_client, prefix = shared_redis
    limit = int(app.config["RATE_LIMITS"]["signin"].split()[0])  # the same default
    a, b = two_servers
    visitor = Visitor("198.51.100.7", a)
    for n in range(limit):  # taking turns: neither server alone sees the limit
        status, _ = visitor.sign_in((a, b)[n % 2])
        assert status in (200, 422), f"attempt {n + 1} answered {status}"
    for server in (a, b):
        status, headers = visitor.sign_in(server)
        assert status == 429
        assert 0 < int(headers["retry-after"]) <= 60
    # Another address is counted on its own, on both servers.
    neighbour = Visitor("198.51.100.8", b)
    assert [neighbour.sign_in(server)[0] for server in (a, b)] in ([200, 200], [422, 422])
    # The counts are in Redis under this site's prefix (not in either process's memory).
    assert list(redis_client.scan_iter(match=f"*{prefix}*"))
    for server in (a, b):
        assert "Traceback" not in server.logs()
