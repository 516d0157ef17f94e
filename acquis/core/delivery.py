"""Delivering outbox messages: claim, call the hook outside any transaction, record the outcome.

A message is claimed with a lease (``locked_until``). If the worker dies, the lease runs out
and another worker takes the message again: delivery is at least once, and adapters make it
exactly once towards the outside with ``ctx.delivery_id`` or, for emitters, with
``reconcile_emission`` before any retry whose earlier outcome is unknown.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from acquis.core import adapters, outbox, snapshots
from acquis.core.db import Database
from acquis.core.errors import (
    NotFound,
    OutcomeUnknownError,
    PermanentDeliveryError,
)
from acquis.core.events import AwardEvent, EmissionReceipt
from acquis.core.models import Award, Establishment, OutboxMessage, utcnow
from acquis.core.plugins import PluginHost

log = logging.getLogger("acquis.delivery")

LEASE = timedelta(minutes=2)  # default; well above any adapter HTTP timeout (30 s)
MAX_ATTEMPTS = 15
BASE_DELAY_S = 2.0
MAX_DELAY_S = 3600.0


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter (AWS architecture blog's recommendation)."""
    cap = min(MAX_DELAY_S, BASE_DELAY_S * (2 ** max(0, attempts - 1)))
    return (rng or random).uniform(cap / 2, cap)


@dataclass(frozen=True)
class Outcome:
    status: str  # done, retry, failed
    error: str | None = None
    outcome_unknown: bool = False


class Deliverer:
    def __init__(
        self, db: Database, host: PluginHost, worker_id: str, public_url: str, lease: timedelta = LEASE
    ) -> None:
        self.db = db
        self.host = host
        self.worker_id = worker_id
        self.public_url = public_url
        self.lease = lease

    # ---- claiming --------------------------------------------------------------------------
    def claim(self, limit: int = 50, ids: list[int] | None = None) -> list[int]:
        now = utcnow()
        with self.db.session() as session:
            query = (
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.available_at <= now,
                    or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
                )
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            if ids is not None:
                query = query.where(OutboxMessage.id.in_(ids))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            candidates = list(session.scalars(query))
            if not candidates:
                return []
            # A message still marked as locked had a worker die while holding it: that worker's
            # call may have reached the remote side, so the next attempt must reconcile first.
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(candidates), OutboxMessage.locked_by.is_not(None))
                .values(outcome_unknown=True)
            )
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(candidates))
                .values(locked_by=self.worker_id, locked_until=now + self.lease)
            )
            return candidates

    def run_once(self, limit: int = 50) -> int:
        claimed = self.claim(limit)
        for message_id in claimed:
            self.deliver(message_id)
        return len(claimed)

    # ---- one message -----------------------------------------------------------------------
    def deliver(self, message_id: int) -> Outcome:
        try:
            with self.db.session() as session:
                msg = session.get(OutboxMessage, message_id)
                if msg is None or msg.status != "pending" or msg.locked_by != self.worker_id:
                    return Outcome("done")
                topic, plugin, payload = msg.topic, msg.plugin, dict(msg.payload)
                est = session.get(Establishment, msg.establishment_id)
                assert est is not None
                unknown = msg.outcome_unknown
                prepared = self._prepare(session, est, topic, plugin, payload, message_id)
        except NotFound as exc:
            log.warning("outbox %s: %s; dropped", message_id, exc)
            prepared = None
        except Exception as exc:
            log.exception("outbox %s could not be prepared", message_id)
            return self._finish(message_id, Outcome("retry", f"{type(exc).__name__}: {exc}"))
        if prepared is None:
            return self._finish(message_id, Outcome("done"))
        try:
            result = self._call(topic, plugin, prepared, unknown)
            outcome = Outcome("done")
        except PermanentDeliveryError as exc:
            result, outcome = None, Outcome("failed", str(exc))
        except OutcomeUnknownError as exc:
            result, outcome = None, Outcome("retry", str(exc), outcome_unknown=True)
        except Exception as exc:  # transient by contract, including adapter bugs
            log.warning("outbox %s (%s→%s) failed: %s", message_id, topic, plugin, type(exc).__name__)
            result, outcome = None, Outcome("retry", f"{type(exc).__name__}: {exc}")
        return self._finish(message_id, outcome, result)

    def _prepare(
        self,
        session: Session,
        est: Establishment,
        topic: str,
        plugin: str | None,
        payload: dict[str, Any],
        message_id: int,
    ) -> dict[str, Any] | None:
        delivery_id = f"acquis-{message_id}"
        if topic == outbox.EMIT_BADGE:
            award = session.get(Award, payload["award_id"])
            if award is None or award.status != "pending":
                return None  # revoked before delivery, or already issued by an earlier attempt
            enabled = adapters.enabled_names(session, est.id)
            emitters = sorted(
                self.host.implementers("emit_badge") & enabled,
                key=lambda n: (self.host.spec(n).priority, n),
            )
            return {
                "award": snapshots.award_event(session, award.id),
                "contexts": [
                    (n, adapters.context(session, est, n, self.public_url, delivery_id)) for n in emitters
                ],
            }
        assert plugin is not None
        kwargs: dict[str, Any] = {"ctx": adapters.context(session, est, plugin, self.public_url, delivery_id)}
        if "completion_id" in payload:
            kwargs["completion"] = snapshots.completion_event(session, payload["completion_id"])
        if "validation_id" in payload:
            kwargs["validation"] = snapshots.validation_event(session, payload["validation_id"])
        if "award_id" in payload:
            award = session.get(Award, payload["award_id"])
            if award is None:
                return None
            kwargs["award"] = snapshots.award_event(session, award.id)
            receipt = snapshots.receipt_of(award)
            if topic == "badge_emitted":
                if receipt is None:
                    return None
                kwargs["receipt"] = receipt
            elif topic == "badge_revoked":
                kwargs["receipt"] = receipt
        return kwargs

    def _call(self, topic: str, plugin: str | None, prepared: dict[str, Any], unknown: bool) -> Any:
        if topic != outbox.EMIT_BADGE:
            assert plugin is not None
            self.host.caller(topic, [plugin])(**prepared)
            return None
        award: AwardEvent = prepared["award"]
        contexts = prepared["contexts"]
        if not contexts:
            raise PermanentDeliveryError(
                "no badge emitter is enabled for this establishment: "
                "enable one (acquis adapter enable <establishment> openbadges) and retry"
            )
        if unknown:
            for name, ctx in contexts:
                receipt = self.host.caller("reconcile_emission", [name])(ctx=ctx, award=award)
                if receipt is not None:
                    return receipt
        for name, ctx in contexts:
            receipt = self.host.caller("emit_badge", [name])(ctx=ctx, award=award)
            if receipt is not None:
                return receipt
        raise PermanentDeliveryError("no enabled emitter accepted this badge")

    def _finish(self, message_id: int, outcome: Outcome, result: Any = None) -> Outcome:
        now = utcnow()
        with self.db.session() as session:
            msg = session.get(OutboxMessage, message_id)
            assert msg is not None
            msg.locked_by, msg.locked_until = None, None
            msg.attempts += 1
            if outcome.status == "done":
                msg.status, msg.done_at, msg.last_error = "done", now, None
                if msg.topic == outbox.EMIT_BADGE and isinstance(result, EmissionReceipt):
                    self._record_issued(session, msg, result)
            elif outcome.status == "retry" and msg.attempts < MAX_ATTEMPTS:
                msg.last_error = outcome.error
                msg.outcome_unknown = msg.outcome_unknown or outcome.outcome_unknown
                msg.available_at = now + timedelta(seconds=backoff(msg.attempts))
            else:
                msg.status, msg.last_error = "failed", outcome.error or "too many attempts"
                if msg.topic == outbox.EMIT_BADGE:
                    award = session.get(Award, msg.payload["award_id"])
                    if award is not None and award.status == "pending":
                        award.status, award.last_error = "failed", msg.last_error
        return outcome

    def _record_issued(self, session: Session, msg: OutboxMessage, receipt: EmissionReceipt) -> None:
        award = session.get(Award, msg.payload["award_id"])
        if award is None:
            return
        award.emitter = receipt.emitter
        award.external_id = receipt.external_id
        award.receipt = {"url": receipt.url, "data": dict(receipt.data)}
        award.last_error = None
        if award.status == "revoked":
            # Revoked while the emitter was issuing: the remote copy must be revoked too.
            topic = "badge_revoked"
        else:
            award.status, award.issued_at = "issued", utcnow()
            topic = "badge_emitted"
        outbox.broadcast(
            session,
            self.host,
            award.establishment_id,
            adapters.enabled_names(session, award.establishment_id),
            topic,
            {"award_id": award.id},
            str(award.id),
        )


def retry(session: Session, establishment_id: int, message_id: int) -> None:
    """An admin's retry of a parked message (and of the award it carries)."""
    msg = session.get(OutboxMessage, message_id)
    if msg is None or msg.establishment_id != establishment_id:
        raise NotFound(f"no outbox message {message_id} in this establishment")
    msg.status, msg.attempts, msg.available_at = "pending", 0, utcnow()
    msg.locked_by = msg.locked_until = None
    if msg.topic == outbox.EMIT_BADGE:
        award = session.get(Award, msg.payload["award_id"])
        if award is not None and award.status == "failed":
            award.status, award.last_error = "pending", None
