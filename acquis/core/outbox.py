"""Writing to the outbox: in the caller's transaction, idempotent by ``dedupe_key``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from acquis.core import log_context
from acquis.core.models import OutboxMessage, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.sql import bulk_insert, table

EMIT_BADGE = "emit_badge"
BROADCAST_TOPICS = (
    "activity_completed",
    "competency_validated",
    "validation_revoked",
    "badge_emitted",
    "badge_revoked",
)


def enqueue_many(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    now = utcnow()
    request_id = log_context.request_id()
    values = [
        {
            "establishment_id": r["establishment_id"],
            "topic": r["topic"],
            "plugin": r.get("plugin"),
            "payload": r["payload"],
            "dedupe_key": r["dedupe_key"],
            "status": "pending",
            "attempts": 0,
            "outcome_unknown": False,
            "available_at": now,
            "created_at": now,
            "request_id": r.get("request_id", request_id),
        }
        for r in rows
    ]
    bulk_insert(session, table(OutboxMessage), values, ignore_conflicts=True)


def emit(session: Session, establishment_id: int, award_id: int) -> None:
    enqueue_many(
        session,
        [
            {
                "establishment_id": establishment_id,
                "topic": EMIT_BADGE,
                "payload": {"award_id": award_id},
                "dedupe_key": f"{EMIT_BADGE}:{award_id}",
            }
        ],
    )


def broadcast(
    session: Session,
    host: PluginHost,
    establishment_id: int,
    enabled: frozenset[str],
    topic: str,
    payload: dict[str, Any],
    ref: str,
) -> None:
    """One message per enabled adapter implementing ``topic``; ``ref`` names the fact."""
    enqueue_many(session, broadcast_rows(host, establishment_id, enabled, topic, payload, ref))


def broadcast_rows(
    host: PluginHost,
    establishment_id: int,
    enabled: frozenset[str],
    topic: str,
    payload: dict[str, Any],
    ref: str,
) -> list[dict[str, Any]]:
    """The rows ``broadcast`` writes, for a caller that writes those of many facts in one insert."""
    assert topic in BROADCAST_TOPICS, topic
    return [
        {
            "establishment_id": establishment_id,
            "topic": topic,
            "plugin": plugin,
            "payload": payload,
            "dedupe_key": f"{topic}:{plugin}:{ref}",
        }
        for plugin in sorted(host.implementers(topic) & enabled)
    ]
