"""A token that database triggers change whenever the rules an establishment ingests by change."""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from acquis.core.models.base import Base

# The tables a rules catalogue is built from (acquis.core.catalogue): a write to any of them,
# through any path (the ORM, bulk SQL, a cascade, another process), changes the stamp.
CATALOGUE_TABLES = (
    "framework",
    "competency",
    "level",
    "validation_rule",
    "rule_activity",
    "badge_class",
    "partner",
)


class CatalogueStamp(Base):
    """One row whose ``token`` is redrawn at random by triggers on ``CATALOGUE_TABLES``.

    Ingest keeps an establishment's catalogue across batches for as long as the token it was
    loaded under stays. At random rather than counted: a transaction that changed the rules and
    rolled back must not leave a number a later change would draw again. Read in the reader's
    transaction, so a change is seen exactly when its rules are.
    """

    __tablename__ = "catalogue_stamp"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)
