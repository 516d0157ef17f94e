"""One delivery pass records many outcomes together: each as it would be recorded alone."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update

from acquis.core import adapters, establishments, log_context
from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.errors import PermanentDeliveryError, TransientDeliveryError
from acquis.core.events import AdapterContext, AdapterSpec, AwardEvent, EmissionReceipt
from acquis.core.hookspecs import hookimpl
from acquis.core.ingest import ingest
from acquis.core.models import Award, Learner, LearnerIdentifier, OutboxMessage, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch
from tests import helpers
from tests.conftest import PUBLIC_URL
from tests.plugins import RecordingEmitter


@dataclass(eq=False)  # hashable: pluggy keeps plugins in sets
class Listener:
    """Where issued badges go next (a portfolio, say): receives ``badge_emitted``."""

    received: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    @hookimpl
    def adapter_spec(self) -> AdapterSpec:
        return AdapterSpec(name="listener", title="Listener")

    @hookimpl
    def badge_emitted(self, ctx: AdapterContext, award: AwardEvent, receipt: EmissionReceipt) -> None:
        self.received.append((award.public_id, receipt.external_id, ctx.delivery_id))


def _awards_by_learner(db: Database) -> dict[str, Award]:
    with db.session() as s:
        rows = s.execute(
            select(LearnerIdentifier.value, Award)
            .join(Learner, Learner.id == LearnerIdentifier.learner_id)
            .join(Award, Award.learner_id == Learner.id)
        )
        return {user.rsplit("/", 1)[-1].rsplit(":", 1)[-1]: award for user, award in rows}


def test_one_pass_over_mixed_outcomes_records_each_as_alone(db: Database) -> None:
    recorder, listener = RecordingEmitter("recorder"), Listener()
    host = PluginHost(plugins=[("recorder", recorder), ("listener", listener)])
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a", adapters=())
        helpers.tag(s, t, [1])
        adapters.update_settings(s, host, t.est, "recorder", {"url": "https://obf.test", "token": "t"})
        adapters.set_enabled(s, host, t.est, "recorder", True)
        adapters.set_enabled(s, host, t.est, "listener", True)
    for user in "12345":  # five requests, five awards
        with db.session() as s, log_context.bound(f"req-{user}"):
            est = establishments.get(s, "univ-a")
            ingest(s, host, est.id, [f for f in parse_batch([helpers.statement(user=user)], utcnow()) if f])
    awards = _awards_by_learner(db)
    assert len(awards) == 5, awards
    with db.session() as s:  # revoked before any worker got to it
        s.execute(update(Award).where(Award.id == awards["5"].id).values(status="revoked"))
    recorder.script = [
        "ok",
        TransientDeliveryError("503 from OBF"),
        PermanentDeliveryError("400: bad badge"),
        "ok",
    ]

    worker = Deliverer(db, host, "w1", PUBLIC_URL)
    assert worker.run_once() >= 5  # the emissions, and the competency_validated broadcasts
    after = _awards_by_learner(db)
    assert {u: a.status for u, a in after.items()} == {
        "1": "issued",
        "2": "pending",
        "3": "failed",
        "4": "issued",
        "5": "revoked",
    }
    assert after["3"].last_error == "400: bad badge"
    assert recorder.issued == {awards["1"].public_id: 1, awards["4"].public_id: 1}
    assert sorted(recorder.calls) == sorted(("univ-a", awards[u].public_id) for u in "1234")
    with db.session() as s:
        emits = {
            m.payload["award_id"]: m
            for m in s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "emit_badge"))
        }
        assert all(m.locked_by is None for m in emits.values())
        retried = emits[awards["2"].id]
        assert retried.status == "pending" and retried.attempts == 1 and retried.available_at > utcnow()
        assert "503" in (retried.last_error or "")
        assert {emits[awards[u].id].status for u in "145"} == {"done"} and emits[
            awards["3"].id
        ].status == "failed"
        emitted = list(s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "badge_emitted")))
        # Written in one insert for the pass, still traced to the request behind each award.
        assert sorted((m.payload["award_id"], m.request_id) for m in emitted) == sorted(
            [(awards["1"].id, "req-1"), (awards["4"].id, "req-4")]
        )
        assert all(m.plugin == "listener" for m in emitted)

    worker.run_once()  # the broadcasts of the first pass
    assert sorted(r[:2] for r in listener.received) == sorted(
        (awards[u].public_id, f"ext-{awards[u].public_id}") for u in "14"
    )
    assert len({r[2] for r in listener.received}) == 2  # one delivery id per message
    assert recorder.issued == {awards["1"].public_id: 1, awards["4"].public_id: 1}
