"""LMS activities and the rules (tags) that say what completing them validates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Float, ForeignKey, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from acquis.core.models.base import Base, UTCDateTime, utcnow


class Activity(Base):
    """An LMS item, identified by the id the LMS gives it in statements (a Moodle module URL)."""

    __tablename__ = "activity"
    __table_args__ = (UniqueConstraint("establishment_id", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(512), default="")
    kind: Mapped[str | None] = mapped_column(String(255))
    course_ref: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


rule_activity = Table(
    "rule_activity",
    Base.metadata,
    Column("rule_id", ForeignKey("validation_rule.id", ondelete="CASCADE"), primary_key=True),
    Column("activity_id", ForeignKey("activity.id", ondelete="CASCADE"), primary_key=True),
)

TRIGGERS = ("completion", "success", "min_grade")


class ValidationRule(Base):
    """A tag: completing ``required_count`` of ``activities`` (as ``trigger`` demands) validates a level.

    A plain tag is a rule with one activity and ``required_count = 1``; "any 2 of these 4
    activities" is the same rule with four activities and ``required_count = 2``.
    """

    __tablename__ = "validation_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishment.id", ondelete="CASCADE"), index=True
    )
    level_id: Mapped[int] = mapped_column(ForeignKey("level.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(16), default="completion")
    min_grade: Mapped[float | None] = mapped_column(Float)  # scaled 0..1, for trigger "min_grade"
    required_count: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    activities: Mapped[list[Activity]] = relationship(secondary=rule_activity)
