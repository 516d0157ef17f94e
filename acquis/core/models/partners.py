"""Partner organisations (associations, companies) and what they attest of learners."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from acquis.core.models.base import Base, UTCDateTime, utcnow
from acquis.core.models.frameworks import Competency

partner_competency = Table(
    "partner_competency",
    Base.metadata,
    Column("partner_id", ForeignKey("partner.id", ondelete="CASCADE"), primary_key=True),
    Column("competency_id", ForeignKey("competency.id", ondelete="CASCADE"), primary_key=True),
)

ATTESTATION_STATUSES = ("accepted", "refused", "withdrawn")


class Partner(Base):
    """An organisation outside the school whose word counts, within its declared domain."""

    __tablename__ = "partner"
    __table_args__ = (UniqueConstraint("establishment_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32), default="association")  # association, company…
    contact_email: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # The domain: the competencies this partner may attest (facets of them included).
    domain: Mapped[list[Competency]] = relationship(secondary=partner_competency)


class Attestation(Base):
    """A partner's statement that a learner showed a competency level.

    Refused attestations are kept with their reason: the partner and the school can see what
    was asked and why it did not count.
    """

    __tablename__ = "attestation"

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishment.id", ondelete="CASCADE"), index=True
    )
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), index=True)
    competency_id: Mapped[int] = mapped_column(ForeignKey("competency.id", ondelete="CASCADE"))
    level_id: Mapped[int] = mapped_column(ForeignKey("level.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    attested_by: Mapped[str] = mapped_column(String(255))
    evidence_url: Mapped[str | None] = mapped_column(String(1024))
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)  # why it was refused or withdrawn
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
