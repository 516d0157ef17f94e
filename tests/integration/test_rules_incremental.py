"""Ingest decides only the pairs new evidence can move: what it leaves is what a full recomputation gives.

The engine skips a (learner, competency) whose new evidence lands above a level that is not
validated (``Engine._may_move``). These tests hold that shortcut to the full rule: after any
sequence of batches and jury decisions, reconciling every pair again from the facts, with no
shortcut, changes nothing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from acquis.core import jury
from acquis.core.db import Database
from acquis.core.ingest import ingest
from acquis.core.models import (
    Award,
    BadgeClass,
    Competency,
    Learner,
    Level,
    OutboxMessage,
    Validation,
    utcnow,
)
from acquis.core.plugins import PluginHost
from acquis.core.rules import Engine
from acquis.core.xapi import parse_batch
from tests import helpers
from tests.conftest import _wipe

FRAMEWORK = {
    "code": "inc",
    "title": "Incremental",
    "scale": ["Novice", "Intermédiaire", "Compétent", "Avancé", "Expert"],
    "competencies": [
        {"code": "A", "title": "A"},
        {"code": "B", "title": "B"},
        {
            "code": "F",
            "title": "F",
            "facets": [{"code": "F.1", "title": "F1"}, {"code": "F.2", "title": "F2"}],
        },
    ],
}
# Activities (cmid) of each rule: N of M, a success and a grade trigger, an activity that
# counts for two competencies, a level under a jury, and facets that make their parent's levels.
TAGS: list[tuple[list[int], str, str, dict[str, Any]]] = [
    ([1], "A", "Novice", {}),
    ([2, 3, 4], "A", "Intermédiaire", {"required": 2}),
    ([5], "A", "Compétent", {"trigger": "success"}),
    ([6], "A", "Avancé", {"trigger": "min_grade", "min_grade": 0.5}),
    ([7], "B", "Novice", {}),
    ([8], "B", "Intermédiaire", {}),
    ([3], "B", "Compétent", {}),
    ([11], "F.1", "Novice", {}),
    ([12], "F.1", "Intermédiaire", {}),
    ([13], "F.2", "Novice", {}),
    ([14], "F.2", "Intermédiaire", {}),
]
CMIDS = sorted({c for cmids, *_ in TAGS for c in cmids})
OUTCOMES = ["done", "failed", "uncompleted", "graded-low", "graded-high"]


def _statement(user: str, cmid: int, outcome: str, minute: int) -> dict[str, Any]:
    stamp = f"2030-01-{1 + minute // 1440:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z"
    if outcome == "uncompleted":
        return helpers.statement(user=user, cmid=cmid, verb="uncompleted", timestamp=stamp)
    if outcome == "failed":
        return helpers.statement(user=user, cmid=cmid, success=False, timestamp=stamp)
    scaled = {"graded-low": 0.2, "graded-high": 0.9}.get(outcome)
    return helpers.statement(user=user, cmid=cmid, scaled=scaled, timestamp=stamp)


_event = st.tuples(st.sampled_from(["1", "2"]), st.sampled_from(CMIDS), st.sampled_from(OUTCOMES))
# A batch of events, then maybe a jury decision on the first validation waiting for one.
_step = st.tuples(st.lists(_event, min_size=1, max_size=6), st.sampled_from([None, "approved", "rejected"]))


def _world(db: Database, host: PluginHost) -> int:
    _wipe(db.engine)
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a", framework=FRAMEWORK)
        for cmids, comp, level, options in TAGS:
            helpers.tag(s, t, cmids, comp, level, **options)
        jury_level = s.scalars(
            select(Level.id).join(Competency).where(Competency.code == "B", Level.label == "Intermédiaire")
        ).one()
        s.execute(update(BadgeClass).where(BadgeClass.level_id == jury_level).values(requires_approval=True))
        return t.est.id


def _state(db: Database) -> tuple[list[tuple[Any, ...]], int, int]:
    with db.session() as s:
        validations = [
            (v.learner_id, v.level_id, v.status, tuple(v.evidence), v.method, v.version, v.decision)
            for v in s.scalars(select(Validation).order_by(Validation.learner_id, Validation.level_id))
        ]
        awards = len(s.scalars(select(Award.id)).all())
        messages = len(s.scalars(select(OutboxMessage.id)).all())
    return validations, awards, messages


def _reconcile_everything(db: Database, host: PluginHost, est_id: int) -> None:
    with db.session() as s:
        learners = s.scalars(select(Learner.id).where(Learner.establishment_id == est_id)).all()
        comps = s.scalars(select(Competency.id)).all()
        Engine(s, host, est_id).reconcile({(learner, comp) for learner in learners for comp in comps})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=1, max_size=6))
def test_a_full_recomputation_after_any_batches_changes_nothing(
    db: Database, host: PluginHost, steps: list[tuple[list[tuple[str, int, str]], str | None]]
) -> None:
    est_id = _world(db, host)
    minute = 0
    for events, decision in steps:
        statements = []
        for user, cmid, outcome in events:
            minute += 1
            statements.append(_statement(user, cmid, outcome, minute))
        with db.session() as s:
            ingest(s, host, est_id, [f for f in parse_batch(statements, utcnow()) if f])
        if decision is not None:
            with db.session() as s:
                waiting = s.scalars(
                    select(Validation.id)
                    .where(Validation.status == "pending_approval")
                    .order_by(Validation.id)
                ).first()
                if waiting is not None:
                    jury.decide(s, host, est_id, waiting, decision, by="Jury", reason="test")
    before = _state(db)
    _reconcile_everything(db, host, est_id)
    assert _state(db) == before


def test_evidence_above_an_unreached_level_is_left_for_later_and_then_counts(
    db: Database, host: PluginHost
) -> None:
    """The shortcut's own case: Compétent's evidence waits, and counts once Intermédiaire is reached."""
    est_id = _world(db, host)

    def send(*statements: dict[str, Any]) -> None:
        with db.session() as s:
            ingest(s, host, est_id, [f for f in parse_batch(list(statements), utcnow()) if f])

    def a_levels() -> dict[str, str]:
        with db.session() as s:
            rows = s.execute(
                select(Level.label, Validation.status)
                .join(Validation, Validation.level_id == Level.id)
                .join(Competency, Competency.id == Level.competency_id)
                .where(Competency.code == "A")
            ).all()
        return dict(rows)

    send(_statement("1", 1, "done", 1), _statement("1", 5, "done", 2))  # Novice, and Compétent's evidence
    assert a_levels() == {"Novice": "validated"}
    send(_statement("1", 2, "done", 3))  # one of the two Intermédiaire needs: still nothing above Novice
    assert a_levels() == {"Novice": "validated"}
    send(_statement("1", 4, "done", 4))  # the second: Intermédiaire, and the waiting Compétent with it
    assert a_levels() == {"Novice": "validated", "Intermédiaire": "validated", "Compétent": "validated"}
    send(_statement("1", 2, "uncompleted", 5))  # Intermédiaire loses its evidence, Compétent follows
    assert a_levels() == {"Novice": "validated", "Intermédiaire": "revoked", "Compétent": "revoked"}


def test_a_batch_touching_more_competencies_than_one_statement_can_read(
    db: Database, host: PluginHost
) -> None:
    """SQLite refuses a compound SELECT of more than 500 branches: the reads go in several."""
    _wipe(db.engine)
    many = {
        "code": "wide",
        "title": "Wide",
        "competencies": [{"code": f"W{i}", "title": f"W{i}"} for i in range(600)],
    }
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a", framework=many, badges=False)
        for i in range(600):
            helpers.tag(s, t, [1000 + i], f"W{i}", "Novice")
            helpers.tag(s, t, [2000 + i], f"W{i}", "Intermédiaire")
        est_id = t.est.id
    first = [_statement("1", 1000 + i, "done", i) for i in range(600)]
    then = [_statement("1", 2000 + i, "done", 600 + i) for i in range(600)]
    for batch in (first, then):  # 600 competencies in each
        with db.session() as s:
            ingest(s, host, est_id, [f for f in parse_batch(batch, utcnow()) if f])
    with db.session() as s:
        statuses = s.scalars(select(Validation.status)).all()
    assert len(statuses) == 1200 and set(statuses) == {"validated"}
