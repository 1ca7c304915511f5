"""The logo and favicon admins upload: checked to be images by their bytes, size-limited,
and an SVG that could run script or fetch anything refused (the colours and footer links
are site settings: portal/operations/admin.py)."""

import hashlib
import math
import re

from flask_babel import format_decimal

from portal.extensions import db
from portal.i18n import gettext as _
from portal.models import BrandImage
from portal.operations import ValidationError
from portal.operations.admin import require_admin
from portal.operations.audit import record_audit
from portal.settings import save_settings, site_settings

# The most bytes each image may have: a logo shows small, a favicon smaller.
LIMITS = {"logo": 200 * 1024, "favicon": 50 * 1024}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp",
              "image/gif": "gif", "image/svg+xml": "svg"}  # fmt: skip
# Served images are named by the start of their SHA-256: enough to never collide here.
DIGEST_SHOWN = 16

# What refuses an SVG, each with the reason shown: anything that could run script, pull in
# another file or site, or grow without bound. The served image also gets a CSP that runs
# nothing (portal/views/brand.py), in case a trick slips past these.
SVG_DANGERS = (
    (re.compile(rb"<\s*script", re.I), "script"),
    (re.compile(rb"[\s\"'/]on[a-z]+\s*=", re.I), "handler"),
    (re.compile(rb"javascript\s*:", re.I), "javascript"),
    (re.compile(rb"<\s*(foreignObject|iframe|embed|object)\b", re.I), "foreign"),
    # Any href but "#id" (an entity can spell "javascript:" inside one), an animation that
    # sets one, and url() or @import but "url(#id)".
    (
        re.compile(
            rb"href\s*=\s*[\"']?\s*[^\s\"'#]|attributeName\s*=\s*[\"']?\s*(xlink:)?href"
            rb"|url\s*\(\s*[\"']?\s*[^\s\"'#)]|@import",
            re.I,
        ),
        "external",
    ),
    (re.compile(rb"<!\s*(ENTITY|DOCTYPE)", re.I), "entity"),
)


def kind_label(kind: str) -> str:
    return _("logo") if kind == "logo" else _("favicon")


def sniff(data: bytes) -> str | None:
    """The image type the bytes themselves say (never the file name or the browser's word)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if b"\x00" not in data and re.search(rb"<svg[\s>]", data[:4096], re.I):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "image/svg+xml"
    return None


def svg_refusal(data: bytes) -> str | None:
    """Why this SVG is refused, or None when it carries nothing that could run or fetch."""
    reasons = {
        "script": _("This SVG is refused: it carries a script."),
        "handler": _("This SVG is refused: it carries an event handler (an on… attribute)."),
        "javascript": _("This SVG is refused: it carries a javascript: link."),
        "foreign": _("This SVG is refused: it embeds other content (such as foreignObject)."),
        "external": _("This SVG is refused: it refers to another file or site."),
        "entity": _("This SVG is refused: it declares entities or a document type."),
    }
    for pattern, reason in SVG_DANGERS:
        if pattern.search(data):
            return reasons[reason]
    return None


def image_refusal(kind: str, data: bytes) -> tuple[str | None, str | None]:
    """(content type, None) for an acceptable image, else (None, the reason)."""
    if len(data) > LIMITS[kind]:
        return None, _(
            "The file has %(size)s KB; a %(kind)s may have at most %(max)s KB.",
            size=format_decimal(math.ceil(len(data) / 1024)),
            kind=kind_label(kind),
            max=LIMITS[kind] // 1024,
        )
    content_type = sniff(data)
    if content_type is None:
        return None, _("This file is not a PNG, JPEG, WebP, GIF or SVG image.")
    refusal = svg_refusal(data) if content_type == "image/svg+xml" else None
    return (None, refusal) if refusal else (content_type, None)


def save_brand_image(actor, kind: str, upload) -> str:
    """Store the uploaded logo or favicon in place of the one before, and audit it (without
    its bytes); returns its file name. Raises ValidationError naming what is wrong."""
    require_admin(actor)
    # The request is at most MAX_CONTENT_LENGTH (1 MB): read whole, to say its size.
    data = upload.stream.read() if upload and upload.filename else b""
    if not data:
        raise ValidationError({kind: _("Choose an image file.")})
    content_type, refusal = image_refusal(kind, data)
    if content_type is None:
        raise ValidationError({kind: refusal})
    digest = hashlib.sha256(data).hexdigest()
    image = db.session.get(BrandImage, kind) or BrandImage(kind=kind)
    image.content_type, image.digest, image.data = content_type, digest, data
    db.session.add(image)
    name = f"{kind}-{digest[:DIGEST_SHOWN]}.{EXTENSIONS[content_type]}"
    before = site_settings()[kind]
    save_settings({kind: name})
    record_audit(actor, f"site.{kind}", None, {kind: before},
                 {kind: name, "type": content_type, "bytes": len(data)})  # fmt: skip
    return name


def remove_brand_image(actor, kind: str) -> bool:
    """Put the default back; False when there was nothing to remove."""
    require_admin(actor)
    image = db.session.get(BrandImage, kind)
    if image is None:
        return False
    before = site_settings()[kind]
    db.session.delete(image)
    save_settings({kind: ""})
    record_audit(actor, f"site.{kind}", None, {kind: before}, {kind: ""})
    return True


def brand_image(kind: str, shown_digest: str, extension: str) -> BrandImage | None:
    """The stored image this URL names, or None (an older one, or none at all)."""
    image = db.session.get(BrandImage, kind) if kind in LIMITS else None
    if (
        image is None
        or len(shown_digest) != DIGEST_SHOWN
        or image.digest[:DIGEST_SHOWN] != shown_digest
        or EXTENSIONS[image.content_type] != extension
    ):
        return None
    return image
