"""What acquis knows of each course launched over LTI: its services (AGS, NRPS) and Moodle id.

Launch claims are only seen while a launch lasts, but grades and rosters are sent later (a
teacher's button, a sync at a later launch): the claim of the latest launch from the course is
kept here, one row per (platform, LTI context).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from acquis.core.models.base import Base, UTCDateTime, utcnow


class LtiCourse(Base):
    __tablename__ = "lti_course"
    __table_args__ = (UniqueConstraint("platform_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platform.id", ondelete="CASCADE"))
    context_id: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), default="")
    # The course's id in Moodle's web services: the custom parameter course_id, or the context id.
    moodle_course_id: Mapped[int | None] = mapped_column(Integer)
    # AGS endpoint claim as the platform sent it: {"scope": [...], "lineitems": url, "lineitem": url}
    ags: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    nrps_url: Mapped[str | None] = mapped_column(String(1024))
    # The LTI user ids of the course's active students at the last roster sync.
    roster: Mapped[list[str]] = mapped_column(JSON, default=list)
    roster_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    roster_error: Mapped[str | None] = mapped_column(String(1024))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
