"""Per-establishment rate limit on ingest: statements per minute, counted in the database.

Why the database and not Redis: every deployment has one (embedded mode has no Redis), all web
processes share it, and the check is one UPSERT on one row per establishment, in its own short
transaction, before the batch's own transaction starts; the row lock lasts a few milliseconds.
Fixed one-minute windows: simple and exact to test; at a window boundary a sender can get up to
twice the limit in a short time, which is acceptable for protecting the database from a flood.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sqlalchemy import case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from acquis.core.errors import InvalidInput
from acquis.core.models import Establishment, IngestWindow
from acquis.core.sql import table

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    retry_after: int = 0  # seconds until the window that would accept the batch


def effective_limit(est: Establishment, default: int) -> int:
    return default if est.ingest_rate_limit is None else est.ingest_rate_limit


def take(session: Session, establishment_id: int, limit: int, n: int, now: float | None = None) -> Verdict:
    """Count ``n`` statements against this minute's allowance, or refuse them all.

    Run it in a transaction of its own (committed at once), before the batch's transaction.
    A refused batch is not counted. ``limit`` 0 means no limit.
    """
    if limit <= 0 or n <= 0:
        return Verdict(True, limit)
    now = time.time() if now is None else now
    minute = int(now // WINDOW_SECONDS)
    retry_after = max(1, math.ceil((minute + 1) * WINDOW_SECONDS - now))
    if n > limit:
        raise InvalidInput(
            f"this batch has {n} statements and the endpoint accepts {limit} a minute: send smaller batches",
            field="statements",
        )
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    tbl = table(IngestWindow)
    stmt = insert(tbl).values(establishment_id=establishment_id, minute=minute, used=n)
    same_minute = tbl.c.minute == stmt.excluded.minute
    upsert = stmt.on_conflict_do_update(
        index_elements=[tbl.c.establishment_id],
        set_={
            "used": case((same_minute, tbl.c.used + stmt.excluded.used), else_=stmt.excluded.used),
            "minute": stmt.excluded.minute,
        },
        where=(tbl.c.minute != stmt.excluded.minute) | (tbl.c.used + stmt.excluded.used <= limit),
    ).returning(tbl.c.used)
    used = session.execute(upsert).scalar_one_or_none()
    return Verdict(used is not None, limit, 0 if used is not None else retry_after)
