"""Points programmes: LMS activity and teachers' grants → points per period → a grade out of 20.

The rules, in the order they apply to one learner and one period (a semester):

* A tagged activity earns its tag's value when the learner's *latest* completion of it is
  "completed" or "passed" and its date falls in the period; "failed" or "incomplete" earns
  nothing, and a later "incomplete" withdraws what an earlier completion had earned (latest by
  date, ties broken by content hash, as the competency rules do). Grants by teachers add to it.
* Points → grade through the programme's mapping (``linear`` between breakpoints, or
  ``thresholds``), never above 20. A mandatory action with nothing earned for it in the period
  makes the period incomplete, and the ``incomplete`` policy applies: ``cap`` (the default)
  keeps the grade but at most 9.99, so the period fails yet a resit can still save it; ``flag``
  gives no grade at all.
* Precedence, from strongest to weakest: an **exemption** (no grade, a recorded reason) beats
  everything; otherwise the **initial grade** is the grade a supervisor gave through an
  alternative **route** (which dispenses from points and from mandatory actions) or, without a
  route, the grade computed from points; a **resit** then acts on that initial grade only when it
  failed (below 10, or no grade under ``flag``): passed gives exactly 10.00, failed keeps the
  initial grade. A resit never lowers a grade, so one recorded against a grade that later
  reached 10 is ignored (``resit`` says so in the result).

Everything that decides is a pure function of dataclasses (``parse_programme``, ``earn``,
``compute_semester``); the functions taking a ``Session`` read and write the facts around them.
Points are whole numbers; grades are ``Decimal`` with two places (kept as hundredths in the DB).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib import resources
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import fields
from acquis.core.errors import Conflict, InvalidInput, NotFound
from acquis.core.frameworks import load_yaml
from acquis.core.models import (
    DECISION_KINDS,
    ActionTag,
    Completion,
    EarnedPoints,
    Establishment,
    Learner,
    PointsGrant,
    Programme,
    ProgrammeAction,
    ProgrammePeriod,
    SemesterDecision,
    utcnow,
)
from acquis.core.sql import by_driver, driver_first, lock_learners
from acquis.core.tags import get_or_create_activity

GRADE_MAX = Decimal("20.00")
PASS_GRADE = Decimal("10.00")
DEFAULT_CAP = Decimal("9.99")
CENT = Decimal("0.01")
COUNTS_AS_COMPLETED = frozenset({"completed", "passed"})
MAPPING_KINDS = ("linear", "thresholds")
INCOMPLETE_POLICIES = ("cap", "flag")
SAMPLE = "engagement.yaml"
LABEL_CODE_MAX = 64  # category and axis codes are stored in String(64) columns
_CHUNK = 500


# ---- definitions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    code: str
    label: str


@dataclass(frozen=True)
class GradeStep:
    points: int
    grade: Decimal


@dataclass(frozen=True)
class GradeMapping:
    """Points → grade /20.

    ``linear``: straight lines between breakpoints (the first at 0 points), flat after the last.
    ``thresholds``: the grade of the highest threshold reached, 0 below the first.
    Grades never decrease as points grow, so earning more can never cost a learner.
    """

    kind: str
    steps: tuple[GradeStep, ...]

    def grade(self, points: int) -> Decimal:
        if self.kind == "thresholds":
            reached = Decimal("0.00")
            for step in self.steps:
                if points < step.points:
                    break
                reached = step.grade
            return min(reached, GRADE_MAX)
        if points <= self.steps[0].points:
            return min(self.steps[0].grade, GRADE_MAX)
        for low, high in pairwise(self.steps):
            if points <= high.points:
                share = Decimal(points - low.points) / Decimal(high.points - low.points)
                value = (low.grade + (high.grade - low.grade) * share).quantize(CENT, ROUND_HALF_UP)
                return min(value, GRADE_MAX)
        return min(self.steps[-1].grade, GRADE_MAX)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "steps": [{"points": s.points, "grade": str(s.grade)} for s in self.steps],
        }


@dataclass(frozen=True)
class IncompletePolicy:
    """What a missing mandatory action does to the grade: ``cap`` it, or ``flag`` (no grade)."""

    policy: str = "cap"
    cap: Decimal | None = DEFAULT_CAP

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.policy}
        if self.cap is not None:
            out["cap"] = str(self.cap)
        return out


@dataclass(frozen=True)
class PeriodDef:
    code: str
    title: str
    starts_at: datetime  # inclusive, UTC
    ends_at: datetime  # exclusive, UTC

    def contains(self, when: datetime) -> bool:
        return self.starts_at <= when < self.ends_at


@dataclass(frozen=True)
class ActionDef:
    code: str
    title: str
    category: str
    axis: str
    min_points: int
    max_points: int
    mandatory: bool = False
    mandatory_periods: tuple[str, ...] = ()  # empty: every period

    def required_in(self, period: str) -> bool:
        return self.mandatory and (not self.mandatory_periods or period in self.mandatory_periods)

    def check_points(self, value: Any, where: str = "points") -> int:
        """A value this action may be worth; the range is what the programme promised learners."""
        points = _whole(value, where)
        if not self.min_points <= points <= self.max_points:
            worth = (
                f"exactly {self.min_points}"
                if self.min_points == self.max_points
                else f"{self.min_points} to {self.max_points}"
            )
            raise InvalidInput(f"{self.code!r} is worth {worth} points, not {points}", field=where)
        return points


@dataclass(frozen=True)
class ProgrammeDef:
    code: str
    title: str
    description: str
    timezone: str
    categories: tuple[Label, ...]
    axes: tuple[Label, ...]
    routes: tuple[Label, ...]
    periods: tuple[PeriodDef, ...]
    actions: tuple[ActionDef, ...]
    mapping: GradeMapping
    incomplete: IncompletePolicy = field(default_factory=IncompletePolicy)

    def action(self, code: str, where: str = "action") -> ActionDef:
        for a in self.actions:
            if a.code == code:
                return a
        raise InvalidInput(f"no action {code!r} in programme {self.code!r}", field=where)

    def period(self, code: str, where: str = "period") -> PeriodDef:
        for p in self.periods:
            if p.code == code:
                return p
        known = ", ".join(p.code for p in self.periods)
        raise InvalidInput(f"no period {code!r} in programme {self.code!r} (periods: {known})", field=where)

    def period_at(self, when: datetime) -> PeriodDef | None:
        return next((p for p in self.periods if p.contains(when)), None)

    def route(self, code: str, where: str = "route") -> Label:
        for r in self.routes:
            if r.code == code:
                return r
        known = ", ".join(r.code for r in self.routes) or "none"
        raise InvalidInput(f"no route {code!r} in programme {self.code!r} (routes: {known})", field=where)


# ---- parsing (every field checked before anything is written) ---------------------------


def _text(value: Any, where: str, max_len: int = 512, required: bool = True) -> str:
    return fields.text(value, where, max_len, required)


def _code(value: Any, where: str, max_len: int = 128) -> str:
    return fields.code(value, where, max_len, example="conference")


def _whole(value: Any, where: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput("must be a whole number", field=where)
    if value < minimum:
        raise InvalidInput(f"must be {minimum} or more", field=where)
    return value


def parse_grade(value: Any, where: str = "grade") -> Decimal:
    """A grade out of 20 with at most two decimals, as a ``Decimal`` (floats go through ``str``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidInput("must be a number from 0 to 20 (e.g. 12.5)", field=where)
    try:
        grade = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise InvalidInput("must be a number from 0 to 20 (e.g. 12.5)", field=where) from None
    if not grade.is_finite() or not Decimal(0) <= grade <= GRADE_MAX:
        raise InvalidInput("must be a number from 0 to 20", field=where)
    if grade != grade.quantize(CENT):
        raise InvalidInput("at most two decimals", field=where)
    return grade.quantize(CENT)


def _labels(raw: Any, where: str, required: bool) -> tuple[Label, ...]:
    if raw is None and not required:
        return ()
    if not isinstance(raw, list) or (required and not raw):
        raise InvalidInput("must list at least one entry" if required else "must be a list", field=where)
    out: list[Label] = []
    for i, item in enumerate(raw):
        if isinstance(item, dict):
            code = _code(item.get("code"), f"{where}[{i}].code", LABEL_CODE_MAX)
            label = _text(item.get("label", code), f"{where}[{i}].label", 255)
        else:
            code = _code(item, f"{where}[{i}]", LABEL_CODE_MAX)
            label = code
        if any(existing.code == code for existing in out):
            raise InvalidInput(f"code {code!r} is used twice", field=f"{where}[{i}]")
        out.append(Label(code, label))
    return tuple(out)


def parse_mapping(raw: Any, where: str = "grading.mapping") -> GradeMapping:
    if not isinstance(raw, dict):
        raise InvalidInput("must be a mapping with kind and steps", field=where)
    kind = raw.get("kind")
    if kind not in MAPPING_KINDS:
        raise InvalidInput(f"use one of {', '.join(MAPPING_KINDS)}", field=f"{where}.kind")
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or len(steps_raw) < (2 if kind == "linear" else 1):
        need = "two breakpoints" if kind == "linear" else "one threshold"
        raise InvalidInput(f"must list at least {need}", field=f"{where}.steps")
    steps: list[GradeStep] = []
    for i, item in enumerate(steps_raw):
        at = f"{where}.steps[{i}]"
        if isinstance(item, list | tuple) and len(item) == 2:
            points_raw, grade_raw = item
        elif isinstance(item, dict):
            points_raw, grade_raw = item.get("points"), item.get("grade")
        else:
            raise InvalidInput("must be [points, grade] or {points, grade}", field=at)
        step = GradeStep(_whole(points_raw, f"{at}.points"), parse_grade(grade_raw, f"{at}.grade"))
        if steps and step.points <= steps[-1].points:
            raise InvalidInput("points must increase from one step to the next", field=f"{at}.points")
        if steps and step.grade < steps[-1].grade:
            raise InvalidInput("grades must not decrease as points increase", field=f"{at}.grade")
        steps.append(step)
    if kind == "linear" and steps[0].points != 0:
        raise InvalidInput(
            "the first breakpoint of a linear mapping is at 0 points", field=f"{where}.steps[0]"
        )
    return GradeMapping(kind, tuple(steps))


def parse_incomplete(raw: Any, where: str = "grading.incomplete") -> IncompletePolicy:
    if raw is None:
        return IncompletePolicy()
    if isinstance(raw, str):
        raw = {"policy": raw}
    if not isinstance(raw, dict):
        raise InvalidInput("must be a mapping with policy (cap or flag)", field=where)
    policy = raw.get("policy", "cap")
    if policy not in INCOMPLETE_POLICIES:
        raise InvalidInput(f"use one of {', '.join(INCOMPLETE_POLICIES)}", field=f"{where}.policy")
    if policy == "flag":
        if raw.get("cap") is not None:
            raise InvalidInput("only the cap policy takes a cap", field=f"{where}.cap")
        return IncompletePolicy("flag", None)
    cap = parse_grade(raw.get("cap", str(DEFAULT_CAP)), f"{where}.cap")
    if cap >= PASS_GRADE:
        raise InvalidInput("must be below 10: an incomplete period must not pass", field=f"{where}.cap")
    return IncompletePolicy("cap", cap)


def _day(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        raise InvalidInput("give a date (YYYY-MM-DD), not a date and time", field=where)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInput("must be a date (YYYY-MM-DD)", field=where)


def _periods(raw: Any, tz: ZoneInfo) -> tuple[PeriodDef, ...]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("must list at least one period (a semester)", field="periods")
    out: list[PeriodDef] = []
    for i, item in enumerate(raw):
        at = f"periods[{i}]"
        if not isinstance(item, dict):
            raise InvalidInput("must be a mapping with code, title, starts and ends", field=at)
        code = _code(item.get("code"), f"{at}.code")
        if any(p.code == code for p in out):
            raise InvalidInput(f"period code {code!r} is used twice", field=f"{at}.code")
        starts = _day(item.get("starts"), f"{at}.starts")
        ends = _day(item.get("ends"), f"{at}.ends")
        if ends < starts:
            raise InvalidInput("must not be before starts", field=f"{at}.ends")
        # Dates are whole local days: "ends: 2026-01-31" includes the evening of the 31st.
        out.append(
            PeriodDef(
                code,
                _text(item.get("title", code), f"{at}.title", 255),
                datetime.combine(starts, time(), tz).astimezone(UTC),
                datetime.combine(ends + timedelta(days=1), time(), tz).astimezone(UTC),
            )
        )
    ordered = sorted(out, key=lambda p: p.starts_at)
    for before, after in pairwise(ordered):
        if after.starts_at < before.ends_at:
            i = out.index(after)
            raise InvalidInput(f"overlaps period {before.code!r}", field=f"periods[{i}]")
    return tuple(ordered)


def _actions(
    raw: Any, categories: tuple[Label, ...], axes: tuple[Label, ...], periods: tuple[PeriodDef, ...]
) -> tuple[ActionDef, ...]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("must list at least one action", field="actions")
    category_codes = {c.code for c in categories}
    axis_codes = {a.code for a in axes}
    period_codes = {p.code for p in periods}
    out: list[ActionDef] = []
    for i, item in enumerate(raw):
        at = f"actions[{i}]"
        if not isinstance(item, dict):
            raise InvalidInput("must be a mapping with code, title, category, axis and points", field=at)
        code = _code(item.get("code"), f"{at}.code")
        if any(a.code == code for a in out):
            raise InvalidInput(f"action code {code!r} is used twice", field=f"{at}.code")
        category = _code(item.get("category"), f"{at}.category")
        if category not in category_codes:
            raise InvalidInput(f"use one of {', '.join(sorted(category_codes))}", field=f"{at}.category")
        axis = _code(item.get("axis"), f"{at}.axis")
        if axis not in axis_codes:
            raise InvalidInput(f"use one of {', '.join(sorted(axis_codes))}", field=f"{at}.axis")
        points = item.get("points")
        if isinstance(points, dict):
            low = _whole(points.get("min"), f"{at}.points.min")
            high = _whole(points.get("max"), f"{at}.points.max")
            if high < low:
                raise InvalidInput("must not be below min", field=f"{at}.points.max")
        elif isinstance(points, int) and not isinstance(points, bool):
            low = high = _whole(points, f"{at}.points")
        else:
            raise InvalidInput("give a whole number, or {min, max} for a range", field=f"{at}.points")
        mandatory_raw = item.get("mandatory", False)
        only: tuple[str, ...] = ()
        if isinstance(mandatory_raw, bool):
            mandatory = mandatory_raw
        elif isinstance(mandatory_raw, list) and mandatory_raw:
            mandatory = True
            only = tuple(_code(p, f"{at}.mandatory[{j}]") for j, p in enumerate(mandatory_raw))
            for j, code_j in enumerate(only):
                if code_j not in period_codes:
                    raise InvalidInput(
                        f"no period {code_j!r} in this programme", field=f"{at}.mandatory[{j}]"
                    )
        else:
            raise InvalidInput("give true, false, or the list of periods", field=f"{at}.mandatory")
        out.append(
            ActionDef(
                code=code,
                title=_text(item.get("title"), f"{at}.title"),
                category=category,
                axis=axis,
                min_points=low,
                max_points=high,
                mandatory=mandatory,
                mandatory_periods=only,
            )
        )
    return tuple(out)


def _timezone(value: Any) -> tuple[str, ZoneInfo]:
    name = _text(value if value is not None else "Europe/Paris", "timezone", 64)
    try:
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("not a time zone name (e.g. Europe/Paris)", field="timezone") from None


def parse_programme(data: Any) -> ProgrammeDef:
    """The programme a YAML/JSON form describes; any error names the field, e.g. ``actions[3].points``."""
    if not isinstance(data, dict):
        raise InvalidInput("a programme must be a mapping with code, title, periods and actions")
    tz_name, tz = _timezone(data.get("timezone"))
    categories = _labels(data.get("categories"), "categories", required=True)
    axes = _labels(data.get("axes"), "axes", required=True)
    periods = _periods(data.get("periods"), tz)
    grading = data.get("grading")
    if not isinstance(grading, dict):
        raise InvalidInput("must be a mapping with mapping (and incomplete)", field="grading")
    return ProgrammeDef(
        code=_code(data.get("code"), "code"),
        title=_text(data.get("title"), "title", 255),
        description=_text(data.get("description"), "description", 4000, required=False),
        timezone=tz_name,
        categories=categories,
        axes=axes,
        routes=_labels(data.get("routes"), "routes", required=False),
        periods=periods,
        actions=_actions(data.get("actions"), categories, axes, periods),
        mapping=parse_mapping(grading.get("mapping")),
        incomplete=parse_incomplete(grading.get("incomplete")),
    )


def sample_definition(name: str = SAMPLE) -> Any:
    """A programme shipped with acquis (acquis/data/programmes), as its YAML form, ready to import."""
    text = resources.files("acquis").joinpath("data", "programmes", name).read_text(encoding="utf-8")
    return load_yaml(text)


# ---- earning (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class CompletionRow:
    id: int
    learner_id: int
    activity_id: int
    state: str
    occurred_at: datetime
    content_hash: str


@dataclass(frozen=True)
class TagDef:
    id: int
    activity_id: int
    action: str
    points: int


@dataclass(frozen=True)
class Earned:
    """What one learner's latest completion of one tagged activity is worth."""

    learner_id: int
    tag_id: int
    activity_id: int
    action: str
    completion_id: int
    period: str | None
    points: int
    status: str  # see acquis.core.models.EARNED_STATUSES


def latest_completions(rows: Iterable[CompletionRow]) -> dict[tuple[int, int], CompletionRow]:
    """The completion that decides per (learner, activity): the latest, ties by content hash.

    The same order as the competency rules (acquis.core.rules), so one statement cannot count
    for a badge and against points; and not arrival order, so resends and replays change nothing.
    """
    best: dict[tuple[int, int], CompletionRow] = {}
    for row in rows:
        key = (row.learner_id, row.activity_id)
        current = best.get(key)
        if current is None or (row.occurred_at, row.content_hash) > (
            current.occurred_at,
            current.content_hash,
        ):
            best[key] = row
    return best


def earn(
    programme: ProgrammeDef, tags: Iterable[TagDef], completions: Iterable[CompletionRow]
) -> list[Earned]:
    by_activity = {t.activity_id: t for t in tags}
    out: list[Earned] = []
    for (learner_id, activity_id), c in latest_completions(completions).items():
        tag = by_activity.get(activity_id)
        if tag is None:
            continue
        period = programme.period_at(c.occurred_at)
        if c.state not in COUNTS_AS_COMPLETED:
            status, points = "not_completed", 0
        elif period is None:
            status, points = "outside_periods", 0
        else:
            status, points = "counted", tag.points
        out.append(
            Earned(
                learner_id,
                tag.id,
                activity_id,
                tag.action,
                c.id,
                period.code if period else None,
                points,
                status,
            )
        )
    return sorted(out, key=lambda e: (e.learner_id, e.tag_id))


# ---- semester results (pure) ------------------------------------------------------------


@dataclass(frozen=True)
class PointItem:
    """Points that count in a period, from a completion or from a teacher's grant."""

    action: str
    points: int
    source: str = "completion"  # or "grant"


@dataclass(frozen=True)
class RouteGrade:
    route: str
    grade: Decimal
    decided_by: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Exemption:
    reason: str
    decided_by: str = ""


@dataclass(frozen=True)
class Resit:
    passed: bool
    decided_by: str = ""


@dataclass(frozen=True)
class SemesterResult:
    """One learner's period.

    ``grade`` is the final grade (None when exempt, or incomplete under the ``flag`` policy);
    ``points_grade`` is what points alone give after the incomplete policy; ``basis`` says which
    rule gave ``grade``: points, route, resit or exemption. ``missing_mandatory`` is reported
    whatever the basis, but only weighs on a grade computed from points.
    """

    period: str
    points: int
    points_by_axis: Mapping[str, int]
    points_by_category: Mapping[str, int]
    missing_mandatory: tuple[str, ...]
    points_grade: Decimal | None
    grade: Decimal | None
    basis: str  # points, route, resit, exemption
    status: str  # passed, failed, incomplete, exempt
    route: str | None = None
    resit: str | None = None  # passed, failed, ignored (the initial grade had not failed)
    reason: str | None = None

    @property
    def complete(self) -> bool:
        return not self.missing_mandatory


def compute_semester(
    programme: ProgrammeDef,
    period: str,
    items: Iterable[PointItem],
    route: RouteGrade | None = None,
    exemption: Exemption | None = None,
    resit: Resit | None = None,
) -> SemesterResult:
    """The period's result from what counts in it; see the module docstring for the precedence."""
    programme.period(period)
    by_axis: dict[str, int] = defaultdict(int)
    by_category: dict[str, int] = defaultdict(int)
    done: set[str] = set()
    total = 0
    for item in items:
        action = programme.action(item.action)
        total += item.points
        by_axis[action.axis] += item.points
        by_category[action.category] += item.points
        done.add(action.code)
    missing = tuple(a.code for a in programme.actions if a.required_in(period) and a.code not in done)
    mapped = programme.mapping.grade(total)
    points_grade: Decimal | None = mapped
    if missing:
        cap = programme.incomplete.cap
        points_grade = None if programme.incomplete.policy == "flag" or cap is None else min(mapped, cap)

    def result(grade: Decimal | None, basis: str, status: str, **extra: Any) -> SemesterResult:
        return SemesterResult(
            period=period,
            points=total,
            points_by_axis=dict(sorted(by_axis.items())),
            points_by_category=dict(sorted(by_category.items())),
            missing_mandatory=missing,
            points_grade=points_grade,
            grade=grade,
            basis=basis,
            status=status,
            **extra,
        )

    if exemption is not None:
        return result(None, "exemption", "exempt", reason=exemption.reason)
    grade: Decimal | None
    if route is not None:
        grade, basis, reason = route.grade, "route", route.reason or None
    else:
        grade, basis, reason = points_grade, "points", None
    resit_state: str | None = None
    if resit is not None:
        if grade is not None and grade >= PASS_GRADE:
            resit_state = "ignored"
        elif resit.passed:
            grade, basis, resit_state = PASS_GRADE, "resit", "passed"
        else:
            resit_state = "failed"
    status = "incomplete" if grade is None else "passed" if grade >= PASS_GRADE else "failed"
    return result(
        grade,
        basis,
        status,
        route=route.route if route is not None else None,
        resit=resit_state,
        reason=reason,
    )


# ---- the database: definitions ----------------------------------------------------------


def import_programme(session: Session, est: Establishment, data: Any) -> Programme:
    """Create a programme from its YAML/JSON form; nothing is written unless all of it is valid."""
    definition = parse_programme(data)
    exists = session.scalar(
        select(Programme.id).where(Programme.establishment_id == est.id, Programme.code == definition.code)
    )
    if exists is not None:
        raise Conflict(f"programme {definition.code!r} already exists in {est.slug}")
    programme = Programme(
        establishment_id=est.id,
        code=definition.code,
        title=definition.title,
        description=definition.description,
        timezone=definition.timezone,
        categories=[{"code": c.code, "label": c.label} for c in definition.categories],
        axes=[{"code": a.code, "label": a.label} for a in definition.axes],
        routes=[{"code": r.code, "label": r.label} for r in definition.routes],
        grading={"mapping": definition.mapping.to_json(), "incomplete": definition.incomplete.to_json()},
        periods=[
            ProgrammePeriod(code=p.code, title=p.title, starts_at=p.starts_at, ends_at=p.ends_at)
            for p in definition.periods
        ],
        actions=[
            ProgrammeAction(
                code=a.code,
                title=a.title,
                category=a.category,
                axis=a.axis,
                min_points=a.min_points,
                max_points=a.max_points,
                mandatory=a.mandatory,
                mandatory_periods=list(a.mandatory_periods),
                position=i + 1,
            )
            for i, a in enumerate(definition.actions)
        ],
    )
    session.add(programme)
    session.flush()
    return programme


def get_programme(session: Session, est: Establishment, code: str) -> Programme:
    programme = session.scalar(
        select(Programme).where(Programme.establishment_id == est.id, Programme.code == code)
    )
    if programme is None:
        raise NotFound(f"no programme {code!r} in {est.slug}")
    return programme


def definition_of(programme: Programme) -> ProgrammeDef:
    """The pure definition of a stored programme, for the functions above."""
    return ProgrammeDef(
        code=programme.code,
        title=programme.title,
        description=programme.description,
        timezone=programme.timezone,
        categories=tuple(Label(c["code"], c["label"]) for c in programme.categories),
        axes=tuple(Label(a["code"], a["label"]) for a in programme.axes),
        routes=tuple(Label(r["code"], r["label"]) for r in programme.routes),
        periods=tuple(PeriodDef(p.code, p.title, p.starts_at, p.ends_at) for p in programme.periods),
        actions=tuple(
            ActionDef(
                a.code,
                a.title,
                a.category,
                a.axis,
                a.min_points,
                a.max_points,
                a.mandatory,
                tuple(a.mandatory_periods or ()),
            )
            for a in programme.actions
        ),
        mapping=parse_mapping(programme.grading.get("mapping")),
        incomplete=parse_incomplete(programme.grading.get("incomplete")),
    )


# ---- the database: tagging and earning --------------------------------------------------


def tag_activity(
    session: Session,
    est: Establishment,
    programme_code: str,
    action_code: str,
    activity: str,
    points: int | None = None,
    created_by: str = "",
) -> ActionTag:
    """Count an LMS activity (its URL) as an action, worth ``points`` (optional for a fixed value).

    Tagging again replaces the previous action and value. Completions already received are
    counted at once, so tagging after the fact is the same as tagging before.
    """
    programme = get_programme(session, est, programme_code)
    definition = definition_of(programme)
    action_def = definition.action(action_code)
    if points is None:
        if action_def.min_points != action_def.max_points:
            raise InvalidInput(
                f"{action_code!r} is worth {action_def.min_points} to {action_def.max_points} points: "
                "give the value of this activity",
                field="points",
            )
        points = action_def.min_points
    value = action_def.check_points(points)
    who = _text(created_by, "created_by", 255, required=False)
    act = get_or_create_activity(session, est, activity)
    action_id = next(a.id for a in programme.actions if a.code == action_code)
    tag = session.scalar(
        select(ActionTag).where(ActionTag.programme_id == programme.id, ActionTag.activity_id == act.id)
    )
    if tag is None:
        tag = ActionTag(
            establishment_id=est.id,
            programme_id=programme.id,
            action_id=action_id,
            activity_id=act.id,
            points=value,
            created_by=who,
        )
        session.add(tag)
    else:
        tag.action_id, tag.points = action_id, value
    session.flush()
    learners = set(
        session.scalars(
            select(Completion.learner_id)
            .where(Completion.establishment_id == est.id, Completion.activity_id == act.id)
            .distinct()
        )
    )
    lock_learners(session, learners)
    _recompute(session, est.id, learners, [tag])
    return tag


_ANY_TAG_SQL = by_driver("SELECT 1 FROM action_tag WHERE establishment_id = :e LIMIT 1")


def on_completions(
    session: Session, establishment_id: int, learner_activity_pairs: Iterable[tuple[int, int]]
) -> None:
    """Recompute the points of the learners whose tagged activities just got completions.

    Called by the ingest pipeline with the (learner_id, activity_id) of the completions it
    stored, in its transaction and after it locked those learners. Cheap when nothing is tagged:
    one query, then nothing.
    """
    # Most establishments run no points programme: one probe of an index, in a statement that
    # never changes, before any query naming the batch's activities (compiled anew each time)
    # and before the pairs are even gathered.
    session.flush()  # read on the driver (as enabled_names, once per batch): flush first
    sql = _ANY_TAG_SQL[session.get_bind().dialect.name]
    if driver_first(session, sql, {"e": establishment_id}) is None:
        return
    pairs = set(learner_activity_pairs)
    if not pairs:
        return
    activity_ids = sorted({a for _, a in pairs})
    tags: list[ActionTag] = []
    for i in range(0, len(activity_ids), _CHUNK):
        tags.extend(
            session.scalars(
                select(ActionTag).where(
                    ActionTag.establishment_id == establishment_id,
                    ActionTag.activity_id.in_(activity_ids[i : i + _CHUNK]),
                )
            )
        )
    if not tags:
        return
    tagged = {t.activity_id for t in tags}
    _recompute(session, establishment_id, {learner for learner, a in pairs if a in tagged}, tags)


def _recompute(
    session: Session, establishment_id: int, learners: set[int], tags: Sequence[ActionTag]
) -> None:
    """Bring the earned-points rows of ``learners`` × ``tags`` in line with their completions."""
    if not learners or not tags:
        return
    by_programme: dict[int, list[ActionTag]] = defaultdict(list)
    for t in tags:
        by_programme[t.programme_id].append(t)
    activity_ids = sorted({t.activity_id for t in tags})
    learner_ids = sorted(learners)
    rows: list[CompletionRow] = []
    existing: dict[tuple[int, int], EarnedPoints] = {}
    tag_ids = [t.id for t in tags]
    for i in range(0, len(learner_ids), _CHUNK):
        chunk = learner_ids[i : i + _CHUNK]
        for cid, learner_id, activity_id, state, occurred, digest in session.execute(
            select(
                Completion.id,
                Completion.learner_id,
                Completion.activity_id,
                Completion.state,
                Completion.occurred_at,
                Completion.content_hash,
            ).where(
                Completion.establishment_id == establishment_id,
                Completion.learner_id.in_(chunk),
                Completion.activity_id.in_(activity_ids),
            )
        ):
            rows.append(CompletionRow(cid, learner_id, activity_id, state, occurred, digest))
        for ep in session.scalars(
            select(EarnedPoints).where(EarnedPoints.learner_id.in_(chunk), EarnedPoints.tag_id.in_(tag_ids))
        ):
            existing[(ep.learner_id, ep.tag_id)] = ep
    now = utcnow()
    for programme_id, programme_tags in by_programme.items():
        programme = session.get(Programme, programme_id)
        assert programme is not None
        definition = definition_of(programme)
        period_ids = {p.code: p.id for p in programme.periods}
        action_codes = {a.id: a.code for a in programme.actions}
        action_ids = {code: i for i, code in action_codes.items()}
        tag_defs = [TagDef(t.id, t.activity_id, action_codes[t.action_id], t.points) for t in programme_tags]
        for e in earn(definition, tag_defs, rows):
            period_id = period_ids[e.period] if e.period is not None else None
            values = {
                "action_id": action_ids[e.action],
                "period_id": period_id,
                "completion_id": e.completion_id,
                "points": e.points,
                "status": e.status,
            }
            found = existing.get((e.learner_id, e.tag_id))
            if found is None:
                session.add(
                    EarnedPoints(
                        establishment_id=establishment_id,
                        programme_id=programme_id,
                        learner_id=e.learner_id,
                        tag_id=e.tag_id,
                        activity_id=e.activity_id,
                        updated_at=now,
                        **values,
                    )
                )
            elif any(getattr(found, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(found, k, v)
                found.updated_at = now
    session.flush()


# ---- the database: grants and decisions -------------------------------------------------


def _learner(session: Session, est: Establishment, learner_id: int) -> Learner:
    learner = session.get(Learner, learner_id)
    if learner is None or learner.establishment_id != est.id:
        raise NotFound(f"no learner {learner_id} in {est.slug}")
    return learner


def _who(by: str) -> str:
    return _text(by, "by", 255)


def grant_points(
    session: Session,
    est: Establishment,
    programme_code: str,
    learner_id: int,
    action_code: str,
    period_code: str,
    points: int,
    by: str,
    reason: str,
) -> PointsGrant:
    """A teacher's grant for an action done outside the LMS; who, when and why are required."""
    programme = get_programme(session, est, programme_code)
    definition = definition_of(programme)
    action_def = definition.action(action_code)
    definition.period(period_code)
    value = action_def.check_points(points)
    who, why = _who(by), _text(reason, "reason", 4000)
    _learner(session, est, learner_id)
    lock_learners(session, [learner_id])
    grant = PointsGrant(
        establishment_id=est.id,
        programme_id=programme.id,
        period_id=next(p.id for p in programme.periods if p.code == period_code),
        learner_id=learner_id,
        action_id=next(a.id for a in programme.actions if a.code == action_code),
        points=value,
        granted_by=who,
        granted_at=utcnow(),
        reason=why,
    )
    session.add(grant)
    session.flush()
    return grant


def revoke_grant(session: Session, est: Establishment, grant_id: int, by: str, reason: str) -> PointsGrant:
    """Cancel a grant given by mistake; it stays on record, marked revoked."""
    who, why = _who(by), _text(reason, "reason", 4000)
    grant = session.get(PointsGrant, grant_id)
    if grant is None or grant.establishment_id != est.id:
        raise NotFound(f"no points grant {grant_id} in {est.slug}")
    if grant.revoked_at is not None:
        raise InvalidInput("this grant is already revoked", field="grant")
    lock_learners(session, [grant.learner_id])
    grant.revoked_by, grant.revoked_at, grant.revocation_reason = who, utcnow(), why
    session.flush()
    return grant


def _decide(
    session: Session,
    est: Establishment,
    programme: Programme,
    learner_id: int,
    period_code: str,
    kind: str,
    by: str,
    reason: str,
    route: str | None = None,
    grade: Decimal | None = None,
    passed: bool | None = None,
) -> SemesterDecision:
    period_id = next(p.id for p in programme.periods if p.code == period_code)
    decision = session.scalar(
        select(SemesterDecision).where(
            SemesterDecision.period_id == period_id,
            SemesterDecision.learner_id == learner_id,
            SemesterDecision.kind == kind,
        )
    )
    now = utcnow()
    entry: dict[str, Any] = {"at": now.isoformat(), "by": by, "reason": reason}
    if kind == "route":
        entry.update(route=route, grade=str(grade))
    elif kind == "resit":
        entry["passed"] = passed
    grade_centi = int(grade * 100) if grade is not None else None
    if decision is None:
        decision = SemesterDecision(
            establishment_id=est.id,
            programme_id=programme.id,
            period_id=period_id,
            learner_id=learner_id,
            kind=kind,
            history=[entry],
        )
        session.add(decision)
    else:
        decision.history = [*(decision.history or []), entry]
        decision.withdrawn_by = decision.withdrawn_at = None
    decision.route, decision.grade_centi, decision.passed = route, grade_centi, passed
    decision.reason, decision.decided_by, decision.decided_at = reason, by, now
    session.flush()
    return decision


def record_route(
    session: Session,
    est: Establishment,
    programme_code: str,
    learner_id: int,
    period_code: str,
    route: str,
    grade: Decimal | int | float | str,
    by: str,
    reason: str,
) -> SemesterDecision:
    """A supervisor's grade through an alternative route (student engagement, entrepreneurship…)."""
    programme = get_programme(session, est, programme_code)
    definition = definition_of(programme)
    definition.period(period_code)
    route_code = definition.route(route).code
    value = parse_grade(grade)
    who, why = _who(by), _text(reason, "reason", 4000)
    _learner(session, est, learner_id)
    lock_learners(session, [learner_id])
    return _decide(session, est, programme, learner_id, period_code, "route", who, why, route_code, value)


def record_exemption(
    session: Session,
    est: Establishment,
    programme_code: str,
    learner_id: int,
    period_code: str,
    by: str,
    reason: str,
) -> SemesterDecision:
    """Dispense a learner from the period: no grade at all, and the reason on record."""
    programme = get_programme(session, est, programme_code)
    definition_of(programme).period(period_code)
    who, why = _who(by), _text(reason, "reason", 4000)
    _learner(session, est, learner_id)
    lock_learners(session, [learner_id])
    return _decide(session, est, programme, learner_id, period_code, "exemption", who, why)


def record_resit(
    session: Session,
    est: Establishment,
    programme_code: str,
    learner_id: int,
    period_code: str,
    passed: bool,
    by: str,
    reason: str = "",
) -> SemesterDecision:
    """The outcome of a resit ("rattrapage"), refused unless the period currently fails."""
    if not isinstance(passed, bool):
        raise InvalidInput("must be true or false", field="passed")
    programme = get_programme(session, est, programme_code)
    definition_of(programme).period(period_code)
    who, why = _who(by), _text(reason, "reason", 4000, required=False)
    _learner(session, est, learner_id)
    lock_learners(session, [learner_id])
    current = _result(session, programme, learner_id, period_code, skip_resit=True)
    if current.status == "exempt":
        raise InvalidInput("the learner is exempt from this period: there is nothing to resit", field="resit")
    if current.grade is not None and current.grade >= PASS_GRADE:
        raise InvalidInput(
            f"the period's grade is {current.grade}/20: a resit only applies to a failed period",
            field="resit",
        )
    return _decide(session, est, programme, learner_id, period_code, "resit", who, why, passed=passed)


def withdraw_decision(
    session: Session,
    est: Establishment,
    programme_code: str,
    learner_id: int,
    period_code: str,
    kind: str,
    by: str,
    reason: str,
) -> SemesterDecision:
    """Take back a route, exemption or resit; the row and its history stay."""
    if kind not in DECISION_KINDS:
        raise InvalidInput(f"use one of {', '.join(DECISION_KINDS)}", field="kind")
    programme = get_programme(session, est, programme_code)
    definition_of(programme).period(period_code)
    who, why = _who(by), _text(reason, "reason", 4000)
    period_id = next(p.id for p in programme.periods if p.code == period_code)
    decision = session.scalar(
        select(SemesterDecision).where(
            SemesterDecision.period_id == period_id,
            SemesterDecision.learner_id == learner_id,
            SemesterDecision.kind == kind,
        )
    )
    if decision is None or decision.withdrawn_at is not None:
        raise NotFound(f"no {kind} recorded for learner {learner_id} in {period_code}")
    lock_learners(session, [learner_id])
    now = utcnow()
    decision.withdrawn_by, decision.withdrawn_at = who, now
    decision.history = [
        *(decision.history or []),
        {"at": now.isoformat(), "by": who, "reason": why, "withdrawn": True},
    ]
    session.flush()
    return decision


# ---- the database: results --------------------------------------------------------------


def _result(
    session: Session, programme: Programme, learner_id: int, period_code: str, skip_resit: bool = False
) -> SemesterResult:
    definition = definition_of(programme)
    definition.period(period_code)
    period_id = next(p.id for p in programme.periods if p.code == period_code)
    action_codes = {a.id: a.code for a in programme.actions}
    items = [
        PointItem(action_codes[action_id], points, "completion")
        for action_id, points in session.execute(
            select(EarnedPoints.action_id, EarnedPoints.points).where(
                EarnedPoints.programme_id == programme.id,
                EarnedPoints.learner_id == learner_id,
                EarnedPoints.period_id == period_id,
                EarnedPoints.status == "counted",
            )
        )
    ]
    items.extend(
        PointItem(action_codes[action_id], points, "grant")
        for action_id, points in session.execute(
            select(PointsGrant.action_id, PointsGrant.points).where(
                PointsGrant.programme_id == programme.id,
                PointsGrant.learner_id == learner_id,
                PointsGrant.period_id == period_id,
                PointsGrant.revoked_at.is_(None),
            )
        )
    )
    route: RouteGrade | None = None
    exemption: Exemption | None = None
    resit: Resit | None = None
    for d in session.scalars(
        select(SemesterDecision).where(
            SemesterDecision.period_id == period_id,
            SemesterDecision.learner_id == learner_id,
            SemesterDecision.withdrawn_at.is_(None),
        )
    ):
        if d.kind == "route" and d.route is not None and d.grade_centi is not None:
            route = RouteGrade(d.route, Decimal(d.grade_centi).scaleb(-2), d.decided_by, d.reason)
        elif d.kind == "exemption":
            exemption = Exemption(d.reason, d.decided_by)
        elif d.kind == "resit" and d.passed is not None and not skip_resit:
            resit = Resit(d.passed, d.decided_by)
    return compute_semester(definition, period_code, items, route, exemption, resit)


def semester_result(
    session: Session, est: Establishment, programme_code: str, learner_id: int, period_code: str
) -> SemesterResult:
    programme = get_programme(session, est, programme_code)
    _learner(session, est, learner_id)
    return _result(session, programme, learner_id, period_code)


def semester_results(
    session: Session, est: Establishment, programme_code: str, period_code: str
) -> dict[int, SemesterResult]:
    """Results of every learner with something in the period (points, a grant or a decision)."""
    programme = get_programme(session, est, programme_code)
    definition_of(programme).period(period_code)
    period_id = next(p.id for p in programme.periods if p.code == period_code)
    learners: set[int] = set()
    for model in (EarnedPoints, PointsGrant, SemesterDecision):
        learners.update(
            session.scalars(
                select(model.learner_id)
                .where(model.programme_id == programme.id, model.period_id == period_id)
                .distinct()
            )
        )
    return {lid: _result(session, programme, lid, period_code) for lid in sorted(learners)}
