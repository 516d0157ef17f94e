"""Facts and decisions about learners: completions (immutable) and validations (with a status)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from acquis.core.models.base import Base, UTCDateTime, utcnow

COMPLETION_STATES = ("completed", "passed", "failed", "incomplete")


class Completion(Base):
    """One statement about one learner and one activity, stored once.

    Deduplicated twice: by the sender's statement id when it gives one, and by a hash of the
    statement's content, because Moodle's logstore_xapi sends no statement id and may resend.
    """

    __tablename__ = "completion"
    __table_args__ = (
        UniqueConstraint("establishment_id", "content_hash"),
        UniqueConstraint("establishment_id", "source_id"),
        Index("ix_completion_learner_activity", "learner_id", "activity_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    grade: Mapped[float | None] = mapped_column(Float)  # xAPI score.scaled: -1..1
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    source_id: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))


VALIDATION_STATUSES = (
    "pending_approval",  # the badge class needs a jury decision
    "validated",
    "rejected",
    "revoked",
)


class Validation(Base):
    """Learner reached a competency level — or is on the way, as ``status`` says.

    One row per (learner, level): its status moves, and every move and jury decision is kept
    as a ``ValidationEvent`` so nothing is silently deleted. ``version`` counts the moves: it
    names one state of the validation (outbox messages use it as part of their key).
    """

    __tablename__ = "validation"
    __table_args__ = (
        UniqueConstraint("learner_id", "level_id"),
        Index("ix_validation_establishment_status", "establishment_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    competency_id: Mapped[int] = mapped_column(ForeignKey("competency.id", ondelete="CASCADE"))
    level_id: Mapped[int] = mapped_column(ForeignKey("level.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(24))
    method: Mapped[str] = mapped_column(String(16), default="rule")  # rule, jury, partner, facets
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("validation_rule.id", ondelete="SET NULL"))
    # What the status rests on, as references: "completion:12", "attestation:3".
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    # The jury's standing decision ("approved", "rejected"); cleared when the evidence goes.
    decision: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=0)


class ValidationEvent(Base):
    """One move of a validation (``status``) or one jury decision (``decision``): the audit trail.

    Append-only: inserting an event is all the hot path does, so the trail can grow without
    making ingest slower.
    """

    __tablename__ = "validation_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    validation_id: Mapped[int] = mapped_column(ForeignKey("validation.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str | None] = mapped_column(String(24))
    decision: Mapped[str | None] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(255), default="")
    reason: Mapped[str | None] = mapped_column(Text)
