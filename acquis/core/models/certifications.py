"""Certifications (RNCP style): a rating per competency on a numeric scale, an outcome per candidate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from acquis.core.models.base import Base, UTCDateTime, utcnow

CERTIFICATION_OUTCOMES = ("validated_in_full", "validated_in_part", "refused")


class CompetencyRating(Base):
    """The current rating of one competency for one candidate; earlier ratings stay in ``history``.

    ``source`` says where the rating comes from (a jury today, another system tomorrow): the
    latest rating counts whatever its source, and the source is kept to show its provenance.
    """

    __tablename__ = "competency_rating"
    __table_args__ = (UniqueConstraint("learner_id", "competency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    framework_id: Mapped[int] = mapped_column(ForeignKey("framework.id", ondelete="CASCADE"), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    competency_id: Mapped[int] = mapped_column(ForeignKey("competency.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(64), default="jury")
    rated_by: Mapped[str] = mapped_column(String(255))
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    comment: Mapped[str] = mapped_column(Text, default="")
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class CertificationResult(Base):
    """A candidate's outcome for a framework, as last computed from the ratings.

    Kept so that what was announced can be looked up (and its changes followed in ``history``);
    the ratings remain the facts it is recomputed from.
    """

    __tablename__ = "certification_result"
    __table_args__ = (UniqueConstraint("framework_id", "learner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    framework_id: Mapped[int] = mapped_column(ForeignKey("framework.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(24))
    passed_blocks: Mapped[list[str]] = mapped_column(JSON, default=list)  # block codes
    unrated: Mapped[list[str]] = mapped_column(JSON, default=list)  # competency codes
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
