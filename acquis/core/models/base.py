"""Declarative base shared by every model, with names for constraints so migrations stay stable."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    """A UUID version 7 (RFC 9562): 48 bits of Unix time in milliseconds, then 74 random bits.

    Public ids go into unique indexes on every award: ids made in time order are appended
    together at the end of the index, where random (version 4) ones dirtied a page of it each,
    all written again at every commit. The 74 bits from ``secrets`` keep them unguessable: an
    award's public id is in its public URL. The millisecond they give away is the award's
    creation, which its badge states anyway.
    """
    return new_uuids(1)[0]


def new_uuids(count: int) -> list[str]:
    """``count`` of ``new_uuid``, from one draw of randomness: ingest makes one per award of a
    batch, and one system call per id took longer than the rest of making it."""
    millis = time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF
    stamp = millis << 80 | 0x7 << 76 | 0b10 << 62  # then the version and the variant
    pool = secrets.token_bytes(10 * count)
    out: list[str] = []
    for i in range(0, 10 * count, 10):
        rand = int.from_bytes(pool[i : i + 10], "big") >> 6  # 74 bits
        h = f"{stamp | (rand >> 62) << 64 | rand & (1 << 62) - 1:032x}"  # rand_a (12 bits), rand_b (62)
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite would otherwise hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; acquis stores UTC-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
