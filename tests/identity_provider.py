"""A real OpenID provider on loopback for the tests: panva's oidc-provider (tests/oidc,
installed by the test targets' npm step), a person signing in on its own login page, and
a forging provider for what a real one will not do. Loaded as a pytest plugin by
conftest.py: `provider` runs the real one for the suite's site, `company` configures it
there as OIDC_PROVIDERS=company would."""

import json
import subprocess
import time
import uuid
from pathlib import Path
from threading import Thread
from urllib.parse import urljoin, urlsplit

import lxml.html
import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

from conftest import free_port

PROVIDER_DIR = Path(__file__).parent / "oidc"
CLIENT_ID = "stimme-portal"
CLIENT_SECRET = "a-client-secret-only-for-tests"
# Where the suite's site (the Flask test client's host) asks the provider to send people.
CALLBACK = "http://localhost/signin/oidc/company/callback"


def provider_settings(issuer: str, label: str) -> dict:
    """A provider as OIDC_<NAME>_* settings give it (portal/config.py)."""
    return {"issuer": issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "label": label, "scopes": "openid email profile"}  # fmt: skip


@pytest.fixture(scope="module")
def provider():
    running = IdentityProvider([CALLBACK])
    yield running
    running.stop()


@pytest.fixture
def company(app, provider, monkeypatch):
    """The suite's site with the provider configured as OIDC_PROVIDERS=company would."""
    monkeypatch.setitem(app.config, "OIDC_PROVIDERS", {"company": provider.settings()})
    return provider


class IdentityProvider:
    """`node provider.mjs` on a free loopback port, with one client that may come back to
    each of redirect_uris; stop() ends it."""

    def __init__(self, redirect_uris: list[str]):
        if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError("the tests' OpenID provider is not installed: run `make install`")
        port = free_port()
        self.issuer = f"http://127.0.0.1:{port}"
        config = {
            "clients": [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": redirect_uris,
                }
            ]
        }
        self.process = subprocess.Popen(
            ["node", "provider.mjs", str(port), json.dumps(config)],
            cwd=PROVIDER_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # its warnings about development settings
            text=True,
        )
        line = self.process.stdout.readline()  # "ready <issuer>", or nothing when it failed
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"the OpenID provider did not start: {line!r}")

    def settings(self, label="Company Login") -> dict:
        return provider_settings(self.issuer, label)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process.stdout.close()


def sign_in_at_provider(authorization_url: str, login: str, back_to: str) -> str:
    """Follow the authorization URL in a browser-like session, fill the provider's login
    page with login, and return the URL it sends the person back to (under back_to)."""
    browser = requests.Session()
    answer = browser.get(authorization_url, allow_redirects=True, timeout=10)
    page = lxml.html.fromstring(answer.text)
    form = page.forms[0]
    action = urljoin(answer.url, form.action)
    fields = {**dict(form.fields), "login": login, "password": "anything"}
    answer = browser.post(action, data=fields, allow_redirects=False, timeout=10)
    for _ in range(10):  # the provider's own redirects, until it sends the person back
        location = urljoin(answer.url, answer.headers["Location"])
        if location.startswith(back_to):
            return location
        answer = browser.get(location, allow_redirects=False, timeout=10)
    raise AssertionError(f"the provider never sent the person back to {back_to}")


def local_part(url: str) -> str:
    """The path and query of url, for Flask's test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


class ForgingProvider:
    """A provider that misbehaves on purpose, on loopback: its discovery document and keys
    are proper, but its token endpoint answers with the ID token a test describes (signed
    by another key, expired, for another nonce). Tests begin a sign-in at the site and
    bring the person back with any code: this provider takes every code."""

    def __init__(self):
        # A key id of its own: a provider of an earlier test may have had this port.
        self.kid = uuid.uuid4().hex
        self.key = RSAKey.generate_key(2048, parameters={"kid": self.kid})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": self.kid})
        self.claims = {}  # what the next ID token says, besides the defaults
        self.signing_key = self.key
        # Threaded: Authlib keeps a connection open while it asks again on another.
        self.server = make_server("127.0.0.1", 0, self.answer, threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/.well-known/openid-configuration":
            body = {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/auth",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        elif path == "/jwks":
            body = {"keys": [self.key.as_dict(private=False)]}
        elif path == "/token":
            claims = {
                "iss": self.issuer,
                "aud": CLIENT_ID,
                "sub": "forged-subject",
                "email": "forged@example.com",
                "email_verified": True,
                "iat": int(time.time()),
                "exp": int(time.time()) + 300,
                **self.claims,
            }
            header = {"alg": "RS256", "kid": self.kid}
            token = jwt.encode(header, claims, self.signing_key, algorithms=["RS256"])
            body = {"access_token": "forged", "token_type": "Bearer", "id_token": token}
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not here"]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    def settings(self, label="Forged Login") -> dict:
        return provider_settings(self.issuer, label)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
