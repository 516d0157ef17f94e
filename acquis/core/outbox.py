"""Writing to the outbox: in the caller's transaction, idempotent by ``dedupe_key``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from acquis.core import log_context
from acquis.core.models import OutboxMessage, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.sql import bulk_insert_columns, table

EMIT_BADGE = "emit_badge"
BROADCAST_TOPICS = (
    "activity_completed",
    "competency_validated",
    "validation_revoked",
    "badge_emitted",
    "badge_revoked",
)


def enqueue_many(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Queue messages given as rows (establishment_id, topic, payload, dedupe_key, and
    optionally plugin and request_id), in the caller's transaction."""
    listed = list(rows)
    request_id = log_context.request_id()
    _insert(
        session,
        [r["establishment_id"] for r in listed],
        [r["topic"] for r in listed],
        [r.get("plugin") for r in listed],
        [r["payload"] for r in listed],
        [r["dedupe_key"] for r in listed],
        [r.get("request_id", request_id) for r in listed],
    )


def enqueue_columns(
    session: Session,
    establishment_id: int,
    topic: str,
    payloads: Sequence[dict[str, Any]],
    dedupe_keys: Sequence[str],
    plugin: str | None = None,
) -> None:
    """``enqueue_many`` for messages of one establishment and topic, given as columns: the
    engine queues one per award of a batch, and a dictionary per message cost more than the
    rest of queueing it."""
    n = len(payloads)
    _insert(
        session,
        [establishment_id] * n,
        [topic] * n,
        [plugin] * n,
        payloads,
        dedupe_keys,
        [log_context.request_id()] * n,
    )


def _insert(
    session: Session,
    establishment_ids: Sequence[int],
    topics: Sequence[str],
    plugins: Sequence[str | None],
    payloads: Sequence[dict[str, Any]],
    dedupe_keys: Sequence[str],
    request_ids: Sequence[str | None],
) -> None:
    """New messages, due now; one already queued under the same dedupe key stays as it is."""
    n = len(payloads)
    if not n:
        return
    now = utcnow()
    bulk_insert_columns(
        session,
        table(OutboxMessage),
        {
            "establishment_id": establishment_ids,
            "topic": topics,
            "plugin": plugins,
            "payload": payloads,
            "dedupe_key": dedupe_keys,
            "status": ["pending"] * n,
            "attempts": [0] * n,
            "outcome_unknown": [False] * n,
            "available_at": [now] * n,
            "created_at": [now] * n,
            "request_id": request_ids,
        },
        ignore_conflicts=True,
    )


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
