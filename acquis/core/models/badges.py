"""Badge classes (what is issued for a level) and awards (one issuance to one learner)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from acquis.core.models.base import Base, UTCDateTime, new_uuid, utcnow

AWARD_STATUSES = ("pending", "issued", "failed", "revoked")


class BadgeClass(Base):
    __tablename__ = "badge_class"
    __table_args__ = (UniqueConstraint("establishment_id", "level_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    competency_id: Mapped[int] = mapped_column(ForeignKey("competency.id", ondelete="CASCADE"))
    level_id: Mapped[int] = mapped_column(ForeignKey("level.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    criteria: Mapped[str] = mapped_column(Text, default="")
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    # Re-issue policy: may an admin issue this badge again to a learner who still holds a live
    # copy (a duplicate, e.g. to a new address)? A badge earned again after its revocation is
    # always re-awarded: the revoked copy no longer counts, so that is no duplicate.
    allow_reissue: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    valid_days: Mapped[int | None] = mapped_column(Integer)  # expiry, counted from issuance
    obf_badge_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Award(Base):
    """One issuance of a badge class to one learner, resting on one validation."""

    __tablename__ = "award"
    # A validation that is revoked and later earned again gets a new award (issue_no + 1);
    # the constraint makes a second award for the same issuance impossible.
    __table_args__ = (UniqueConstraint("validation_id", "issue_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishment.id", ondelete="CASCADE"), index=True
    )
    badge_class_id: Mapped[int] = mapped_column(ForeignKey("badge_class.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), index=True)
    validation_id: Mapped[int] = mapped_column(ForeignKey("validation.id", ondelete="CASCADE"))
    issue_no: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    emitter: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(255))
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
