"""What the console pages read: an establishment's overview and its failed deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acquis.core import outbox
from acquis.core.models import (
    Award,
    BadgeClass,
    Establishment,
    Learner,
    LtiPlatform,
    OutboxMessage,
    Validation,
)


@dataclass(frozen=True)
class Overview:
    platforms: int
    enabled: list[str]
    failed: int
    pending_jury: int
    issued: int


def overview(session: Session, est: Establishment) -> Overview:
    def count(query: object) -> int:
        return int(session.scalar(query) or 0)  # type: ignore[call-overload]

    return Overview(
        platforms=count(select(func.count(LtiPlatform.id)).where(LtiPlatform.establishment_id == est.id)),
        enabled=sorted(a.adapter for a in est.adapters if a.enabled),
        failed=count(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.establishment_id == est.id, OutboxMessage.status == "failed"
            )
        ),
        pending_jury=count(
            select(func.count(Validation.id)).where(
                Validation.establishment_id == est.id, Validation.status == "pending_approval"
            )
        ),
        issued=count(
            select(func.count(Award.id)).where(Award.establishment_id == est.id, Award.status == "issued")
        ),
    )


@dataclass(frozen=True)
class FailedDelivery:
    message_id: int
    topic: str
    adapter: str | None
    attempts: int
    reason: str
    since: datetime
    badge: str | None  # for a badge emission: the badge and its learner
    learner: str | None


def failed_deliveries(session: Session, establishment_id: int) -> list[FailedDelivery]:
    messages = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.establishment_id == establishment_id, OutboxMessage.status == "failed")
        .order_by(OutboxMessage.id)
    ).all()
    award_ids = [m.payload.get("award_id") for m in messages if m.topic == outbox.EMIT_BADGE]
    awards: dict[Any, tuple[str | None, str | None]] = {
        a_id: (badge, learner)
        for a_id, badge, learner in session.execute(
            select(Award.id, BadgeClass.name, Learner.display_name)
            .join(BadgeClass, BadgeClass.id == Award.badge_class_id)
            .join(Learner, Learner.id == Award.learner_id)
            .where(Award.id.in_([a for a in award_ids if a is not None]))
        )
    }
    rows = []
    for m in messages:
        badge, learner = awards.get(m.payload.get("award_id"), (None, None))
        rows.append(
            FailedDelivery(
                message_id=m.id,
                topic=m.topic,
                adapter=m.plugin,
                attempts=m.attempts,
                reason=m.last_error or "",
                since=m.created_at,
                badge=badge,
                learner=learner,
            )
        )
    return rows
