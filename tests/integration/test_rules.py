"""The rules engine, one test per rule as the programmes state them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from acquis.core import establishments, jury, tags
from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.ingest import ingest
from acquis.core.models import Award, BadgeClass, Competency, Level, Validation, ValidationEvent, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.xapi import content_hash, parse_batch
from tests import helpers
from tests.conftest import PUBLIC_URL

FACETED = {
    "code": "centrale",
    "title": "Centrale",
    "competencies": [
        {
            "code": "INNOV",
            "title": "Innovation",
            "facets": [
                {"code": "INNOV.1", "title": "Faire émerger"},
                {"code": "INNOV.2", "title": "Oser"},
            ],
        }
    ],
}


def send(db: Database, host: PluginHost, *statements: dict[str, Any], slug: str = "univ-a") -> None:
    with db.session() as s:
        est = establishments.get(s, slug)
        ingest(s, host, est.id, [f for f in parse_batch(list(statements), utcnow()) if f])


def statuses(db: Database, competency: str = "C1") -> dict[str, str]:
    """Level label → validation status of ``competency``, for the (single) learner."""
    with db.session() as s:
        rows = s.execute(
            select(Level.label, Validation.status)
            .join(Validation, Validation.level_id == Level.id)
            .join(Competency, Competency.id == Level.competency_id)
            .where(Competency.code == competency)
        ).all()
    return {label: status for label, status in rows}


def award_statuses(db: Database) -> list[str]:
    with db.session() as s:
        return [a.status for a in s.scalars(select(Award).order_by(Award.id))]


@pytest.fixture
def tenant(db: Database, host: PluginHost) -> helpers.Tenant:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        helpers.tag(s, t, [1], "C1", "Novice")
        helpers.tag(s, t, [2], "C1", "Intermédiaire")
    return t


def test_a_level_waits_for_the_previous_one_and_counts_once_it_is_reached(
    db: Database, host: PluginHost, tenant: helpers.Tenant
) -> None:
    send(db, host, helpers.statement(cmid=2))  # Intermédiaire evidence arrives first
    assert statuses(db) == {}  # not reached yet: the evidence is kept as the completion itself
    assert award_statuses(db) == []
    send(db, host, helpers.statement(cmid=1))  # then Novice
    assert statuses(db) == {"Novice": "validated", "Intermédiaire": "validated"}
    assert award_statuses(db) == ["pending", "pending"]


def test_completed_with_success_false_is_a_fail(
    db: Database, host: PluginHost, tenant: helpers.Tenant
) -> None:
    send(db, host, helpers.statement(cmid=1, success=False))
    assert statuses(db) == {}


def test_success_trigger_needs_a_pass_not_just_a_completion(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        helpers.tag(s, t, [5], "C2", "Novice", trigger="success")
    send(db, host, helpers.statement(cmid=5, success=None))
    assert statuses(db, "C2") == {}
    send(db, host, helpers.statement(cmid=5, success=True, timestamp="2030-01-01T00:00:00Z"))
    assert statuses(db, "C2") == {"Novice": "validated"}


def test_min_grade_trigger(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        helpers.tag(s, t, [7], "C2", "Novice", trigger="min_grade", min_grade=0.6)
    send(db, host, helpers.statement(cmid=7, scaled=0.59, timestamp="2030-01-01T00:00:00Z"))
    assert statuses(db, "C2") == {}
    send(db, host, helpers.statement(cmid=7, scaled=0.6, timestamp="2030-01-02T00:00:00Z"))
    assert statuses(db, "C2") == {"Novice": "validated"}


def test_any_two_of_four_activities(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        helpers.tag(s, t, [11, 12, 13, 14], "C2", "Novice", required=2)
    send(db, host, helpers.statement(cmid=13))
    assert statuses(db, "C2") == {}
    send(db, host, helpers.statement(cmid=11))
    assert statuses(db, "C2") == {"Novice": "validated"}
    with db.session() as s:
        v = s.scalars(select(Validation)).one()
        assert len(v.evidence) == 2


def test_uncompleted_revokes_the_validation_its_award_and_what_rested_on_it(
    db: Database, host: PluginHost, tenant: helpers.Tenant
) -> None:
    send(db, host, helpers.statement(cmid=1), helpers.statement(cmid=2))
    Deliverer(db, host, "w", PUBLIC_URL).run_once()
    assert award_statuses(db) == ["issued", "issued"]
    send(db, host, helpers.statement(cmid=1, verb="uncompleted", timestamp="2030-01-01T00:00:00Z"))
    assert statuses(db) == {"Novice": "revoked", "Intermédiaire": "revoked"}
    with db.session() as s:
        reasons = {level: why for level, why in s.execute(select(Validation.level_id, Validation.reason))}
        assert sorted(reasons.values()) == ["evidence withdrawn", "previous level no longer validated"]
    assert award_statuses(db) == ["revoked", "revoked"]
    with db.session() as s:
        novice = s.scalars(select(Validation).order_by(Validation.id)).first()
        assert novice is not None
        trail = s.scalars(
            select(ValidationEvent.status)
            .where(ValidationEvent.validation_id == novice.id)
            .order_by(ValidationEvent.id)
        ).all()
        assert trail == ["validated", "revoked"]  # kept, not deleted
    # Earned again: a new award, the revoked one stays revoked.
    send(db, host, helpers.statement(cmid=1, timestamp="2030-02-01T00:00:00Z"))
    assert statuses(db) == {"Novice": "validated", "Intermédiaire": "validated"}
    assert award_statuses(db) == ["revoked", "revoked", "pending", "pending"]


def test_a_level_added_after_other_competencies_is_reconciled_like_the_others(
    db: Database, host: PluginHost, tenant: helpers.Tenant
) -> None:
    """The engine reads a competency's validations by the span of its level ids: a level added
    later has an id past those of other competencies, and is still found (and those between,
    of other competencies, are not taken for its own)."""
    with db.session() as s:
        c1 = s.scalars(select(Competency).where(Competency.code == "C1")).one()
        s.add(Level(competency_id=c1.id, rank=6, code="MAITRE", label="Maître"))
        s.flush()
        for rank, label in enumerate(["Compétent", "Avancé", "Expert", "Maître"], start=3):
            helpers.tag(s, tenant, [rank], "C1", label)
        helpers.tag(s, tenant, [10], "C2", "Novice")
    send(db, host, *(helpers.statement(cmid=c) for c in (1, 2, 3, 4, 5, 6, 10)))
    assert statuses(db)["Maître"] == "validated" and statuses(db, "C2") == {"Novice": "validated"}
    send(db, host, helpers.statement(cmid=6, verb="uncompleted", timestamp="2030-01-01T00:00:00Z"))
    assert statuses(db) == {
        **dict.fromkeys(["Novice", "Intermédiaire", "Compétent", "Avancé", "Expert"], "validated"),
        "Maître": "revoked",
    }
    assert statuses(db, "C2") == {"Novice": "validated"}
    send(db, host, helpers.statement(cmid=6, timestamp="2030-02-01T00:00:00Z"))
    assert statuses(db)["Maître"] == "validated"
    with db.session() as s:  # one validation per level, revoked then validated again
        assert s.scalar(select(func.count()).select_from(Validation)) == 7


def test_jury_approval_rejection_and_reversal(db: Database, host: PluginHost, tenant: helpers.Tenant) -> None:
    with db.session() as s:
        s.execute(update(BadgeClass).values(requires_approval=True))
    send(db, host, helpers.statement(cmid=1))
    assert statuses(db) == {"Novice": "pending_approval"}
    assert award_statuses(db) == []
    with db.session() as s:
        vid = s.scalars(select(Validation.id)).one()
        jury.decide(s, host, tenant.est.id, vid, "approved", by="Prof. Martin", reason="oral convaincant")
    assert statuses(db) == {"Novice": "validated"}
    assert award_statuses(db) == ["pending"]
    with db.session() as s:
        v = s.get(Validation, vid)
        assert v is not None and v.decided_by == "Prof. Martin" and v.reason == "oral convaincant"
        jury.decide(s, host, tenant.est.id, vid, "rejected", by="Jury plénier", reason="plagiat")
    assert statuses(db) == {"Novice": "rejected"}
    assert award_statuses(db) == ["revoked"]


def test_a_jury_cannot_decide_for_another_establishment(
    db: Database, host: PluginHost, tenant: helpers.Tenant
) -> None:
    with db.session() as s:
        s.execute(update(BadgeClass).values(requires_approval=True))
        other = helpers.make_tenant(s, host, "univ-b")
    send(db, host, helpers.statement(cmid=1))
    from acquis.core.errors import NotFound

    with db.session() as s:
        vid = s.scalars(select(Validation.id)).one()
        with pytest.raises(NotFound):
            jury.decide(s, host, other.est.id, vid, "approved", by="intrus")
    assert statuses(db) == {"Novice": "pending_approval"}


def test_a_level_of_a_competency_is_reached_when_its_facets_are(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a", framework=FACETED)
        helpers.tag(s, t, [21], "INNOV.1", "Novice")
        helpers.tag(s, t, [22], "INNOV.2", "Novice")
    send(db, host, helpers.statement(cmid=21))
    assert statuses(db, "INNOV") == {}
    send(db, host, helpers.statement(cmid=22))
    assert statuses(db, "INNOV") == {"Novice": "validated"}
    with db.session() as s:
        parent = s.scalars(select(Validation).where(Validation.method == "facets")).one()
        assert len(parent.evidence) == 2
    assert award_statuses(db) == ["pending"]  # badges for the competency, not for its facets


def test_a_new_tag_applies_to_completions_already_received(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        helpers.make_tenant(s, host, "univ-a")
    send(db, host, helpers.statement(cmid=9))
    assert statuses(db, "C2") == {}
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        rule = tags.add_rule(
            s, est, tags.find_level(s, est, "C2", "novice"), [f"{helpers.MOODLE}/mod/book/view.php?id=9"]
        )
        assert tags.apply_to_past(s, host, est, rule) == 1
    assert statuses(db, "C2") == {"Novice": "validated"}


@pytest.mark.parametrize("first", ["done", "withdrawn"])
def test_statements_of_the_same_instant_are_ordered_by_content_not_by_arrival(
    db: Database, host: PluginHost, tenant: helpers.Tenant, first: str
) -> None:
    """A completion and its withdrawal stamped with the same instant: the one whose content
    hash is the larger stands, whichever came first (in one batch or in two)."""
    same = "2030-01-01T10:00:00Z"
    done = helpers.statement(cmid=1, timestamp=same)
    withdrawn = helpers.statement(cmid=1, verb="uncompleted", timestamp=same)
    stands = max((done, withdrawn), key=content_hash)
    expected = {"Novice": "validated"} if stands is done else {}
    pair = [done, withdrawn] if first == "done" else [withdrawn, done]
    send(db, host, pair[0])
    send(db, host, pair[1])
    assert {k: v for k, v in statuses(db).items() if v != "revoked"} == expected
    send(db, host, *reversed(pair))  # both again, in one batch: nothing changes
    assert {k: v for k, v in statuses(db).items() if v != "revoked"} == expected


EVENTS = [
    helpers.statement(cmid=1, timestamp="2030-01-01T10:00:00Z"),
    helpers.statement(cmid=2, timestamp="2030-01-01T11:00:00Z"),
    helpers.statement(cmid=3, timestamp="2030-01-01T12:00:00Z"),
    helpers.statement(cmid=1, verb="uncompleted", timestamp="2030-01-02T10:00:00Z"),
    helpers.statement(cmid=1, timestamp="2030-01-03T10:00:00Z"),
    helpers.statement(cmid=2, success=False, timestamp="2030-01-04T10:00:00Z"),
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(EVENTS))), split=st.integers(min_value=1, max_value=len(EVENTS)))
def test_outcome_depends_on_facts_not_on_arrival_order_or_repetition(
    db: Database, host: PluginHost, order: list[int], split: int
) -> None:
    from tests.conftest import _wipe

    _wipe(db.engine)
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        helpers.tag(s, t, [1], "C1", "Novice")
        helpers.tag(s, t, [2], "C1", "Intermédiaire")
        helpers.tag(s, t, [3], "C1", "Compétent")
    shuffled = [EVENTS[i] for i in order]
    send(db, host, *shuffled[:split])
    if shuffled[split:]:
        send(db, host, *shuffled[split:])
    send(db, host, *reversed(shuffled))  # everything again: nothing changes
    # From the facts: cmid 1 done (latest), cmid 2 failed (latest), cmid 3 done.
    # Revoked rows are history and depend on what was seen in between; what is reached is not.
    assert {k: v for k, v in statuses(db).items() if v != "revoked"} == {"Novice": "validated"}
    with db.session() as s:
        live = [a for a in s.scalars(select(Award)) if a.status != "revoked"]
        assert len(live) == 1  # one live Novice badge, never two
