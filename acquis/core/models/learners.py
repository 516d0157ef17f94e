"""Learners and the identifiers each system knows them by (Moodle user id, LTI sub, INE, email)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from acquis.core.models.base import Base, UTCDateTime, utcnow


class Learner(Base):
    __tablename__ = "learner"

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(
        ForeignKey("establishment.id", ondelete="CASCADE"), index=True
    )
    display_name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set when the learner's personal data was erased on request; the row stays, nameless, so
    # that revoked awards keep answering 410 at their public URL.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    identifiers: Mapped[list[LearnerIdentifier]] = relationship(back_populates="learner")


class LearnerIdentifier(Base):
    """``system`` names the namespace: ``xapi:<homePage>``, ``lti:<issuer>``, ``pegase:ine``…"""

    __tablename__ = "learner_identifier"
    __table_args__ = (
        UniqueConstraint("establishment_id", "system", "value"),
        # The unique key again, with the learner: every ingested batch looks its senders'
        # identifiers up (acquis.core.ingest), and from this index alone, without a visit to the
        # table per identifier, that lookup took ~0.5 ms less of its 2.4–3.6 ms a batch of 1,000
        # (docs/architecture.md), on SQLite; PostgreSQL reads it alone from pages VACUUM has
        # marked all-visible. Written only when a learner is first seen.
        Index("ix_learner_identifier_lookup", "establishment_id", "system", "value", "learner_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), index=True)
    system: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))

    learner: Mapped[Learner] = relationship(back_populates="identifiers")


class ErasedIdentifier(Base):
    """A keyed digest of an identifier whose learner was erased: statements re-sent for it are dropped.

    HMAC-SHA256 under a key derived from the instance's secret keys, so the table does not let
    anyone who reads it test guessed identifiers (Moodle user ids are small numbers).
    """

    __tablename__ = "erased_identifier"
    __table_args__ = (UniqueConstraint("establishment_id", "digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
