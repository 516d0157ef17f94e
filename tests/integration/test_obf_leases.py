"""Leases against a slow OBF: a live worker keeps its messages, one that lost them stays out.

The race these tests pin down duplicated a badge under load: a worker claimed several messages
with one lease, its first issue request was slow, the lease of the messages still waiting ran
out, a second worker took them, reconciled (OBF had nothing yet), issued, and then the first
worker issued them again. Time is a clock the test moves, so nothing here sleeps past a lease.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.models import Award, OutboxMessage, utcnow
from acquis.core.plugins import PluginHost
from acquis.plugins.obf.plugin import OBFPlugin
from acquis.plugins.openbadges import plugin as native_plugin
from tests.conftest import PUBLIC_URL
from tests.fakes.obf import FakeOBF, running
from tests.integration.test_obf_delivery import BADGES, SECRET, _awards, _send, _statement, _tenant

LEASE = timedelta(seconds=60)


class Clock:
    """The deliverers' time, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fake() -> FakeOBF:
    f = FakeOBF(token_interval=0)
    f.add_client("CID", SECRET, tuple((obf_id, obf_id) for obf_id in BADGES.values()))
    return f


@pytest.fixture
def host() -> PluginHost:
    # A timeout far above the time a request is held: the slow worker waits for OBF's answer.
    return PluginHost(
        load_entry_points=False, plugins=[("obf", OBFPlugin(timeout=20)), ("openbadges", native_plugin)]
    )


@pytest.fixture
def obf_url(fake: FakeOBF) -> Iterator[str]:
    with running(fake) as url:
        yield url


def _deliverer(db: Database, host: PluginHost, name: str, clock: Clock) -> Deliverer:
    return Deliverer(db, host, name, PUBLIC_URL, lease=LEASE, clock=clock, heartbeat=timedelta(seconds=0.02))


def _messages(db: Database) -> dict[int, OutboxMessage]:
    """The emission messages by award id."""
    with db.session() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "emit_badge"))
        return {int(m.payload["award_id"]): m for m in rows}


def _status(db: Database) -> dict[int, str]:
    """The emission messages' status by message id."""
    return {m.id: m.status for m in _messages(db).values()}


def _wait(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _assert_issued_exactly_once(db: Database, fake: FakeOBF) -> list[Award]:
    awards = _awards(db)
    assert [a.status for a in awards] == ["issued"] * len(awards)
    assert fake.issued_awards() == {a.public_id: 1 for a in awards}
    assert set(fake.issuances().values()) == {1}
    return awards


def test_a_slow_issue_keeps_its_lease_and_the_messages_waiting_behind_it_go_to_another_worker(
    db: Database, host: PluginHost, fake: FakeOBF, obf_url: str
) -> None:
    _tenant(db, host, obf_url)
    # Two awards of one badge (one batched call, made first) and one of another (a single call).
    _send(db, host, [_statement(1, 1), _statement(2, 1), _statement(1, 2)])
    by_award = _messages(db)
    by_badge: dict[int, list[int]] = {}
    for award in _awards(db):
        by_badge.setdefault(award.badge_class_id, []).append(by_award[award.id].id)
    (single,), batched = sorted(by_badge.values(), key=len)
    clock = Clock()
    slow, other = _deliverer(db, host, "slow", clock), _deliverer(db, host, "other", clock)

    gate = fake.hold_next_issue()
    worker = threading.Thread(target=slow.run_once)
    worker.start()
    try:
        assert gate.arrived.wait(10), "the batch was not issued"
        claimed_at = clock.now
        clock.now = claimed_at + LEASE * 2 / 3
        # The heartbeat renews the batch's lease from the new time on; the single one waits.
        renewed = clock.now + LEASE

        def batch_renewed() -> bool:
            with db.session() as s:
                until = s.scalars(select(OutboxMessage.locked_until).where(OutboxMessage.id.in_(batched)))
                return all(u is not None and u >= renewed for u in until)

        _wait(batch_renewed, "the heartbeat")
        clock.now = claimed_at + LEASE + timedelta(seconds=1)  # the claim's lease has run out
        # The other worker takes only the message nobody is calling, reconciles it, issues it.
        assert other.run_once() == 1
        assert _status(db)[single] == "done" and set(_status(db)) == {single, *batched}
    finally:
        gate.release.set()
        worker.join(30)
    assert not worker.is_alive()
    _assert_issued_exactly_once(db, fake)
    # The slow worker recorded its batch and left the single message alone.
    assert set(_status(db).values()) == {"done"}
    assert fake.calls["POST /v2/event/<client_id>/<badge_id>/issue"] == 2


def test_a_worker_frozen_past_its_lease_records_nothing_and_the_new_holder_finds_its_issue(
    db: Database, host: PluginHost, fake: FakeOBF, obf_url: str
) -> None:
    _tenant(db, host, obf_url)
    _send(db, host, [_statement(1, 1)])
    (msg,) = _messages(db).values()
    clock = Clock()
    frozen, other = _deliverer(db, host, "frozen", clock), _deliverer(db, host, "other", clock)

    gate = fake.hold_next_issue()
    worker = threading.Thread(target=frozen.run_once)
    worker.start()
    try:
        assert gate.arrived.wait(10), "the award was not issued"
        with db.session() as s:  # no heartbeat got through: the lease ran out…
            s.execute(update(OutboxMessage).values(locked_until=clock.now - timedelta(seconds=1)))
        assert other.claim() == [msg.id]  # …and another worker took the message
    finally:
        gate.release.set()  # OBF acts on the frozen worker's request and answers it
        worker.join(30)
    assert not worker.is_alive()
    after = _messages(db)[int(msg.payload["award_id"])]
    assert (after.status, after.locked_by, after.attempts) == ("pending", "other", 0)  # not overwritten
    assert after.outcome_unknown
    assert other.deliver(msg.id).status == "done"  # reconciles: finds the frozen worker's event
    (award,) = _assert_issued_exactly_once(db, fake)
    (event,) = fake.events.values()
    assert award.external_id == event.id
    assert fake.calls["POST /v2/event/<client_id>/<badge_id>/issue"] == 1
