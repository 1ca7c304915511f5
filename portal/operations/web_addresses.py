"""What counts as a web address wherever an admin types one (webhooks, footer links, an
identity provider's issuer): http or https, a host, a port that is a number, no spaces."""

from urllib.parse import SplitResult, urlsplit


def web_address(url: str) -> SplitResult | None:
    """url's parts when it is such an address, else None."""
    parts = readable(url)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return None if any(c.isspace() for c in url) else parts


def readable(url: str) -> SplitResult | None:
    """url's parts, or None when it cannot be read as an address at all."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is no number)
    except ValueError:
        return None
    return parts
