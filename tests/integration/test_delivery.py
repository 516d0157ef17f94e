"""The outbox delivers at least once, and emitters exactly once with reconciliation."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from acquis.core import adapters, delivery, establishments
from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.errors import PermanentDeliveryError, TransientDeliveryError
from acquis.core.ingest import ingest
from acquis.core.models import Award, OutboxMessage, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch
from tests import helpers
from tests.conftest import PUBLIC_URL
from tests.plugins import RecordingEmitter


@pytest.fixture
def recorder() -> RecordingEmitter:
    return RecordingEmitter("recorder")


@pytest.fixture
def rhost(recorder: RecordingEmitter) -> PluginHost:
    return PluginHost(plugins=[("recorder", recorder)])


@pytest.fixture
def tenant(db: Database, rhost: PluginHost) -> helpers.Tenant:
    with db.session() as s:
        t = helpers.make_tenant(s, rhost, "univ-a", adapters=())
        helpers.tag(s, t, [1])
        adapters.update_settings(s, rhost, t.est, "recorder", {"url": "https://obf.test", "token": "t"})
        adapters.set_enabled(s, rhost, t.est, "recorder", True)
    return t


def _send(db: Database, host: PluginHost, user: str = "1") -> None:
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        ingest(s, host, est.id, [f for f in parse_batch([helpers.statement(user=user)], utcnow()) if f])


def _make_due(db: Database) -> None:
    """Skip the backoff wait: what a later worker pass would see."""
    with db.session() as s:
        s.execute(
            update(OutboxMessage).where(OutboxMessage.status == "pending").values(available_at=utcnow())
        )


def _award(db: Database) -> Award:
    with db.session() as s:
        return s.scalars(select(Award)).one()


def _emit_message(db: Database) -> OutboxMessage:
    with db.session() as s:
        return s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "emit_badge")).one()


def test_transient_failure_is_retried_later_then_delivered_once(
    db: Database, rhost: PluginHost, recorder: RecordingEmitter, tenant: helpers.Tenant
) -> None:
    recorder.script = [TransientDeliveryError("503 from OBF")]
    _send(db, rhost)
    worker = Deliverer(db, rhost, "w1", PUBLIC_URL)
    worker.run_once()
    msg = _emit_message(db)
    assert msg.status == "pending" and msg.attempts == 1
    assert msg.available_at > utcnow()  # backed off, not hammered
    assert "503" in (msg.last_error or "")
    assert worker.run_once() == 0 or _award(db).status == "pending"  # not due yet
    _make_due(db)
    worker.run_once()
    award = _award(db)
    assert award.status == "issued" and award.external_id == f"ext-{award.public_id}"
    assert recorder.issued == {award.public_id: 1}


def test_permanent_failure_parks_the_award_for_an_admin_who_can_retry(
    db: Database, rhost: PluginHost, recorder: RecordingEmitter, tenant: helpers.Tenant
) -> None:
    recorder.script = [PermanentDeliveryError("400: unknown badge id")]
    _send(db, rhost)
    worker = Deliverer(db, rhost, "w1", PUBLIC_URL)
    worker.run_once()
    award = _award(db)
    assert award.status == "failed" and award.last_error == "400: unknown badge id"
    msg = _emit_message(db)
    assert msg.status == "failed"
    with db.session() as s:
        delivery.retry(s, tenant.est.id, msg.id)
    assert _award(db).status == "pending"
    worker.run_once()
    assert _award(db).status == "issued"
    assert sum(recorder.issued.values()) == 1


def test_unknown_outcome_is_reconciled_before_any_retry(
    db: Database, rhost: PluginHost, recorder: RecordingEmitter, tenant: helpers.Tenant
) -> None:
    recorder.script = ["accept_then_fail"]  # OBF issued it, then our call timed out
    _send(db, rhost)
    worker = Deliverer(db, rhost, "w1", PUBLIC_URL)
    worker.run_once()
    assert _emit_message(db).outcome_unknown is True
    _make_due(db)
    worker.run_once()
    award = _award(db)
    assert award.status == "issued"
    assert recorder.reconciled == [award.public_id]
    assert recorder.issued == {award.public_id: 1}  # never issued twice
    assert len(recorder.calls) == 1  # the retry asked, it did not issue again


def test_a_dead_workers_lease_expires_and_another_worker_delivers(
    db: Database, rhost: PluginHost, recorder: RecordingEmitter, tenant: helpers.Tenant
) -> None:
    _send(db, rhost)
    dead = Deliverer(db, rhost, "dead", PUBLIC_URL)
    claimed = dead.claim()  # claims, then "dies" before delivering
    assert claimed
    alive = Deliverer(db, rhost, "alive", PUBLIC_URL)
    assert alive.claim() == []  # leased: nobody else takes it
    with db.session() as s:
        s.execute(update(OutboxMessage).values(locked_until=utcnow()))  # the lease runs out
    alive.run_once()
    award = _award(db)
    assert award.status == "issued"
    assert recorder.reconciled == [award.public_id]  # the dead worker may have reached the remote side
    assert dead.deliver(claimed[0]).status == "done"  # a late comeback changes nothing
    assert sum(recorder.issued.values()) == 1


def test_a_worker_whose_lease_ran_out_before_its_call_does_not_issue_again(
    db: Database, rhost: PluginHost, recorder: RecordingEmitter, tenant: helpers.Tenant
) -> None:
    """Claimed and loaded, then slow (a loaded machine, a long batch before it): by the time it
    calls out, its lease has run out and another worker has taken the message and issued it."""
    _send(db, rhost)
    late = [timedelta(0)]  # how far slow's clock has moved on since its claim
    slow = Deliverer(db, rhost, "slow", PUBLIC_URL, clock=lambda: utcnow() + late[0])
    message_id = _emit_message(db).id
    assert message_id in slow.claim()
    job = slow._load(message_id)  # run_once loads every claimed message before calling out
    assert job is not None
    with db.session() as s:
        s.execute(update(OutboxMessage).values(locked_until=utcnow()))  # the lease runs out
    late[0] = slow.lease
    assert Deliverer(db, rhost, "fast", PUBLIC_URL).run_once() >= 1
    outcome = slow._deliver_job(job)  # what slow's run_once does next
    assert outcome.status == "lost"
    assert sum(recorder.issued.values()) == 1 and len(recorder.calls) == 1
    assert _award(db).status == "issued" and _emit_message(db).status == "done"


def test_no_emitter_enabled_fails_with_what_to_do(
    db: Database, rhost: PluginHost, tenant: helpers.Tenant
) -> None:
    with db.session() as s:
        adapters.set_enabled(s, rhost, establishments.get(s, "univ-a"), "recorder", False)
    _send(db, rhost)
    Deliverer(db, rhost, "w1", PUBLIC_URL).run_once()
    award = _award(db)
    assert award.status == "failed"
    assert "acquis adapter enable" in (award.last_error or "")


def test_award_revoked_before_delivery_is_not_emitted(
    db: Database, rhost: PluginHost, recorder: RecordingEmitter, tenant: helpers.Tenant
) -> None:
    _send(db, rhost)
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        uncompleted = parse_batch([helpers.statement(verb="uncompleted")], utcnow())
        ingest(s, rhost, est.id, [f for f in uncompleted if f])
    assert _award(db).status == "revoked"
    Deliverer(db, rhost, "w1", PUBLIC_URL).run_once()
    assert recorder.calls == []
    assert _emit_message(db).status == "done"


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(1)
    delays = [delivery.backoff(n, rng) for n in range(1, 20)]
    for attempt, d in enumerate(delays, start=1):
        cap = min(delivery.MAX_DELAY_S, delivery.BASE_DELAY_S * 2 ** (attempt - 1))
        assert cap / 2 <= d <= cap
    assert max(delays) <= delivery.MAX_DELAY_S
