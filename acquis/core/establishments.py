"""Establishments and their ingest credentials."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core.errors import Conflict, InvalidInput, NotFound
from acquis.core.events import EstablishmentRef
from acquis.core.models import AdapterConfig, Establishment, IngestCredential, utcnow

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
LOCALES = ("fr", "en")
# Enabled on a new establishment so that a badge is issued with no external service at all.
DEFAULT_ADAPTERS = ("openbadges",)


@dataclass(frozen=True)
class NewCredential:
    """Shown once, at creation: the secret is not kept anywhere in clear."""

    key: str
    secret: str


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def validate_slug(slug: str) -> str:
    if not SLUG_RE.match(slug):
        raise InvalidInput(
            "use 1-64 lowercase letters, digits and inner hyphens (e.g. univ-lille)", field="slug"
        )
    return slug


def create(
    session: Session,
    slug: str,
    name: str,
    locale: str = "fr",
    contact_email: str | None = None,
    website: str | None = None,
    default_adapters: tuple[str, ...] = DEFAULT_ADAPTERS,
) -> tuple[Establishment, NewCredential]:
    validate_slug(slug)
    if not name.strip():
        raise InvalidInput("must not be empty", field="name")
    if locale not in LOCALES:
        raise InvalidInput(f"use one of {', '.join(LOCALES)}", field="locale")
    if contact_email is not None and "@" not in contact_email:
        raise InvalidInput("not an email address", field="contact_email")
    if session.scalar(select(Establishment.id).where(Establishment.slug == slug)) is not None:
        raise Conflict(f"establishment {slug!r} already exists")
    est = Establishment(
        slug=slug, name=name.strip(), locale=locale, contact_email=contact_email, website=website
    )
    session.add(est)
    session.flush()
    for adapter in default_adapters:
        session.add(AdapterConfig(establishment_id=est.id, adapter=adapter, enabled=True, settings={}))
    cred = add_credential(session, est, label="default")
    return est, cred


def add_credential(session: Session, est: Establishment, label: str = "") -> NewCredential:
    key = f"{est.slug}-{secrets.token_hex(6)}"
    secret = secrets.token_urlsafe(32)
    session.add(
        IngestCredential(establishment_id=est.id, key=key, secret_sha256=_sha256(secret), label=label)
    )
    session.flush()
    return NewCredential(key=key, secret=secret)


def revoke_credential(session: Session, key: str) -> None:
    cred = session.scalar(select(IngestCredential).where(IngestCredential.key == key))
    if cred is None:
        raise NotFound(f"no credential with key {key!r}")
    cred.revoked_at = utcnow()


def authenticate(session: Session, key: str, secret: str) -> int | None:
    """The establishment id the credential belongs to, or None when it is unknown or wrong."""
    row = session.execute(
        select(IngestCredential.establishment_id, IngestCredential.secret_sha256).where(
            IngestCredential.key == key, IngestCredential.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        # Compare anyway so that an unknown key takes as long as a wrong secret.
        hmac.compare_digest(_sha256(secret), "0" * 64)
        return None
    return row[0] if hmac.compare_digest(_sha256(secret), row[1]) else None


def get(session: Session, slug: str) -> Establishment:
    est = session.scalar(select(Establishment).where(Establishment.slug == slug))
    if est is None:
        raise NotFound(f"no establishment {slug!r} (see `acquis establishment list`)")
    return est


def ref(est: Establishment) -> EstablishmentRef:
    return EstablishmentRef(id=est.id, slug=est.slug, name=est.name, locale=est.locale)
