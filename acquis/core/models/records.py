"""Facts and decisions about learners: completions (immutable) and validations (with a status)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from acquis.core.models.base import Base, UTCDateTime, utcnow

COMPLETION_STATES = ("completed", "passed", "failed", "incomplete")


def dedupe_key(content_hash: str) -> int:
    """The first 64 bits of a content hash (hex), as a signed integer: what completions are keyed by.

    Two's complement, as PostgreSQL's ``('x' || left(hash, 16))::bit(64)::bigint`` reads it,
    so a migration can compute it in SQL.
    """
    return int.from_bytes(bytes.fromhex(content_hash[:16]), "big", signed=True)


def _default_dedupe_key(context: Any) -> int:
    return dedupe_key(context.get_current_parameters()["content_hash"])


class Completion(Base):
    """One statement about one learner and one activity, stored once.

    Deduplicated twice: by the sender's statement id when it gives one, and by a hash of the
    statement's content, because Moodle's logstore_xapi sends no statement id and may resend.

    By content, within the learner's statements about the activity: a statement's content names
    its learner and its activity, so the same content can only come again for the same pair, and
    within one pair 64 bits of the hash (``dedupe_key``) tell statements apart as surely as all
    256 (a clash needs billions of statements about one learner and one activity). That one
    narrow index serves both the dedupe and the rules' reads of a learner's completions of an
    activity; a unique index over the whole hash, inserted into at random places, made ingest
    pay for two. The sender's id is indexed only where there is one (logstore_xapi sends none).
    """

    __tablename__ = "completion"
    __table_args__ = (
        UniqueConstraint("learner_id", "activity_id", "dedupe_key"),
        Index(
            "uq_completion_establishment_id_source_id",
            "establishment_id",
            "source_id",
            unique=True,
            sqlite_where=text("source_id IS NOT NULL"),
            postgresql_where=text("source_id IS NOT NULL"),
        ),
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
    dedupe_key: Mapped[int] = mapped_column(BigInteger, default=_default_dedupe_key)


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
