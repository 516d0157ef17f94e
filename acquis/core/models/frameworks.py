"""Competency frameworks (référentiels): framework → blocks → competencies (→ facets) → levels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from acquis.core.models.base import Base, UTCDateTime, utcnow

# The progressive scale of competency badges; each level needs the one before.
DEFAULT_SCALE: list[dict[str, Any]] = [
    {"rank": 1, "code": "novice", "label": "Novice"},
    {"rank": 2, "code": "intermediaire", "label": "Intermédiaire"},
    {"rank": 3, "code": "competent", "label": "Compétent"},
    {"rank": 4, "code": "avance", "label": "Avancé"},
    {"rank": 5, "code": "expert", "label": "Expert"},
]


class Framework(Base):
    __tablename__ = "framework"
    __table_args__ = (UniqueConstraint("establishment_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    establishment_id: Mapped[int] = mapped_column(ForeignKey("establishment.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    # The scale: ordered [{rank, code, label}]. A numeric scale (0–3) sets pass_rank.
    scale: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=lambda: list(DEFAULT_SCALE))
    pass_rank: Mapped[int | None] = mapped_column(Integer)
    uri: Mapped[str | None] = mapped_column(String(512))  # CASE CFDocument identifier / URI
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    blocks: Mapped[list[Block]] = relationship(
        back_populates="framework", cascade="all, delete-orphan", order_by="Block.position"
    )
    competencies: Mapped[list[Competency]] = relationship(
        back_populates="framework", cascade="all, delete-orphan", order_by="Competency.position"
    )


class Block(Base):
    __tablename__ = "block"
    __table_args__ = (UniqueConstraint("framework_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("framework.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(512))
    position: Mapped[int] = mapped_column(Integer, default=0)
    uri: Mapped[str | None] = mapped_column(String(512))

    framework: Mapped[Framework] = relationship(back_populates="blocks")


class Competency(Base):
    """A competency, or a facet of one when ``parent_id`` is set (its levels roll up to the parent)."""

    __tablename__ = "competency"
    __table_args__ = (UniqueConstraint("framework_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(ForeignKey("framework.id", ondelete="CASCADE"))
    block_id: Mapped[int | None] = mapped_column(ForeignKey("block.id", ondelete="SET NULL"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("competency.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(512))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    uri: Mapped[str | None] = mapped_column(String(512))

    framework: Mapped[Framework] = relationship(back_populates="competencies")
    levels: Mapped[list[Level]] = relationship(
        back_populates="competency", cascade="all, delete-orphan", order_by="Level.rank"
    )


class Level(Base):
    """A step of a competency's scale; levels of one competency are reached in ``rank`` order."""

    __tablename__ = "level"
    __table_args__ = (UniqueConstraint("competency_id", "rank"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competency_id: Mapped[int] = mapped_column(ForeignKey("competency.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")

    competency: Mapped[Competency] = relationship(back_populates="levels")
