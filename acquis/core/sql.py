"""Small SQL helpers that differ by backend (SQLite embedded, PostgreSQL scaled)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

LOCK_NAMESPACE = 0x61637175  # "acqu": the first key of acquis' advisory locks


def table(model: type[Any]) -> Table:
    """A model's Core table, typed as such: bulk statements skip the ORM's per-row work."""
    return cast(Table, model.__table__)


def insert_ignore(session: Session, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING for the session's backend."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"acquis supports SQLite and PostgreSQL, not {name}")


def insert_ignore_returning(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], *returning: Any
) -> list[Any]:
    """Insert ``rows``, skipping those that conflict; the returned rows are the inserted ones."""
    if not rows:
        return []
    stmt = insert_ignore(session, table).returning(*returning)
    return list(session.execute(stmt, list(rows)).all())


def lock_learners(session: Session, learner_ids: Iterable[int]) -> None:
    """Serialise decisions about the same learners across concurrent transactions.

    On PostgreSQL, transaction-scoped advisory locks taken in a fixed order (no deadlock);
    SQLite transactions are already serialised by BEGIN IMMEDIATE.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for learner_id in sorted(set(learner_ids)):
        session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :id)"), {"ns": LOCK_NAMESPACE, "id": learner_id}
        )
