"""Points programmes ("programmes à points"): actions worth points, earned per period, graded /20.

Grades are kept as whole hundredths (``*_centi``: 1250 is 12.50/20) so that no backend has to
round a decimal: SQLite has no exact decimal type, and a grade is an official figure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from acquis.core.models.base import Base, UTCDateTime, utcnow

EARNED_STATUSES = (
    "counted",  # the latest completion is completed/passed and falls in a period
    "not_completed",  # the latest completion is failed/incomplete: no points (withdrawn if they were)
    "outside_periods",  # completed, but on a date no period of the programme covers
)
DECISION_KINDS = ("route", "exemption", "resit")


class Programme(Base):
    """One establishment's programme; labels (categories, axes, routes) are free per programme."""

    __tablename__ = "programme"
    __table_args__ = (UniqueConstraint("establishment_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    categories: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{code, label}]
    axes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{code, label}]
    routes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{code, label}]
    # {"mapping": {"kind": "linear"|"thresholds", "steps": [{"points", "grade"}]},
    #  "incomplete": {"policy": "cap"|"flag", "cap": "9.99"}}
    grading: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    periods: Mapped[list[ProgrammePeriod]] = relationship(
        back_populates="programme", cascade="all, delete-orphan", order_by="ProgrammePeriod.starts_at"
    )
    actions: Mapped[list[ProgrammeAction]] = relationship(
        back_populates="programme", cascade="all, delete-orphan", order_by="ProgrammeAction.position"
    )


class ProgrammePeriod(Base):
    """A semester (or any period): a completion earns points in the period its date falls in."""

    __tablename__ = "programme_period"
    __table_args__ = (UniqueConstraint("programme_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(255))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())  # inclusive
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())  # exclusive

    programme: Mapped[Programme] = relationship(back_populates="periods")


class ProgrammeAction(Base):
    """What a learner can do for points, and how many points it may be worth."""

    __tablename__ = "programme_action"
    __table_args__ = (UniqueConstraint("programme_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(512))
    category: Mapped[str] = mapped_column(String(64))
    axis: Mapped[str] = mapped_column(String(64))
    min_points: Mapped[int] = mapped_column(Integer)
    max_points: Mapped[int] = mapped_column(Integer)
    mandatory: Mapped[bool] = mapped_column(Boolean, default=False)
    # Period codes where a mandatory action is required; empty means every period.
    mandatory_periods: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)

    programme: Mapped[Programme] = relationship(back_populates="actions")


class ActionTag(Base):
    """An LMS activity counted as one action of a programme, for a value within the action's range."""

    __tablename__ = "action_tag"
    # One action per activity and programme: completing it cannot count twice in one programme.
    __table_args__ = (UniqueConstraint("programme_id", "activity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishment.id", ondelete="CASCADE"), index=True
    )
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"))
    action_id: Mapped[int] = mapped_column(ForeignKey("programme_action.id", ondelete="CASCADE"))
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id", ondelete="CASCADE"), index=True)
    points: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class EarnedPoints(Base):
    """What a learner's latest completion of a tagged activity is worth, recomputed from the facts.

    The row stays when the points are withdrawn (``status`` says why), so a withdrawal is seen.
    """

    __tablename__ = "earned_points"
    __table_args__ = (
        UniqueConstraint("learner_id", "tag_id"),
        Index("ix_earned_points_learner_period", "learner_id", "period_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    tag_id: Mapped[int] = mapped_column(ForeignKey("action_tag.id", ondelete="CASCADE"))
    action_id: Mapped[int] = mapped_column(ForeignKey("programme_action.id", ondelete="CASCADE"))
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id", ondelete="CASCADE"))
    period_id: Mapped[int | None] = mapped_column(ForeignKey("programme_period.id", ondelete="SET NULL"))
    completion_id: Mapped[int] = mapped_column(ForeignKey("completion.id", ondelete="CASCADE"))
    points: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(24))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PointsGrant(Base):
    """Points a teacher gives by hand for an action (a talk given outside the LMS, say)."""

    __tablename__ = "points_grant"
    __table_args__ = (Index("ix_points_grant_learner_period", "learner_id", "period_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"))
    period_id: Mapped[int] = mapped_column(ForeignKey("programme_period.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    action_id: Mapped[int] = mapped_column(ForeignKey("programme_action.id", ondelete="CASCADE"))
    points: Mapped[int] = mapped_column(Integer)
    granted_by: Mapped[str] = mapped_column(String(255))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(Text)
    revoked_by: Mapped[str | None] = mapped_column(String(255))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(Text)


class SemesterDecision(Base):
    """A person's decision on a learner's period: an alternative route, an exemption or a resit.

    One row per kind; a new decision of the same kind replaces the current one and the previous
    ones are kept in ``history``. A withdrawn decision keeps its row with ``withdrawn_at`` set.
    """

    __tablename__ = "semester_decision"
    __table_args__ = (UniqueConstraint("period_id", "learner_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"))
    period_id: Mapped[int] = mapped_column(ForeignKey("programme_period.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # route, exemption, resit
    route: Mapped[str | None] = mapped_column(String(128))  # route code, for kind "route"
    grade_centi: Mapped[int | None] = mapped_column(Integer)  # 0..2000, for kind "route"
    passed: Mapped[bool | None] = mapped_column(Boolean)  # for kind "resit"
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(255))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_by: Mapped[str | None] = mapped_column(String(255))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
