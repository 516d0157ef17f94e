"""The fault test of issue 5 with Celery: OBF failing 30% of calls, a worker killed mid-batch.

Real parts: PostgreSQL, Redis as broker, `acquis worker --celery` in its own process group, the
OBF adapter from its entry point, and the contract fake of OBF over loopback. Afterwards every
(badge, recipient) is issued exactly once on OBF's side and every award is issued: nothing lost,
nothing duplicated.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from sqlalchemy import func, select, update

from acquis.core import adapters, delivery, establishments
from acquis.core.models import Award, OutboxMessage, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.runtime import Runtime
from acquis.plugins.obf.plugin import OBFPlugin
from acquis.plugins.openbadges import plugin as native_plugin
from tests.fakes.obf import FakeOBF, running
from tests.integration.test_celery import scaled  # noqa: F401 - the fixture
from tests.integration.test_obf_delivery import BADGES, SECRET, _send, _statement, _tenant

LEARNERS = 40


def _state(rt: Runtime) -> tuple[int, int]:
    with rt.db.session() as s:
        issued = int(s.scalar(select(func.count()).select_from(Award).where(Award.status == "issued")) or 0)
        total = int(s.scalar(select(func.count()).select_from(Award)) or 0)
    return issued, total


def _nudge(rt: Runtime) -> int:
    """What time and an admin do, sped up: retries fall due now; parked messages are retried."""
    with rt.db.session() as s:
        s.execute(
            update(OutboxMessage).where(OutboxMessage.status == "pending").values(available_at=utcnow())
        )
        parked = list(
            s.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.status == "failed", OutboxMessage.attempts >= delivery.MAX_ATTEMPTS
                )
            )
        )
        for msg in parked:
            delivery.retry(s, msg.establishment_id, msg.id)
    return len(parked)


# One broker is enough here: both run the plain delivery and kill tests in test_celery.py.
@pytest.mark.parametrize("scaled", ["redis"], indirect=True)
def test_celery_delivers_every_obf_award_exactly_once_under_faults_and_a_kill(scaled: dict[str, Any]) -> None:  # noqa: F811
    rt: Runtime = scaled["rt"]
    fake = FakeOBF(token_interval=0, fault_sleep=1.5, seed=11)
    fake.add_client("CID", SECRET, tuple((obf_id, obf_id) for obf_id in BADGES.values()))
    with running(fake) as url:
        from tests.conftest import _wipe

        _wipe(rt.db.engine)
        host = PluginHost(
            load_entry_points=False, plugins=[("obf", OBFPlugin(timeout=1)), ("openbadges", native_plugin)]
        )
        _tenant(rt.db, host, url)
        with rt.db.session() as s:  # the worker process reads this timeout from the settings
            adapters.update_settings(s, host, establishments.get(s, "univ-a"), "obf", {"timeout": "1"})
        _send(rt.db, host, [_statement(u, cmid) for u in range(1, LEARNERS + 1) for (_c, _l, cmid) in BADGES])
        expected = LEARNERS * len(BADGES)
        assert _state(rt) == (0, expected)
        fake.fault_rate = 0.3

        first = scaled["start_worker"]()
        rt.notify()
        deadline = time.monotonic() + 60
        while _state(rt)[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGKILL)  # mid-batch: some calls in flight, some leases held
        first.wait(10)
        killed_at = _state(rt)[0]
        assert killed_at < expected, "everything was issued before the kill; the test proved nothing"

        second = scaled["start_worker"]()
        rt.notify()
        retried = 0
        deadline = time.monotonic() + 240
        while _state(rt)[0] < expected and time.monotonic() < deadline:
            time.sleep(1)
            retried += _nudge(rt)
            rt.notify()
        # Stopped cold, as the fake OBF stops below: a warm shutdown only waits for queued
        # wake-ups, and nothing moves while the results are checked.
        os.killpg(second.pid, signal.SIGKILL)
        second.wait(10)

    issued, total = _state(rt)
    assert (issued, total) == (expected, expected), f"{issued}/{expected} issued (killed at {killed_at})"
    issuances = fake.issuances()
    assert len(issuances) == expected and set(issuances.values()) == {1}  # one per (badge, recipient)
    assert sum(fake.faults.values()) > 0 and {"timeout", "error", "accept_timeout"} <= set(fake.faults)
    print(
        f"\n{expected} awards over Celery; killed after {killed_at} issued; faults {dict(fake.faults)}; "
        f"API calls {fake.api_calls()}; admin retries {retried}"
    )
