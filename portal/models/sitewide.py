"""Site-wide rows: the admins' settings, their own statuses and the moves they turned off,
the identity providers they added, and named counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow


class SiteSetting(db.Model):
    """One of the few things an admin sets for the whole site (portal/settings.py)."""

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class BrandImage(db.Model):
    """The logo or the favicon an admin uploaded (portal/operations/branding.py): its bytes,
    checked to be an image, and their SHA-256, which names the file in its URL."""

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # "logo" or "favicon"
    content_type: Mapped[str] = mapped_column(String(40))
    digest: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdentityProvider(db.Model):
    """An OpenID Connect provider an admin added on /admin/sign-in (those named by the
    environment are not stored). The client secret is sealed (portal/totp_keys.py)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    label: Mapped[str] = mapped_column(String(60))
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    sealed_client_secret: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(255))


class CustomStatus(db.Model):
    """A status an admin added beside the built-in seven; its phase decides voting, budget
    release and the roadmap lane."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(40))
    colour: Mapped[str] = mapped_column(String(7))
    phase: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer, default=0)


class BlockedTransition(db.Model):
    """A move between two statuses that an admin turned off."""

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    target: Mapped[str] = mapped_column(String(40), primary_key=True)


class Counter(db.Model):
    """Named counters, such as the site-wide idea number, taken under a row lock."""

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
