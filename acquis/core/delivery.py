"""Delivering outbox messages: claim, call the hook outside any transaction, record the outcome.

A message is claimed with a lease (``locked_until``), renewed while the worker calls its hook
(``leases.py``); only a dead worker's lease runs out, and then another worker takes the message
again: delivery is at least once, and adapters make it exactly once towards the outside with
``ctx.delivery_id`` or, for emitters, with ``reconcile_emission`` before any retry whose earlier
outcome is unknown. Every step after the claim is fenced by the worker's id: a worker that lost a
message neither calls its hook nor records an outcome over the new holder's.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from acquis.core import adapters, log_context, metrics, outbox, snapshots
from acquis.core.db import Database
from acquis.core.errors import (
    NotFound,
    OutcomeUnknownError,
    PermanentDeliveryError,
)
from acquis.core.events import AdapterContext, AwardEvent, EmissionReceipt
from acquis.core.leases import Leases
from acquis.core.models import Award, Establishment, OutboxMessage, utcnow
from acquis.core.plugins import PluginHost

log = logging.getLogger("acquis.delivery")

LEASE = timedelta(minutes=2)  # default; renewed every 40 s while a hook runs
MAX_ATTEMPTS = 15
BASE_DELAY_S = 2.0
MAX_DELAY_S = 3600.0
# Outcomes of a pass are recorded together, but never more than this long after the first of
# them: a slow emitter's receipts do not wait for a whole batch of calls.
RECORD_AFTER_S = 1.0


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter (AWS architecture blog's recommendation)."""
    cap = min(MAX_DELAY_S, BASE_DELAY_S * (2 ** max(0, attempts - 1)))
    return (rng or random).uniform(cap / 2, cap)


@dataclass(frozen=True)
class _Job:
    message_id: int
    topic: str
    plugin: str | None
    prepared: dict[str, Any]
    unknown: bool
    request_id: str | None = None  # of the request that caused the message, for the logs
    establishment: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: str  # done, retry, failed; lost: another worker holds the message, nothing was done
    error: str | None = None
    outcome_unknown: bool = False


class Deliverer:
    def __init__(
        self,
        db: Database,
        host: PluginHost,
        worker_id: str,
        public_url: str,
        lease: timedelta = LEASE,
        batch_window: timedelta = timedelta(0),
        batch_size: int = 100,
        clock: Callable[[], datetime] = utcnow,
        heartbeat: timedelta | None = None,
    ) -> None:
        self.db = db
        self.host = host
        self.worker_id = worker_id
        self.public_url = public_url
        self.lease = lease
        self.clock = clock
        self.leases = Leases(db, worker_id, lease, clock, heartbeat)
        # Emissions younger than the window wait, so that awards of one badge due close together
        # go out in one call; other messages are delivered at once.
        self.batch_window = batch_window
        self.batch_size = batch_size

    @classmethod
    def configured(cls, db: Database, host: PluginHost, worker_id: str, public_url: str) -> Deliverer:
        """A deliverer with the lease and batching of the deployment's settings."""
        settings = db.settings
        return cls(
            db,
            host,
            worker_id,
            public_url,
            lease=timedelta(seconds=settings.lease_seconds),
            batch_window=timedelta(seconds=settings.emit_batch_window_seconds),
            batch_size=settings.emit_batch_size,
        )

    # ---- claiming --------------------------------------------------------------------------
    def claim(self, limit: int = 50, ids: list[int] | None = None) -> list[int]:
        now = self.clock()
        with self.db.session() as session:
            query = (
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.available_at <= now,
                    or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
                    or_(
                        OutboxMessage.topic != outbox.EMIT_BADGE,
                        OutboxMessage.created_at <= now - self.batch_window,
                    ),
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
        self.leases.claimed(candidates, now + self.lease)
        return candidates

    def run_once(self, limit: int = 50) -> int:
        """Claims up to ``limit`` messages and delivers them, recording their outcomes together.

        Per message, the round trips that cost most were the reads of its snapshots and the
        transaction recording its outcome: both are done for the whole pass here (a few
        statements each). A message whose hook has run stays this worker's until its outcome is
        recorded: one heartbeat for the pass renews those and the ones whose hook is running
        (a thread per call cost more than the rest of a native issuance).
        """
        claimed = self.claim(limit)
        if not claimed:
            return 0
        outcomes = _Outcomes(self)
        jobs = self._load_many(claimed, outcomes)
        singles: list[_Job] = []
        batches = self._batches(jobs, singles)
        with self.leases.kept(outcomes.waiting, outcomes.lock):
            for group in batches:
                self._deliver_batch(group, outcomes)
            for job in singles:
                self._deliver_job(job, outcomes)
            outcomes.flush()
        return len(claimed)

    def _load_many(self, ids: Sequence[int], outcomes: _Outcomes) -> list[_Job]:
        """The claimed messages with what their hooks need, emissions read in a few statements.

        Anything but a plain emission (another topic, a row gone) goes through ``_load``, which
        says what is wrong with it; so does the whole pass if reading it in bulk fails.
        """
        jobs: list[_Job] = []
        finished: list[int] = []
        singly: set[int] = set(ids)
        try:
            with self.db.session() as session:
                msgs = [
                    m
                    for m in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))
                    if m.topic == outbox.EMIT_BADGE
                    and m.status == "pending"
                    and m.locked_by == self.worker_id
                ]
                award_ids = [m.payload["award_id"] for m in msgs]
                # Held here, so that the session (which references its rows weakly) keeps them.
                awards = {a.id: a for a in session.scalars(select(Award).where(Award.id.in_(award_ids)))}
                events = snapshots.award_events(session, award_ids)
                ests = {
                    e.id: e
                    for e in session.scalars(
                        select(Establishment).where(Establishment.id.in_({m.establishment_id for m in msgs}))
                    )
                }
                contexts = {
                    est.id: [
                        (n, adapters.context(session, est, n, self.public_url))
                        for n in self._emitters(session, est.id)
                    ]
                    for est in ests.values()
                }
                for m in msgs:
                    award = awards.get(m.payload["award_id"])
                    if award is not None and award.status != "pending":
                        finished.append(m.id)  # revoked before delivery, or issued by an earlier attempt
                    elif award is not None and award.id in events:
                        delivery_id = f"acquis-{m.id}"
                        prepared = {
                            "award": events[award.id],
                            "contexts": [
                                (n, _for_delivery(ctx, delivery_id))
                                for n, ctx in contexts[m.establishment_id]
                            ],
                        }
                        slug = ests[m.establishment_id].slug
                        jobs.append(
                            _Job(m.id, m.topic, m.plugin, prepared, m.outcome_unknown, m.request_id, slug)
                        )
                    else:
                        continue
                    singly.discard(m.id)
        except Exception:
            log.exception("outbox %s: reading the pass at once failed; one message at a time", list(ids))
            jobs, finished, singly = [], [], set(ids)
        for message_id in finished:
            outcomes.add(message_id, Outcome("done"), None)
        jobs += [job for job in (self._load(mid) for mid in sorted(singly)) if job is not None]
        return sorted(jobs, key=lambda job: job.message_id)

    def _emitters(self, session: Session, establishment_id: int) -> list[str]:
        """The establishment's enabled emitters, in the order they are asked."""
        enabled = adapters.enabled_names(session, establishment_id)
        return sorted(
            self.host.implementers("emit_badge") & enabled,
            key=lambda n: (self.host.spec(n).priority, n),
        )

    # ---- one message -----------------------------------------------------------------------
    def deliver(self, message_id: int) -> Outcome:
        job = self._load(message_id)
        return self._deliver_job(job) if job is not None else Outcome("done")

    def _load(self, message_id: int) -> _Job | None:
        """The message with what its hook needs, or None once it is finished (nothing to call)."""
        try:
            with self.db.session() as session:
                msg = session.get(OutboxMessage, message_id)
                if msg is None or msg.status != "pending" or msg.locked_by != self.worker_id:
                    return None
                topic, plugin, payload = msg.topic, msg.plugin, dict(msg.payload)
                est = session.get(Establishment, msg.establishment_id)
                assert est is not None
                unknown = msg.outcome_unknown
                request_id, slug = msg.request_id, est.slug
                with log_context.bound(request_id, slug):
                    prepared = self._prepare(session, est, topic, plugin, payload, message_id)
        except NotFound as exc:
            log.warning("outbox %s: %s; dropped", message_id, exc)
            prepared = None
        except Exception as exc:
            log.exception("outbox %s could not be prepared", message_id)
            self._finish(message_id, Outcome("retry", f"{type(exc).__name__}: {exc}"))
            return None
        if prepared is None:
            self._finish(message_id, Outcome("done"))
            return None
        return _Job(message_id, topic, plugin, prepared, unknown, request_id, slug)

    def _deliver_job(self, job: _Job, outcomes: _Outcomes | None = None) -> Outcome:
        """Calls the message's hook under a heartbeat; its outcome goes to ``outcomes`` (a
        pass's, recorded later and kept leased until then) or, without one, is recorded at once."""
        # Claimed with others, this message may have waited past its lease for their calls.
        if not self.leases.take([job.message_id]):
            return self._lost(job.message_id)
        with log_context.bound(job.request_id, job.establishment):
            with self._kept([job.message_id], outcomes):
                outcome, result = self._attempt(job)
            if outcomes is None:
                return self._finish(job.message_id, outcome, result)
            outcomes.add(job.message_id, outcome, result)
            return outcome

    def _kept(self, ids: list[int], outcomes: _Outcomes | None) -> AbstractContextManager[None]:
        """The heartbeat for a call: the pass's, if there is one, else one of its own."""
        return outcomes.calling(ids) if outcomes is not None else self.leases.kept(ids)

    def _attempt(self, job: _Job) -> tuple[Outcome, Any]:
        try:
            return Outcome("done"), self._call(job.topic, job.plugin, job.prepared, job.unknown)
        except Exception as exc:
            return self._failure(exc, job), None

    def _lost(self, message_id: int) -> Outcome:
        self.leases.released(message_id)
        log.info("outbox %s: another worker took the message over; skipped", message_id)
        return Outcome("lost")

    @staticmethod
    def _failure(exc: Exception, job: _Job) -> Outcome:
        if isinstance(exc, PermanentDeliveryError):
            metrics.DELIVERY_FAILURES.labels("permanent", job.topic).inc()
            log.warning("outbox %s (%s→%s) parked: %s", job.message_id, job.topic, job.plugin, exc)
            return Outcome("failed", str(exc))
        if isinstance(exc, OutcomeUnknownError):
            metrics.DELIVERY_FAILURES.labels("unknown", job.topic).inc()
            log.warning("outbox %s (%s→%s) outcome unknown: %s", job.message_id, job.topic, job.plugin, exc)
            return Outcome("retry", str(exc), outcome_unknown=True)
        # transient by contract, including adapter bugs
        metrics.DELIVERY_FAILURES.labels("transient", job.topic).inc()
        log.warning("outbox %s (%s→%s) failed: %s", job.message_id, job.topic, job.plugin, type(exc).__name__)
        return Outcome("retry", f"{type(exc).__name__}: {exc}")

    # ---- batches ---------------------------------------------------------------------------
    def _batches(self, jobs: list[_Job], singles: list[_Job]) -> list[list[_Job]]:
        """Emissions of one badge class for one establishment's emitter, when it can batch them.

        Only awards whose earlier attempts cannot have reached the remote side are batched:
        the others are reconciled one by one first.
        """
        batching = self.host.implementers("emit_badges")
        groups: dict[tuple[int, str, int], list[_Job]] = {}
        for job in jobs:
            contexts = job.prepared.get("contexts") if job.topic == outbox.EMIT_BADGE else None
            if not contexts or job.unknown or contexts[0][0] not in batching:
                singles.append(job)
                continue
            award: AwardEvent = job.prepared["award"]
            name, ctx = contexts[0]
            groups.setdefault((ctx.establishment.id, name, award.badge_class.id), []).append(job)
        batches: list[list[_Job]] = []
        for group in groups.values():
            if len(group) == 1:
                singles.extend(group)
                continue
            batches.extend(group[i : i + self.batch_size] for i in range(0, len(group), self.batch_size))
        return batches

    def _deliver_batch(self, jobs: list[_Job], outcomes: _Outcomes) -> None:
        held = set(self.leases.take([job.message_id for job in jobs]))
        for job in jobs:
            if job.message_id not in held:
                self._lost(job.message_id)
        jobs = [job for job in jobs if job.message_id in held]
        if len(jobs) < 2:
            for job in jobs:
                self._deliver_job(job, outcomes)
            return
        # One call for awards caused by several requests: its logs name them all (a few).
        ids = sorted({j.request_id for j in jobs if j.request_id})
        with log_context.bound(
            ",".join(ids[:5]) + ("…" if len(ids) > 5 else "") or None, jobs[0].establishment
        ):
            self._deliver_batch_bound(jobs, outcomes)

    def _deliver_batch_bound(self, jobs: list[_Job], outcomes: _Outcomes) -> None:
        name, ctx = jobs[0].prepared["contexts"][0]
        awards: list[AwardEvent] = [job.prepared["award"] for job in jobs]
        try:
            with outcomes.calling([job.message_id for job in jobs]):
                receipts = self.host.caller("emit_badges", [name])(ctx=ctx, awards=awards)
        except Exception as exc:
            for job in jobs:
                outcomes.add(job.message_id, self._failure(exc, job), None)
            return
        if receipts is None:  # the emitter declined the batch: one by one
            for job in jobs:
                self._deliver_job(job, outcomes)
            return
        for job, award in zip(jobs, awards, strict=True):
            receipt = receipts.get(award.public_id)
            if receipt is None:
                outcomes.add(
                    job.message_id, Outcome("retry", f"{name} returned no receipt for this award"), None
                )
            else:
                outcomes.add(job.message_id, Outcome("done"), receipt)

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
            emitters = self._emitters(session, est.id)
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
        return self._finish_many([(message_id, outcome, result)])[0]

    def _finish_many(self, items: Sequence[tuple[int, Outcome, Any]]) -> list[Outcome]:
        """Records outcomes in one transaction: the messages (locked in id order, so that two
        workers never wait on each other), their awards and the broadcasts they cause each read
        or written in one statement."""
        if not items:
            return []
        now = self.clock()
        for message_id, _, _ in items:
            self.leases.released(message_id)
        with self.db.session() as session:
            msgs = {
                m.id: m
                for m in session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.id.in_([i for i, _, _ in items]))
                    .order_by(OutboxMessage.id)
                    .with_for_update()
                )
            }
            award_ids = [m.payload["award_id"] for m in msgs.values() if m.topic == outbox.EMIT_BADGE]
            awards = list(session.scalars(select(Award).where(Award.id.in_(award_ids)))) if award_ids else []
            broadcasts: list[dict[str, Any]] = []
            enabled: dict[int, frozenset[str]] = {}
            recorded = [
                self._record(session, msgs[message_id], outcome, result, now, broadcasts, enabled)
                for message_id, outcome, result in items
            ]
            outbox.enqueue_many(session, broadcasts)
            del awards  # held until here so that session.get finds them without a round trip
        return recorded

    def _record(
        self,
        session: Session,
        msg: OutboxMessage,
        outcome: Outcome,
        result: Any,
        now: datetime,
        broadcasts: list[dict[str, Any]],
        enabled: dict[int, frozenset[str]],
    ) -> Outcome:
        if msg.locked_by != self.worker_id:
            # Frozen past the lease: the new holder reconciles before acting, so what this
            # call did (``result``) is found there; recording it here would race with that.
            log.warning(
                "outbox %s: lease lost before its outcome (%s, external id %s) was recorded; left to %s",
                msg.id,
                outcome.status,
                getattr(result, "external_id", None),
                msg.locked_by or "the next attempt",
            )
            return Outcome("lost")
        msg.locked_by, msg.locked_until = None, None
        msg.attempts += 1
        if outcome.status == "done":
            msg.status, msg.done_at, msg.last_error = "done", now, None
            if msg.topic == outbox.EMIT_BADGE and isinstance(result, EmissionReceipt):
                self._record_issued(session, msg, result, broadcasts, enabled)
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

    def _record_issued(
        self,
        session: Session,
        msg: OutboxMessage,
        receipt: EmissionReceipt,
        broadcasts: list[dict[str, Any]],
        enabled: dict[int, frozenset[str]],
    ) -> None:
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
            award.status, award.issued_at = "issued", self.clock()
            topic = "badge_emitted"
            metrics.AWARDS_DELIVERED.labels(receipt.emitter).inc()
        est = award.establishment_id
        if est not in enabled:
            enabled[est] = adapters.enabled_names(session, est)
        rows = outbox.broadcast_rows(
            self.host, est, enabled[est], topic, {"award_id": award.id}, str(award.id)
        )
        for row in rows:  # traced to the request that caused the award, as in-line broadcasts are
            row["request_id"] = msg.request_id
        broadcasts.extend(rows)


class _Outcomes:
    """Outcomes of one pass, recorded together (``Deliverer._finish_many``), and the messages
    whose lease the pass's heartbeat keeps: those waiting for their outcome to be recorded and
    those whose hook is running."""

    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer
        self.items: list[tuple[int, Outcome, Any]] = []
        self.since = 0.0
        self.current: list[int] = []
        self.lock = threading.Lock()  # a flush and the pass's heartbeat, one at a time

    @contextmanager
    def calling(self, ids: list[int]) -> Iterator[None]:
        self.current = ids
        try:
            yield
        finally:
            self.current = []

    def add(self, message_id: int, outcome: Outcome, result: Any) -> None:
        if not self.items:
            self.since = time.monotonic()
        self.items.append((message_id, outcome, result))
        if time.monotonic() - self.since >= RECORD_AFTER_S:
            self.flush()

    def waiting(self) -> list[int]:
        return [*self.current, *(message_id for message_id, _, _ in list(self.items))]

    def flush(self) -> None:
        with self.lock:
            items, self.items = self.items, []
            self.deliverer._finish_many(items)


def _for_delivery(ctx: AdapterContext, delivery_id: str) -> AdapterContext:
    """One message's copy of a context read once per pass (its own settings, its own id)."""
    return replace(ctx, settings=dict(ctx.settings), delivery_id=delivery_id)


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
