"""The OBF adapter through the real outbox: issuing, refusing, revoking, and exactly once under faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from acquis.core import adapters, delivery, establishments, snapshots, tags
from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.ingest import ingest
from acquis.core.models import Award, BadgeClass, Learner, OutboxMessage, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch
from acquis.plugins.obf import plugin as obf_plugin
from acquis.plugins.obf.catalogue import sync_badges
from acquis.plugins.obf.plugin import OBFPlugin
from acquis.plugins.openbadges import plugin as native_plugin
from tests import helpers
from tests.conftest import PUBLIC_URL
from tests.fakes.obf import FakeOBF, running

SECRET = "obf-secret-5c2d"
# (competency, level, activity) → the OBF badge its badge class is mapped to
BADGES = {
    ("C1", "Novice", 1): "OBF-C1-1",
    ("C2", "Novice", 2): "OBF-C2-1",
    ("C2", "Intermédiaire", 3): "OBF-C2-2",
}


@pytest.fixture
def fake() -> FakeOBF:
    f = FakeOBF(token_interval=0, fault_sleep=0.5, seed=7)
    f.add_client("CID", SECRET, tuple((obf_id, obf_id) for obf_id in BADGES.values()))
    return f


@pytest.fixture
def obf_url(fake: FakeOBF) -> Iterator[str]:
    with running(fake) as url:
        yield url


@pytest.fixture
def obf() -> OBFPlugin:
    return OBFPlugin(timeout=0.3)


@pytest.fixture
def ohost(obf: OBFPlugin) -> PluginHost:
    return PluginHost(load_entry_points=False, plugins=[("obf", obf), ("openbadges", native_plugin)])


def _tenant(
    db: Database, host: PluginHost, url: str, version: str = "v2", mapped: bool = True
) -> helpers.Tenant:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a", adapters=("openbadges",))
        for (competency, level, cmid), _obf_id in BADGES.items():
            helpers.tag(s, t, [cmid], competency=competency, level=level)
        adapters.update_settings(
            s,
            host,
            t.est,
            "obf",
            {"api_url": url, "api_version": version, "client_id": "CID", "client_secret": SECRET},
        )
        adapters.set_enabled(s, host, t.est, "obf", True)
        if mapped:
            plugin = host.pm.get_plugin("obf")
            assert isinstance(plugin, OBFPlugin)
            mapping = {}
            for (competency, level, _cmid), obf_id in BADGES.items():
                lv = tags.find_level(s, t.est, competency, level)
                bc = s.scalars(select(BadgeClass).where(BadgeClass.level_id == lv.id)).one()
                mapping[bc.public_id] = obf_id
            ctx = adapters.context(s, t.est, "obf", PUBLIC_URL)
            sync_badges(s, t.est, plugin.client(ctx), mapping)
    return t


def _statement(user: int, cmid: int, verb: str = "completed", email: bool = True) -> dict[str, Any]:
    st = helpers.statement(user=str(user), cmid=cmid, verb=verb)
    if email:
        st["actor"] = {
            "objectType": "Agent",
            "name": f"Learner {user}",
            "mbox": f"mailto:learner{user}@univ-a.fr",
        }
    return st


def _send(db: Database, host: PluginHost, statements: list[dict[str, Any]]) -> None:
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        ingest(s, host, est.id, [f for f in parse_batch(statements, utcnow()) if f])


def _make_due(db: Database) -> None:
    with db.session() as s:
        s.execute(
            update(OutboxMessage).where(OutboxMessage.status == "pending").values(available_at=utcnow())
        )


def _awards(db: Database) -> list[Award]:
    with db.session() as s:
        return list(s.scalars(select(Award).order_by(Award.id)))


def test_entry_point_registers_obf_before_the_native_issuer() -> None:
    host = PluginHost()
    assert host.pm.get_plugin("obf") is obf_plugin.plugin
    assert host.spec("obf").priority < host.spec("openbadges").priority
    assert host.spec("obf").field("client_secret").secret  # type: ignore[union-attr]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_an_award_is_issued_by_obf_not_the_native_issuer(
    db: Database, ohost: PluginHost, fake: FakeOBF, obf_url: str, version: str
) -> None:
    _tenant(db, ohost, obf_url, version)
    before = fake.api_calls()  # the badge list read by sync_badges
    _send(db, ohost, [_statement(1, 1)])
    Deliverer(db, ohost, "w1", PUBLIC_URL).run_once()
    (award,) = _awards(db)
    assert award.status == "issued" and award.emitter == "obf"
    (event,) = fake.events.values()
    assert award.external_id == event.id
    assert event.api == version and event.badge_id == "OBF-C1-1"
    assert event.recipients[0]["email"] == "learner1@univ-a.fr"
    assert event.log_entry["acquis_award"] == award.public_id
    assert award.receipt is not None and award.receipt["data"]["email"] == "learner1@univ-a.fr"
    assert fake.api_calls() - before == 1  # the issue alone: look-ups only when an outcome is unknown


def test_an_unmapped_badge_class_is_refused_with_what_to_do(
    db: Database, ohost: PluginHost, fake: FakeOBF, obf_url: str
) -> None:
    _tenant(db, ohost, obf_url, mapped=False)
    _send(db, ohost, [_statement(1, 1)])
    Deliverer(db, ohost, "w1", PUBLIC_URL).run_once()
    (award,) = _awards(db)
    assert award.status == "failed"
    assert "map the badge class to an OBF badge" in (award.last_error or "")
    assert fake.api_calls() == 0


def test_a_learner_without_email_is_refused_with_the_reason(
    db: Database, ohost: PluginHost, fake: FakeOBF, obf_url: str
) -> None:
    _tenant(db, ohost, obf_url)
    _send(db, ohost, [_statement(1, 1, email=False)])
    Deliverer(db, ohost, "w1", PUBLIC_URL).run_once()
    (award,) = _awards(db)
    assert award.status == "failed"
    assert "no email address" in (award.last_error or "") and "OBF" in (award.last_error or "")
    assert fake.events == {}


def test_bad_credentials_park_the_award_without_leaking_the_secret(
    db: Database, ohost: PluginHost, fake: FakeOBF, obf_url: str
) -> None:
    t = _tenant(db, ohost, obf_url)
    with db.session() as s:
        adapters.update_settings(s, ohost, t.est, "obf", {"client_secret": "not-the-right-one"})
    _send(db, ohost, [_statement(1, 1)])
    Deliverer(db, ohost, "w1", PUBLIC_URL).run_once()
    (award,) = _awards(db)
    assert award.status == "failed"
    assert "client_secret" in (award.last_error or "")
    assert "not-the-right-one" not in (award.last_error or "") and SECRET not in (award.last_error or "")


def test_connection_check_says_what_works_and_what_to_fix(
    db: Database, ohost: PluginHost, obf_url: str
) -> None:
    t = _tenant(db, ohost, obf_url, mapped=False)
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        ok = adapters.check(s, ohost, est, "obf", PUBLIC_URL)
        assert ok.ok and "3 badge(s)" in ok.message
        adapters.update_settings(s, ohost, t.est, "obf", {"client_secret": "wrong"})
    with db.session() as s:
        bad = adapters.check(s, ohost, establishments.get(s, "univ-a"), "obf", PUBLIC_URL)
    assert (
        not bad.ok and "client_secret" in bad.message and "wrong" not in bad.message.split("client_secret")[0]
    )


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_revocation_flows_to_obf(
    db: Database, ohost: PluginHost, fake: FakeOBF, obf_url: str, version: str
) -> None:
    _tenant(db, ohost, obf_url, version)
    _send(db, ohost, [_statement(1, 1), _statement(2, 1)])
    worker = Deliverer(db, ohost, "w1", PUBLIC_URL)
    worker.run_once()
    assert all(a.status == "issued" for a in _awards(db))
    _send(db, ohost, [_statement(1, 1, verb="uncompleted")])
    worker.run_once()
    revoked = {r["email"]: r["revoked"] for e in fake.events.values() for r in e.recipients}
    assert revoked == {"learner1@univ-a.fr": True, "learner2@univ-a.fr": False}
    with db.session() as s:
        msg = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "badge_revoked")).one()
        assert msg.status == "done" and msg.plugin == "obf"


def test_an_award_accepted_by_obf_then_timed_out_is_reconciled_not_reissued(
    db: Database, ohost: PluginHost, fake: FakeOBF, obf_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tenant(db, ohost, obf_url)
    _send(db, ohost, [_statement(1, 1)])
    worker = Deliverer(db, ohost, "w1", PUBLIC_URL)
    plugin = ohost.pm.get_plugin("obf")
    assert isinstance(plugin, OBFPlugin)
    with db.session() as s:
        plugin.client(adapters.context(s, establishments.get(s, "univ-a"), "obf", PUBLIC_URL)).ping()
    # The lookup before issuing answers, then the issue is accepted and times out.
    original = fake._fault
    issue_route = "POST /v2/event/<client_id>/<badge_id>/issue"
    monkeypatch.setattr(fake, "_fault", lambda: "accept_timeout" if fake.calls[issue_route] else None)
    worker.run_once()
    with db.session() as s:
        msg = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "emit_badge")).one()
        assert msg.outcome_unknown and msg.status == "pending"
    monkeypatch.setattr(fake, "_fault", original)
    _make_due(db)
    worker.run_once()
    (award,) = _awards(db)
    assert award.status == "issued"
    assert fake.issued_awards() == {award.public_id: 1}
    assert fake.calls["POST /v2/event/<client_id>/<badge_id>/issue"] == 1
    (event,) = fake.events.values()
    assert award.external_id == event.id


def test_emit_is_idempotent_when_a_dead_worker_issued_without_recording(
    db: Database, ohost: PluginHost, fake: FakeOBF, obf_url: str
) -> None:
    """A worker that died between OBF's answer and its commit leaves its message leased; once
    the lease runs out, the next worker must find the earlier issue instead of issuing again."""
    _tenant(db, ohost, obf_url)
    _send(db, ohost, [_statement(1, 1)])
    plugin = ohost.pm.get_plugin("obf")
    assert isinstance(plugin, OBFPlugin)
    assert Deliverer(db, ohost, "dead", PUBLIC_URL).claim()  # the dead worker took the message…
    with db.session() as s:
        (award,) = s.scalars(select(Award)).all()
        est = establishments.get(s, "univ-a")
        ctx = adapters.context(s, est, "obf", PUBLIC_URL, "acquis-1")
        event = snapshots.award_event(s, award.id)
    first = plugin.emit_badge(ctx, event)  # …OBF issued, and the worker died before recording it
    with db.session() as s:
        s.execute(update(OutboxMessage).values(locked_until=utcnow()))  # its lease runs out
    Deliverer(db, ohost, "w2", PUBLIC_URL).run_once()
    (recorded,) = _awards(db)
    assert recorded.status == "issued" and recorded.external_id == first.external_id
    assert fake.issued_awards() == {recorded.public_id: 1}


def test_check_without_a_secret_says_which_setting_to_set(db: Database, ohost: PluginHost) -> None:
    with db.session() as s:
        t = helpers.make_tenant(s, ohost, "univ-a")
        adapters.update_settings(s, ohost, t.est, "obf", {"client_id": "CID"})
        result = adapters.check(s, ohost, t.est, "obf", PUBLIC_URL)
    assert not result.ok and "client_secret" in result.message


LEARNERS = 80
WORKERS = 6


def test_exactly_once_under_faults(db: Database, ohost: PluginHost, fake: FakeOBF, obf_url: str) -> None:
    """~30% of OBF calls time out, fail with 500 or are accepted then time out; every award of
    several badges still ends issued exactly once on OBF's side, and none is lost."""
    _tenant(db, ohost, obf_url)
    statements = [_statement(u, cmid) for u in range(1, LEARNERS + 1) for (_c, _l, cmid) in BADGES]
    _send(db, ohost, statements)
    expected = LEARNERS * len(BADGES)
    assert len(_awards(db)) == expected
    fake.fault_rate = 0.3
    started = time.monotonic()
    workers = [Deliverer(db, ohost, f"w{n}", PUBLIC_URL) for n in range(WORKERS)]
    admin_retries = passes = 0
    while passes < 60:
        passes += 1
        _make_due(db)

        def drain(worker: Deliverer) -> None:
            while worker.run_once(limit=5):
                pass

        threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        with db.session() as s:
            # What an admin would do with a message that ran out of attempts (not one refused).
            exhausted = list(
                s.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.status == "failed", OutboxMessage.attempts >= delivery.MAX_ATTEMPTS
                    )
                )
            )
            for msg in exhausted:
                delivery.retry(s, msg.establishment_id, msg.id)
            admin_retries += len(exhausted)
            left = s.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "done")
            )
        if not left:
            break
    elapsed = time.monotonic() - started
    awards = _awards(db)
    assert [a.status for a in awards].count("issued") == expected, {a.status for a in awards}
    # Exactly once on OBF's side: one event per award, one issuance per (badge, recipient).
    assert fake.issued_awards() == {a.public_id: 1 for a in awards}
    issuances = fake.issuances()
    assert len(issuances) == expected and set(issuances.values()) == {1}
    assert {a.external_id for a in awards} == set(fake.events)  # no event without its awards
    with db.session() as s:
        emails = {ln.id: ln.email for ln in s.scalars(select(Learner))}
    for a in awards:  # each award's event (maybe shared by a batch) has its learner among recipients
        assert emails[a.learner_id] in {r["email"] for r in fake.events[str(a.external_id)].recipients}
    # The faults really happened, of every kind.
    assert set(fake.faults) == {"timeout", "error", "accept_timeout"}
    assert sum(fake.faults.values()) > expected * 0.2
    calls = fake.api_calls()
    print(  # shown with -s: the cost of exactly-once on OBF's API
        f"\n{expected} awards, {passes} passes, {elapsed:.1f}s, {calls} API calls "
        f"({calls / expected:.2f}/award), faults {dict(fake.faults)}, "
        f"token requests {sum(fake.token_requests.values())}, admin retries {admin_retries}"
    )


def test_awards_of_one_badge_go_out_in_one_call_per_batch(
    db: Database, ohost: PluginHost, fake: FakeOBF, obf_url: str
) -> None:
    _tenant(db, ohost, obf_url)
    _send(db, ohost, [_statement(u, 1) for u in range(1, 26)])  # 25 awards of OBF-C1-1
    before = fake.api_calls()
    Deliverer(db, ohost, "w1", PUBLIC_URL, batch_size=10).run_once(limit=100)
    awards = _awards(db)
    assert [a.status for a in awards] == ["issued"] * 25
    assert fake.api_calls() - before == 3  # 10 + 10 + 5 recipients: three issue calls
    assert len(fake.events) == 3
    assert sorted(len(e.recipients) for e in fake.events.values()) == [5, 10, 10]
    assert set(fake.issuances().values()) == {1}
    # Each award's receipt names its own recipient, so revoking one revokes only that learner.
    assert len({a.receipt["data"]["email"] for a in awards if a.receipt}) == 25


def test_a_batch_window_holds_fresh_emissions_to_gather_them(
    db: Database, ohost: PluginHost, fake: FakeOBF, obf_url: str
) -> None:
    from datetime import timedelta

    _tenant(db, ohost, obf_url)
    _send(db, ohost, [_statement(1, 1)])
    waiting = Deliverer(db, ohost, "w1", PUBLIC_URL, batch_window=timedelta(seconds=60))
    assert waiting.run_once() == 0  # younger than the window: held back
    assert _awards(db)[0].status == "pending"
    Deliverer(db, ohost, "w2", PUBLIC_URL).run_once()
    assert _awards(db)[0].status == "issued"
