"""Security headers on every answer, and no writes from other sites (SPEC section 10)."""

import secrets
from urllib.parse import urlsplit

from flask import current_app, g, request
from flask_wtf.csrf import CSRFError


def prepare_nonce() -> None:
    g.csp_nonce = secrets.token_urlsafe(16)


def csp_nonce() -> str:
    """This request's script nonce, made on first use (CSRF refusals precede prepare_nonce)."""
    if "csp_nonce" not in g:
        prepare_nonce()
    return g.csp_nonce


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            # htmx adds style attributes while swapping; no inline script is allowed.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "connect-src 'self'",
        ]
    )


def apply_security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config["PORTAL_ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    headers.add("Vary", "HX-Request")
    return response


# Sec-Fetch-Site values a writing request may carry: "same-origin" (our own pages) and
# "none" (the person's own doing: typed, bookmarked). "same-site" is refused as well as
# "cross-site": a sibling host (a blog, a help centre, user content on another subdomain)
# is another security boundary, yet its requests carry our SameSite=Lax cookies, and no
# page of ours posts from one.
OWN_FETCH_SITES = frozenset({"same-origin", "none"})


def refuse_cross_site_writes() -> None:
    """before_request, after Flask-WTF's token check: refuse a writing request that the
    browser says came from another site, or whose Origin is not this site's, valid token or
    not. Raises CSRFError (the 400 page of a forged form).

    Only requests Flask-WTF has just checked are looked at (it sets g.csrf_valid): reads,
    the JSON API (bearer tokens, never cookies) and views exempt by design (one-click
    unsubscribe, RFC 8058) are left alone, and so is everything when CSRF is switched off.
    """
    if g.get("csrf_valid"):
        refuse_foreign_request()


def refuse_foreign_request() -> None:
    """Raise CSRFError when the browser says the request came from another site
    (Sec-Fetch-Site), or its Origin is not this site's. Also the only check on a signed-out
    press of a button visitors see (portal/views/presses.py): their cached pages carry no
    token."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in OWN_FETCH_SITES:
        raise CSRFError("The request came from another site (Sec-Fetch-Site).")
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower() not in own_origins():
        raise CSRFError("The request came from another site (Origin).")


def own_origins() -> set[str]:
    """This site's origins: the one the request was sent to (the browser's, as ProxyFix
    restores it behind a proxy) and BASE_URL's."""
    base = urlsplit(current_app.config["BASE_URL"])
    return {f"{request.scheme}://{request.host}".lower(), f"{base.scheme}://{base.netloc}".lower()}
