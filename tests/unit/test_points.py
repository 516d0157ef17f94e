"""Points programmes, the pure rules: one test per rule of acquis.core.points' docstring."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acquis.core import points
from acquis.core.errors import InvalidInput
from acquis.core.points import (
    CompletionRow,
    Exemption,
    PointItem,
    ProgrammeDef,
    Resit,
    RouteGrade,
    TagDef,
    compute_semester,
    earn,
    parse_programme,
)

S1, S2 = "S1", "S2"
PROGRAMME: dict[str, Any] = {
    "code": "engagement",
    "title": "Engagement",
    "timezone": "Europe/Paris",
    "categories": [{"code": "hard", "label": "Hard skills"}, {"code": "soft", "label": "Soft skills"}],
    "axes": ["school", "innovation", "good", "pro"],
    "periods": [
        {"code": S1, "title": "Autumn", "starts": "2025-09-01", "ends": "2026-01-31"},
        {"code": S2, "title": "Spring", "starts": "2026-02-01", "ends": "2026-07-31"},
    ],
    "actions": [
        {"code": "conference", "title": "Conference", "category": "soft", "axis": "school", "points": 1},
        {
            "code": "challenge",
            "title": "Challenge",
            "category": "hard",
            "axis": "innovation",
            "points": {"min": 2, "max": 6},
        },
        {"code": "volunteer", "title": "Volunteering", "category": "soft", "axis": "good", "points": 3},
        {
            "code": "review",
            "title": "Half-year review",
            "category": "soft",
            "axis": "pro",
            "points": 1,
            "mandatory": True,
        },
        {
            "code": "fair",
            "title": "Careers fair",
            "category": "soft",
            "axis": "pro",
            "points": 1,
            "mandatory": [S2],
        },
    ],
    "grading": {
        "mapping": {"kind": "linear", "steps": [[0, 0], [5, 8], [10, 10], [20, 14], [30, 20]]},
        "incomplete": {"policy": "cap", "cap": 9.99},
    },
    "routes": [{"code": "engagement-etudiant", "label": "Engagement étudiant"}, "entrepreneuriat"],
}


def programme(**changes: Any) -> ProgrammeDef:
    data = copy.deepcopy(PROGRAMME)
    data.update(changes)
    return parse_programme(data)


def invalid(data: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_programme(data)
    return caught.value


def changed(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(PROGRAMME)
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


IN_S1 = datetime(2025, 10, 1, 12, tzinfo=UTC)
TAGS = [
    TagDef(1, 101, "conference", 1),
    TagDef(2, 102, "challenge", 4),
    TagDef(3, 103, "review", 1),
    TagDef(4, 104, "volunteer", 3),
]


def completion(
    cid: int,
    activity: int,
    state: str = "completed",
    at: datetime = IN_S1,
    learner: int = 1,
    digest: str = "",
) -> CompletionRow:
    return CompletionRow(cid, learner, activity, state, at, digest or f"h{cid:04d}")


def items(earned: list[points.Earned], period: str = S1) -> list[PointItem]:
    return [PointItem(e.action, e.points) for e in earned if e.status == "counted" and e.period == period]


def result(
    earned_items: list[PointItem], period: str = S1, prog: ProgrammeDef | None = None, **kw: Any
) -> points.SemesterResult:
    return compute_semester(prog or programme(), period, earned_items, **kw)


def with_review(n: int) -> list[PointItem]:
    """``n`` points, the mandatory review included."""
    return [PointItem("review", 1), *[PointItem("conference", 1)] * (n - 1)]


# ---- definitions ------------------------------------------------------------------------


def test_an_action_refuses_a_value_outside_its_range() -> None:
    challenge = programme().action("challenge")
    assert challenge.check_points(2) == 2 and challenge.check_points(6) == 6
    for value in (1, 7):
        with pytest.raises(InvalidInput) as caught:
            challenge.check_points(value)
        assert caught.value.field == "points" and "2 to 6" in str(caught.value)


def test_a_fixed_value_action_refuses_any_other_value() -> None:
    with pytest.raises(InvalidInput, match="exactly 1"):
        programme().action("conference").check_points(2)
    with pytest.raises(InvalidInput, match="whole number"):
        programme().action("conference").check_points(1.5)


def test_errors_in_a_definition_name_the_field() -> None:
    assert invalid(changed(["actions", 1, "axis"], "sport")).field == "actions[1].axis"
    assert invalid(changed(["actions", 0, "category"], "other")).field == "actions[0].category"
    assert invalid(changed(["actions", 1, "points"], {"min": 6, "max": 2})).field == "actions[1].points.max"
    assert invalid(changed(["actions", 4, "mandatory"], ["S9"])).field == "actions[4].mandatory[0]"
    assert invalid(changed(["actions", 1, "code"], "conference")).field == "actions[1].code"
    assert invalid(changed(["periods", 1, "starts"], "2026-01-15")).field == "periods[1]"
    assert invalid(changed(["periods", 0, "ends"], "2025-08-01")).field == "periods[0].ends"
    assert invalid(changed(["timezone"], "Mars/Olympus")).field == "timezone"
    assert invalid(changed(["grading", "incomplete", "cap"], 10)).field == "grading.incomplete.cap"
    assert invalid(changed(["axes"], [])).field == "axes"
    assert invalid([]).field is None


def test_mapping_must_be_well_formed() -> None:
    where = "grading.mapping"
    bad = {
        "steps[2].grade": [[0, 0], [5, 8], [10, 7]],  # a grade going down
        "steps[1].points": [[0, 0], [0, 8]],  # points not increasing
        "steps[0]": [[2, 0], [5, 8]],  # a linear mapping starts at 0 points
        "steps[1].grade": [[0, 0], [5, 20.5]],  # above 20
    }
    for field, steps in bad.items():
        error = invalid(changed(["grading", "mapping"], {"kind": "linear", "steps": steps}))
        assert error.field == f"{where}.{field}", field
    three_decimals = invalid(
        changed(["grading", "mapping"], {"kind": "linear", "steps": [[0, 0], [5, 8.125]]})
    )
    assert three_decimals.field == f"{where}.steps[1].grade" and "two decimals" in str(three_decimals)
    assert invalid(changed(["grading", "mapping"], {"kind": "curve", "steps": []})).field == f"{where}.kind"


def test_the_sample_programme_is_a_realistic_engagement_programme() -> None:
    sample = parse_programme(points.sample_definition())
    assert {c.code for c in sample.categories} == {"hard", "soft"}
    assert [a.code for a in sample.axes] == ["school", "innovation", "good", "pro"]
    assert len(sample.actions) >= 10
    conference, challenge = sample.action("conference"), sample.action("challenge")
    assert (conference.min_points, conference.max_points) == (1, 1)
    assert (challenge.min_points, challenge.max_points) == (2, 6)
    for period in sample.periods:
        assert len([a for a in sample.actions if a.required_in(period.code)]) == 2
    assert {r.code for r in sample.routes} == {"engagement-etudiant", "entrepreneuriat"}
    assert sample.mapping.grade(10_000) == Decimal("20.00")


# ---- earning ----------------------------------------------------------------------------


def test_a_completed_or_passed_tagged_activity_earns_its_value() -> None:
    earned = earn(programme(), TAGS, [completion(1, 101), completion(2, 102, "passed")])
    assert [(e.action, e.points, e.status, e.period) for e in earned] == [
        ("conference", 1, "counted", S1),
        ("challenge", 4, "counted", S1),
    ]


def test_a_failed_or_incomplete_completion_earns_nothing() -> None:
    earned = earn(programme(), TAGS, [completion(1, 101, "failed"), completion(2, 102, "incomplete")])
    assert [(e.points, e.status) for e in earned] == [(0, "not_completed"), (0, "not_completed")]
    assert result(items(earned)).points == 0


def test_a_later_incomplete_withdraws_the_points() -> None:
    done = completion(1, 102, "completed", IN_S1)
    undone = completion(2, 102, "incomplete", IN_S1 + timedelta(days=1))
    assert result(items(earn(programme(), TAGS, [done]))).points == 4
    assert result(items(earn(programme(), TAGS, [done, undone]))).points == 0
    redone = completion(3, 102, "completed", IN_S1 + timedelta(days=2))
    assert result(items(earn(programme(), TAGS, [done, undone, redone]))).points == 4


def test_the_latest_completion_decides_and_ties_go_by_content_hash() -> None:
    early_completed = completion(1, 101, "completed", IN_S1 + timedelta(days=2))
    late_failed = completion(2, 101, "failed", IN_S1)  # arrives later, happened earlier
    assert earn(programme(), TAGS, [early_completed, late_failed])[0].status == "counted"
    tie_a = completion(3, 101, "completed", IN_S1, digest="aaa")
    tie_b = completion(4, 101, "incomplete", IN_S1, digest="bbb")
    for order in ([tie_a, tie_b], [tie_b, tie_a]):
        assert earn(programme(), TAGS, order)[0].completion_id == 4


def test_an_untagged_activity_earns_nothing() -> None:
    assert earn(programme(), TAGS, [completion(1, 999)]) == []


def test_a_completion_counts_in_the_period_of_its_local_date() -> None:
    # 31 January, 23:30 in Paris is still the autumn semester; 1 February 00:30 is spring.
    late_s1 = datetime(2026, 1, 31, 22, 30, tzinfo=UTC)
    early_s2 = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    earned = earn(programme(), TAGS, [completion(1, 101, at=late_s1), completion(2, 102, at=early_s2)])
    assert [(e.action, e.period) for e in earned] == [("conference", S1), ("challenge", S2)]


def test_a_completion_outside_every_period_earns_nothing() -> None:
    summer = datetime(2026, 8, 15, tzinfo=UTC)
    assert [(e.status, e.points) for e in earn(programme(), TAGS, [completion(1, 101, at=summer)])] == [
        ("outside_periods", 0)
    ]


# ---- semester results -------------------------------------------------------------------


def test_points_add_up_per_axis_and_category() -> None:
    r = result([PointItem("review", 1), PointItem("challenge", 5), PointItem("volunteer", 3, "grant")])
    assert r.points == 9
    assert r.points_by_axis == {"good": 3, "innovation": 5, "pro": 1}
    assert r.points_by_category == {"hard": 5, "soft": 4}


def test_a_missing_mandatory_action_is_reported_and_caps_the_grade() -> None:
    r = result([PointItem("challenge", 6)] * 5)  # 30 points → 20/20, but no review
    assert r.missing_mandatory == ("review",) and not r.complete
    assert r.points_grade == r.grade == Decimal("9.99")
    assert r.status == "failed" and r.basis == "points"


def test_the_cap_never_raises_a_low_grade() -> None:
    assert result([PointItem("conference", 1)] * 3).grade == Decimal("4.80")


def test_mandatory_actions_may_be_required_in_some_periods_only() -> None:
    assert result(with_review(10), S1).missing_mandatory == ()
    assert result(with_review(10), S2).missing_mandatory == ("fair",)
    assert result([*with_review(10), PointItem("fair", 1)], S2).grade == Decimal("10.40")


def test_the_flag_policy_gives_no_grade_when_a_mandatory_action_is_missing() -> None:
    flag = programme(grading={**PROGRAMME["grading"], "incomplete": {"policy": "flag"}})
    r = result([PointItem("challenge", 6)] * 5, prog=flag)
    assert r.grade is None and r.points_grade is None and r.status == "incomplete"
    assert result(with_review(10), prog=flag).grade == Decimal("10.00")


@pytest.mark.parametrize(
    ("total", "grade"),
    [
        (0, "0.00"),
        (1, "1.60"),
        (5, "8.00"),  # exactly on a breakpoint
        (7, "8.80"),
        (10, "10.00"),
        (11, "10.40"),
        (29, "19.40"),
        (30, "20.00"),  # the last breakpoint
        (31, "20.00"),  # flat after it: never above 20
        (500, "20.00"),
    ],
)
def test_linear_mapping_to_twenty(total: int, grade: str) -> None:
    assert programme().mapping.grade(total) == Decimal(grade)


def test_linear_mapping_rounds_half_up_to_two_decimals() -> None:
    mapping = points.parse_mapping({"kind": "linear", "steps": [[0, 0], [3, 10], [8, 15]]})
    assert [mapping.grade(p) for p in (1, 2, 4)] == [Decimal("3.33"), Decimal("6.67"), Decimal("11.00")]
    mapping = points.parse_mapping({"kind": "linear", "steps": [[0, 0], [8, 1]]})
    assert mapping.grade(1) == Decimal("0.13")  # 0.125 → 0.13


@pytest.mark.parametrize(
    ("total", "grade"), [(0, "0.00"), (4, "0.00"), (5, "8.00"), (9, "8.00"), (10, "12.00"), (99, "20.00")]
)
def test_threshold_mapping_to_twenty(total: int, grade: str) -> None:
    mapping = points.parse_mapping(
        {"kind": "thresholds", "steps": [{"points": 5, "grade": 8}, [10, 12], [20, "20"]]}
    )
    assert mapping.grade(total) == Decimal(grade)


def test_a_supervisor_route_overrides_points_and_mandatory_actions() -> None:
    route = RouteGrade("entrepreneuriat", Decimal("14.25"), "Dr Martin", "start-up incubated")
    r = result([PointItem("challenge", 2)], route=route)  # few points, review missing
    assert r.grade == Decimal("14.25") and r.basis == "route" and r.route == "entrepreneuriat"
    assert r.status == "passed" and r.reason == "start-up incubated"
    assert r.points_grade == Decimal("3.20")  # what points alone would have given, for the record
    assert r.missing_mandatory == ("review",)  # reported, but without weight on a route


def test_an_exemption_gives_no_grade_and_keeps_its_reason() -> None:
    r = result(with_review(20), exemption=Exemption("semester abroad (Erasmus)", "Mme Petit"))
    assert r.grade is None and r.status == "exempt" and r.basis == "exemption"
    assert r.reason == "semester abroad (Erasmus)"


def test_an_exemption_prevails_over_a_route_and_a_resit() -> None:
    r = result(
        [],
        route=RouteGrade("entrepreneuriat", Decimal("15")),
        exemption=Exemption("long illness"),
        resit=Resit(True),
    )
    assert (r.grade, r.basis, r.reason) == (None, "exemption", "long illness")


def test_a_passed_resit_gives_exactly_ten() -> None:
    r = result(with_review(6), resit=Resit(True, "jury"))
    assert r.points_grade == Decimal("8.40")
    assert (r.grade, r.basis, r.resit, r.status) == (Decimal("10.00"), "resit", "passed", "passed")


def test_a_failed_resit_keeps_the_initial_grade() -> None:
    r = result(with_review(6), resit=Resit(False))
    assert (r.grade, r.basis, r.resit, r.status) == (Decimal("8.40"), "points", "failed", "failed")


def test_a_resit_never_touches_a_grade_of_ten_or_more() -> None:
    for passed in (True, False):
        r = result(with_review(20), resit=Resit(passed))
        assert (r.grade, r.resit) == (Decimal("14.00"), "ignored")
    assert result(with_review(10), resit=Resit(False)).grade == Decimal("10.00")


def test_a_resit_applies_to_a_failed_route_grade_and_to_an_incomplete_period() -> None:
    route = RouteGrade("engagement-etudiant", Decimal("7.5"))
    assert result([], route=route, resit=Resit(True)).grade == Decimal("10.00")
    assert result([], route=route, resit=Resit(False)).grade == Decimal("7.5")
    capped = result([PointItem("challenge", 6)] * 5, resit=Resit(True))  # 9.99 for a missing review
    assert (capped.grade, capped.missing_mandatory) == (Decimal("10.00"), ("review",))
    flag = programme(grading={**PROGRAMME["grading"], "incomplete": "flag"})
    assert result([], prog=flag, resit=Resit(True)).grade == Decimal("10.00")
    failed = result([], prog=flag, resit=Resit(False))
    assert (failed.grade, failed.status, failed.resit) == (None, "incomplete", "failed")


def test_a_result_for_an_unknown_period_or_action_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        result([], period="S9")
    assert caught.value.field == "period"
    with pytest.raises(InvalidInput) as caught:
        result([PointItem("karaoke", 1)])
    assert caught.value.field == "action"


# ---- properties -------------------------------------------------------------------------

_STATES = st.sampled_from(["completed", "passed", "failed", "incomplete"])
_WHEN = st.sampled_from(
    [IN_S1, IN_S1 + timedelta(hours=1), datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 8, 20, tzinfo=UTC)]
)
_COMPLETIONS = st.lists(
    st.tuples(st.sampled_from([101, 102, 103, 104, 105]), _STATES, _WHEN, st.sampled_from([1, 2])),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(_COMPLETIONS, st.randoms(use_true_random=False))
def test_the_semester_result_does_not_depend_on_arrival_order(raw: list[Any], rnd: Any) -> None:
    rows = [
        completion(i + 1, activity, state, at, learner, digest=f"{i:03d}")
        for i, (activity, state, at, learner) in enumerate(raw)
    ]
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    prog = programme()
    for period in (S1, S2):
        for learner in (1, 2):
            first = [e for e in earn(prog, TAGS, rows) if e.learner_id == learner]
            second = [e for e in earn(prog, TAGS, shuffled) if e.learner_id == learner]
            assert result(items(first, period), period) == result(items(second, period), period)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=2, max_size=2))
def test_more_points_never_lower_the_grade(totals: list[int]) -> None:
    low, high = sorted(totals)
    assert programme().mapping.grade(low) <= programme().mapping.grade(high) <= Decimal(20)
