"""Points programmes and certifications in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acquis.core import certification, frameworks, ingest, points, xapi
from acquis.core.db import Database
from acquis.core.errors import Conflict, InvalidInput, NotFound
from acquis.core.models import (
    ActionTag,
    Activity,
    CertificationResult,
    CompetencyRating,
    Completion,
    EarnedPoints,
    Establishment,
    Learner,
    Programme,
    ProgrammeAction,
    SemesterDecision,
)
from acquis.core.plugins import PluginHost
from tests import helpers

S1, S2 = "2025-2026-S1", "2025-2026-S2"
IN_S1 = datetime(2025, 10, 6, 9, tzinfo=UTC)
PROG = "engagement"


def url(cmid: int) -> str:
    return f"{helpers.MOODLE}/mod/book/view.php?id={cmid}"


def setup(s: Session, host: PluginHost, slug: str = "ecole-a") -> Establishment:
    est = helpers.make_tenant(s, host, slug).est
    points.import_programme(s, est, points.sample_definition())
    return est


def learner(s: Session, est: Establishment, name: str = "Alice") -> int:
    row = Learner(establishment_id=est.id, display_name=name)
    s.add(row)
    s.flush()
    return row.id


_seq = itertools.count(1)


def complete(
    s: Session, est: Establishment, learner_id: int, cmid: int, state: str = "completed", at: datetime = IN_S1
) -> tuple[int, int]:
    """A completion stored as ingest stores it; returns the (learner, activity) pair ingest reports."""
    from acquis.core.tags import get_or_create_activity

    activity = get_or_create_activity(s, est, url(cmid))
    n = next(_seq)
    s.add(
        Completion(
            establishment_id=est.id,
            learner_id=learner_id,
            activity_id=activity.id,
            state=state,
            occurred_at=at,
            content_hash=hashlib.sha256(str(n).encode()).hexdigest(),  # as distinct as real ones
        )
    )
    s.flush()
    return learner_id, activity.id


def total(s: Session, est: Establishment, learner_id: int, period: str = S1) -> int:
    return points.semester_result(s, est, PROG, learner_id, period).points


def mandatory_done(s: Session, est: Establishment, learner_id: int) -> None:
    for action in ("bilan-engagement", "fresque-climat"):
        points.grant_points(
            s,
            est,
            PROG,
            learner_id,
            action,
            S1,
            1 if action.startswith("bilan") else 2,
            "M. Durand",
            "done in person",
        )


# ---- definitions ------------------------------------------------------------------------


def test_the_sample_programme_imports_once(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = setup(s, host)
        prog = points.get_programme(s, est, PROG)
        assert len(prog.actions) == 11 and [p.code for p in prog.periods] == [S1, S2]
        with pytest.raises(Conflict):
            points.import_programme(s, est, points.sample_definition())
    with db.session() as s:
        est = s.scalars(select(Establishment)).one()
        again = points.definition_of(points.get_programme(s, est, PROG))
        assert again == points.parse_programme(points.sample_definition())  # nothing lost on the way


def test_an_invalid_programme_writes_nothing(db: Database, host: PluginHost) -> None:
    data = points.sample_definition()
    data["code"] = "other"
    data["actions"][-1]["points"] = {"min": 3, "max": 1}
    with db.session() as s:
        est = helpers.make_tenant(s, host, "ecole-a").est
        with pytest.raises(InvalidInput) as caught:
            points.import_programme(s, est, data)
        assert caught.value.field == "actions[10].points.max"
        assert s.scalar(select(func.count()).select_from(Programme)) == 0
        assert s.scalar(select(func.count()).select_from(ProgrammeAction)) == 0


# ---- tagging and earning ----------------------------------------------------------------


def test_tagging_outside_the_action_s_range_is_refused_and_writes_nothing(
    db: Database, host: PluginHost
) -> None:
    with db.session() as s:
        est = setup(s, host)
        for value in (1, 7, None):
            with pytest.raises(InvalidInput) as caught:
                points.tag_activity(s, est, PROG, "challenge", url(5), value)
            assert caught.value.field == "points"
        with pytest.raises(InvalidInput) as caught:
            points.tag_activity(s, est, PROG, "karaoke", url(5), 1)
        assert caught.value.field == "action"
        assert s.scalar(select(func.count()).select_from(ActionTag)) == 0
        assert s.scalar(select(func.count()).select_from(Activity)) == 0
        fixed = points.tag_activity(s, est, PROG, "conference", url(5))  # a fixed value needs none
        assert fixed.points == 1


def test_a_completion_of_a_tagged_activity_earns_its_value(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = setup(s, host)
        points.tag_activity(s, est, PROG, "challenge", url(1), 5, created_by="prof")
        points.tag_activity(s, est, PROG, "conference", url(2))
        alice = learner(s, est)
        points.on_completions(s, est.id, [complete(s, est, alice, 1), complete(s, est, alice, 2, "passed")])
        r = points.semester_result(s, est, PROG, alice, S1)
        assert r.points == 6 and r.points_by_axis == {"innovation": 5, "school": 1}
        assert total(s, est, alice, S2) == 0


def test_a_failed_completion_earns_nothing(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = setup(s, host)
        points.tag_activity(s, est, PROG, "challenge", url(1), 5)
        alice = learner(s, est)
        points.on_completions(s, est.id, [complete(s, est, alice, 1, "failed")])
        assert total(s, est, alice) == 0
        assert s.scalars(select(EarnedPoints.status)).one() == "not_completed"


def test_a_later_uncompleted_withdraws_the_points(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = setup(s, host)
        points.tag_activity(s, est, PROG, "challenge", url(1), 5)
        alice = learner(s, est)
        points.on_completions(s, est.id, [complete(s, est, alice, 1)])
        assert total(s, est, alice) == 5
        points.on_completions(
            s, est.id, [complete(s, est, alice, 1, "incomplete", IN_S1 + timedelta(hours=1))]
        )
        assert total(s, est, alice) == 0
        row = s.scalars(select(EarnedPoints)).one()  # kept, marked, not deleted
        assert (row.status, row.points) == ("not_completed", 0)


def test_tagging_after_the_fact_counts_past_completions(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = setup(s, host)
        alice = learner(s, est)
        points.on_completions(s, est.id, [complete(s, est, alice, 3)])  # not tagged yet: nothing
        assert s.scalar(select(func.count()).select_from(EarnedPoints)) == 0
        points.tag_activity(s, est, PROG, "benevolat", url(3), 2)
        assert total(s, est, alice) == 2
        points.tag_activity(s, est, PROG, "benevolat", url(3), 4)  # re-valued: recomputed
        assert total(s, est, alice) == 4


def test_arrival_order_does_not_change_the_result(db: Database, host: PluginHost) -> None:
    events = [
        (1, "completed", 0),
        (1, "incomplete", 2),
        (2, "passed", 1),
        (2, "failed", 3),
        (3, "completed", 5),
    ]
    results = []
    for n, order in enumerate((events, list(reversed(events)), events[2:] + events[:2])):
        with db.session() as s:
            est = setup(s, host, f"ecole-{n}")
            for cmid, action, value in ((1, "challenge", 3), (2, "challenge", 6), (3, "conference", None)):
                points.tag_activity(s, est, PROG, action, url(cmid), value)
            alice = learner(s, est)
            for cmid, state, hours in order:
                points.on_completions(
                    s, est.id, [complete(s, est, alice, cmid, state, IN_S1 + timedelta(hours=hours))]
                )
            results.append(points.semester_result(s, est, PROG, alice, S1))
    assert results[0] == results[1] == results[2]
    assert results[0].points == 1


def test_statements_through_ingest_earn_points(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = setup(s, host)
        points.tag_activity(s, est, PROG, "challenge", url(7), 4)
        facts = [
            f
            for f in xapi.parse_batch(
                [helpers.statement(user="42", cmid=7, timestamp="2025-11-02T10:00:00Z")], datetime.now(UTC)
            )
            if f is not None
        ]
        ingest.ingest(s, host, est.id, facts)
        pairs = [(lid, aid) for lid, aid in s.execute(select(Completion.learner_id, Completion.activity_id))]
        points.on_completions(s, est.id, pairs)
        (learner_id,) = {p[0] for p in pairs}
        assert total(s, est, learner_id) == 4


def test_on_completions_ignores_untagged_activities_and_other_establishments(
    db: Database, host: PluginHost
) -> None:
    with db.session() as s:
        est = setup(s, host)
        other = helpers.make_tenant(s, host, "ecole-b").est
        points.tag_activity(s, est, PROG, "challenge", url(1), 4)
        bob = learner(s, other, "Bob")
        points.on_completions(s, other.id, [complete(s, other, bob, 1)])
        points.on_completions(s, est.id, [])
        assert s.scalar(select(func.count()).select_from(EarnedPoints)) == 0


# ---- grants, decisions, results ---------------------------------------------------------


def test_a_teacher_grant_counts_and_is_recorded(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = setup(s, host)
        alice = learner(s, est)
        grant = points.grant_points(
            s, est, PROG, alice, "challenge", S1, 6, "Mme Roux", "won the regional final"
        )
        assert (grant.granted_by, grant.reason) == ("Mme Roux", "won the regional final")
        assert grant.granted_at is not None and total(s, est, alice) == 6
        points.revoke_grant(s, est, grant.id, "Mme Roux", "entered twice")
        assert total(s, est, alice) == 0


def test_a_grant_is_checked_before_it_is_written(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = setup(s, host)
        alice = learner(s, est)
        bad: list[tuple[dict[str, Any], str]] = [
            ({"points": 7}, "points"),
            ({"by": " "}, "by"),
            ({"reason": ""}, "reason"),
            ({"period": "S9"}, "period"),
            ({"action": "karaoke"}, "action"),
        ]
        for change, field in bad:
            args: dict[str, Any] = {
                "action": "challenge",
                "period": S1,
                "points": 3,
                "by": "M. Durand",
                "reason": "talk",
            } | change
            with pytest.raises(InvalidInput) as caught:
                points.grant_points(
                    s,
                    est,
                    PROG,
                    alice,
                    args["action"],
                    args["period"],
                    args["points"],
                    args["by"],
                    args["reason"],
                )
            assert caught.value.field == field
        with pytest.raises(NotFound):
            points.grant_points(s, est, PROG, alice + 1000, "challenge", S1, 3, "M. Durand", "talk")
        assert total(s, est, alice) == 0


def test_mandatory_actions_missing_cap_the_grade(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = setup(s, host)
        alice = learner(s, est)
        for i in range(5):
            points.grant_points(s, est, PROG, alice, "challenge", S1, 6, "M. Durand", f"challenge {i}")
        r = points.semester_result(s, est, PROG, alice, S1)
        assert r.points == 30 and r.missing_mandatory == ("fresque-climat", "bilan-engagement")
        assert r.grade == Decimal("9.99") and r.status == "failed"
        mandatory_done(s, est, alice)
        r = points.semester_result(s, est, PROG, alice, S1)
        assert r.points == 33 and r.complete and r.grade == Decimal("17.90")


def test_a_supervisor_route_overrides_points(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = setup(s, host)
        alice = learner(s, est)
        with pytest.raises(InvalidInput) as caught:
            points.record_route(
                s, est, PROG, alice, S1, "entrepreneuriat", "12.345", "Dr Martin", "incubated"
            )
        assert caught.value.field == "grade"
        with pytest.raises(InvalidInput) as caught:
            points.record_route(s, est, PROG, alice, S1, "sport", 12, "Dr Martin", "incubated")
        assert caught.value.field == "route"
        d = points.record_route(s, est, PROG, alice, S1, "entrepreneuriat", "13.75", "Dr Martin", "incubated")
        assert (d.grade_centi, d.decided_by, d.reason) == (1375, "Dr Martin", "incubated")
        r = points.semester_result(s, est, PROG, alice, S1)
        assert (r.grade, r.basis, r.route) == (Decimal("13.75"), "route", "entrepreneuriat")
        points.record_route(s, est, PROG, alice, S1, "entrepreneuriat", 15, "Dr Martin", "revised")
        assert points.semester_result(s, est, PROG, alice, S1).grade == Decimal("15.00")
        d = s.scalars(select(SemesterDecision)).one()
        assert [h["grade"] for h in d.history] == ["13.75", "15.00"]
        points.withdraw_decision(s, est, PROG, alice, S1, "route", "Dr Martin", "left the incubator")
        assert points.semester_result(s, est, PROG, alice, S1).basis == "points"


def test_an_exemption_gives_no_grade_and_records_why(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = setup(s, host)
        alice = learner(s, est)
        with pytest.raises(InvalidInput) as caught:
            points.record_exemption(s, est, PROG, alice, S1, "Direction des études", "")
        assert caught.value.field == "reason"
        points.record_exemption(s, est, PROG, alice, S1, "Direction des études", "semester abroad")
        r = points.semester_result(s, est, PROG, alice, S1)
        assert (r.grade, r.status, r.reason) == (None, "exempt", "semester abroad")
        with pytest.raises(InvalidInput):  # nothing to resit
            points.record_resit(s, est, PROG, alice, S1, True, "jury")


def test_resit_passed_gives_ten_and_failed_keeps_the_grade(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = setup(s, host)
        alice, bob, carol = learner(s, est), learner(s, est, "Bob"), learner(s, est, "Carol")
        for who in (alice, bob, carol):
            mandatory_done(s, est, who)  # 3 points: 4.80/20
        points.grant_points(s, est, PROG, carol, "challenge", S1, 6, "M. Durand", "hackathon")  # 9 → 9.60
        points.grant_points(
            s, est, PROG, carol, "projet-innovation", S1, 5, "M. Durand", "fablab"
        )  # 14 → 11.60
        points.record_resit(s, est, PROG, alice, S1, True, "jury", "oral")
        points.record_resit(s, est, PROG, bob, S1, False, "jury")
        assert points.semester_result(s, est, PROG, alice, S1).grade == Decimal("10.00")
        assert points.semester_result(s, est, PROG, bob, S1).grade == Decimal("4.80")
        with pytest.raises(InvalidInput) as caught:
            points.record_resit(s, est, PROG, carol, S1, True, "jury")
        assert caught.value.field == "resit" and "11.60" in str(caught.value)
        results = points.semester_results(s, est, PROG, S1)
        assert [(lid, r.grade) for lid, r in results.items()] == [
            (alice, Decimal("10.00")),
            (bob, Decimal("4.80")),
            (carol, Decimal("11.60")),
        ]


# ---- certification ----------------------------------------------------------------------

RNCP = {
    "code": "rncp-dev",
    "title": "Concepteur développeur d'applications",
    "scale": {
        "levels": ["Non acquis", "En cours d'acquisition", "Acquis", "Maîtrisé"],
        "start": 0,
        "pass": 2,
    },
    "blocks": [
        {
            "code": "BC01",
            "title": "Concevoir",
            "competencies": [
                {
                    "code": "C1",
                    "title": "Analyser le besoin",
                    "facets": [{"code": "C1.a", "title": "Écouter"}],
                },
                {"code": "C2", "title": "Modéliser"},
            ],
        },
        {"code": "BC02", "title": "Développer", "competencies": [{"code": "C3", "title": "Coder"}]},
    ],
    "competencies": [{"code": "X1", "title": "Hors bloc"}],
}


def cert_setup(s: Session, host: PluginHost) -> tuple[Establishment, int]:
    est = helpers.make_tenant(s, host, "ecole-a").est
    frameworks.import_definition(s, est, copy.deepcopy(RNCP))
    return est, learner(s, est, "Candidate")


def test_ratings_give_the_outcome_and_it_is_kept(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est, cand = cert_setup(s, host)
        out = certification.record_ratings(s, est, "rncp-dev", cand, {"C1": 2, "C3": 3}, "Jury 2026")
        assert (
            out.outcome == "validated_in_part" and out.passed_blocks == ("BC02",) and out.unrated == ("C2",)
        )
        out = certification.record_ratings(s, est, "rncp-dev", cand, {"C2": 2}, "Jury 2026", source="jury")
        assert out.outcome == "validated_in_full"
        out = certification.record_ratings(
            s, est, "rncp-dev", cand, {"C3": 1}, "Moodle", source="moodle-competencies"
        )
        assert out.outcome == "validated_in_part" and out.passed_blocks == ("BC01",)
        assert certification.outcome(s, est, "rncp-dev", cand) == out
        kept = s.scalars(select(CertificationResult)).one()
        assert kept.outcome == "validated_in_part" and kept.passed_blocks == ["BC01"]
        assert [h["outcome"] for h in kept.history] == [
            "validated_in_part",
            "validated_in_full",
            "validated_in_part",
        ]
        c3 = s.scalars(select(CompetencyRating).where(CompetencyRating.rating == 1)).one()
        assert (c3.source, c3.rated_by) == ("moodle-competencies", "Moodle")
        assert [h["rating"] for h in c3.history] == [3, 1]


def test_a_sheet_with_one_bad_rating_writes_nothing(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est, cand = cert_setup(s, host)
        for ratings, field in (
            ({"C1": 3, "C2": 4}, "ratings.C2"),
            ({"C1": -1}, "ratings.C1"),
            ({"C1.a": 3}, "ratings.C1.a"),  # a facet is not rated on its own
            ({"X1": 3}, "ratings.X1"),  # outside every block
            ({}, "ratings"),
        ):
            with pytest.raises(InvalidInput) as caught:
                certification.record_ratings(s, est, "rncp-dev", cand, ratings, "Jury")
            assert caught.value.field == field
        with pytest.raises(InvalidInput) as caught:
            certification.record_ratings(s, est, "rncp-dev", cand, {"C1": 3}, "")
        assert caught.value.field == "by"
        assert s.scalar(select(func.count()).select_from(CompetencyRating)) == 0


def test_a_framework_without_a_pass_mark_cannot_certify(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        est = helpers.make_tenant(s, host, "ecole-a").est  # the demo framework: progressive badges
        cand = learner(s, est)
        with pytest.raises(InvalidInput) as caught:
            certification.record_ratings(s, est, "demo", cand, {"C1": 2}, "Jury")
        assert caught.value.field == "framework"
