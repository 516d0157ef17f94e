"""The LTI tool's own signing keys, and the short-lived state of LTI launches.

Both live in the database rather than in files or process memory: several web processes serve
one launch (login on one, launch on another), and every process must publish the same keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from acquis.core.crypto import EncryptedJSON
from acquis.core.models.base import Base, UTCDateTime, utcnow

# "current" signs; "previous" is still published so that platforms holding a cached key set
# keep verifying what was signed just before a rotation; "retired" is kept for the record only.
LTI_KEY_STATUSES = ("current", "previous", "retired")


class LtiToolKey(Base):
    """An RSA key pair of the tool; the private half is encrypted at rest, the public half is a JWK."""

    __tablename__ = "lti_tool_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="current", index=True)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())  # {"pem": "..."}
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LtiLaunchData(Base):
    """One key of PyLTI1p3's launch data storage (nonces, state, launch bodies), with its expiry."""

    __tablename__ = "lti_launch_data"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
