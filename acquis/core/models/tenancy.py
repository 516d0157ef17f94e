"""Establishments (tenants) and what each owns to reach the outside: credentials, adapters, platforms."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from acquis.core.crypto import EncryptedJSON
from acquis.core.models.base import Base, UTCDateTime, utcnow


class Establishment(Base):
    __tablename__ = "establishment"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(8), default="fr")
    # Public contact shown in issuer profiles (Open Badges requires an email or URL for an issuer).
    contact_email: Mapped[str | None] = mapped_column(String(255))
    website: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Statements per minute its endpoint accepts; None follows ACQUIS_INGEST_RATE_LIMIT, 0 is no limit.
    ingest_rate_limit: Mapped[int | None] = mapped_column(Integer)

    adapters: Mapped[list[AdapterConfig]] = relationship(back_populates="establishment")
    platforms: Mapped[list[LtiPlatform]] = relationship(back_populates="establishment")


class IngestCredential(Base):
    """HTTP Basic credentials for an establishment's statements endpoint.

    The secret is 32 random bytes shown once; only its SHA-256 is kept. A fast hash is enough
    because the secret has full entropy (nothing to brute-force), and ingest must stay fast.
    """

    __tablename__ = "ingest_credential"

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IngestWindow(Base):
    """Statements accepted in the current minute, one row per establishment (the rate limit).

    Kept in the database so that every web process counts against the same figure.
    """

    __tablename__ = "ingest_window"

    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishment.id", ondelete="CASCADE"), primary_key=True
    )
    minute: Mapped[int] = mapped_column(Integer)  # minutes since the epoch
    used: Mapped[int] = mapped_column(Integer)


class AdapterConfig(Base):
    """One adapter's switch and settings for one establishment; secrets kept encrypted apart."""

    __tablename__ = "adapter_config"
    __table_args__ = (UniqueConstraint("establishment_id", "adapter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    adapter: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    establishment: Mapped[Establishment] = relationship(back_populates="adapters")


class LtiPlatform(Base):
    """An LMS (a Moodle site) registered as an LTI 1.3 platform for one establishment."""

    __tablename__ = "lti_platform"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    issuer: Mapped[str] = mapped_column(String(512))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(1024))
    auth_token_url: Mapped[str] = mapped_column(String(1024))
    jwks_url: Mapped[str] = mapped_column(String(1024))
    registered_by: Mapped[str] = mapped_column(String(16), default="manual")  # or "dynamic"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    establishment: Mapped[Establishment] = relationship(back_populates="platforms")
    deployments: Mapped[list[LtiDeployment]] = relationship(
        back_populates="platform", cascade="all, delete-orphan", order_by="LtiDeployment.id"
    )


class LtiDeployment(Base):
    __tablename__ = "lti_deployment"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platform.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))

    platform: Mapped[LtiPlatform] = relationship(back_populates="deployments")
