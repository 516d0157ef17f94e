"""What the course pages show, read from the database: a course is what Moodle's launch names.

A course's activities are those whose statements named it (``course_ref`` is the xAPI parent
``<wwwroot>/course/view.php?id=<course id>``) or that were tagged from its page; its learners are
those with a completion in one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import frameworks
from acquis.core.models import (
    Activity,
    Award,
    BadgeClass,
    Competency,
    Completion,
    Framework,
    Learner,
    LearnerIdentifier,
    Level,
    LtiPlatform,
    Programme,
    ProgrammeAction,
    Validation,
    ValidationRule,
    rule_activity,
)


def course_ref(session: Session, platform_id: int, context_id: str) -> tuple[str, str]:
    """(the platform's wwwroot, the course's xAPI id) for an LTI launch from Moodle."""
    issuer = session.scalar(select(LtiPlatform.issuer).where(LtiPlatform.id == platform_id))
    assert issuer is not None
    wwwroot = issuer.rstrip("/")
    return wwwroot, f"{wwwroot}/course/view.php?id={context_id}"


def activities(session: Session, establishment_id: int, ref: str) -> list[Activity]:
    return list(
        session.scalars(
            select(Activity)
            .where(Activity.establishment_id == establishment_id, Activity.course_ref == ref)
            .order_by(Activity.name, Activity.id)
        )
    )


@dataclass(frozen=True)
class TagView:
    rule_id: int
    competency_code: str
    competency_title: str
    level_label: str
    trigger: str
    min_grade: float | None
    required: int
    of: int


def tags_by_activity(session: Session, activity_ids: list[int]) -> dict[int, list[TagView]]:
    if not activity_ids:
        return {}
    out: dict[int, list[TagView]] = {}
    rows = session.execute(
        select(rule_activity.c.activity_id, ValidationRule, Level, Competency)
        .join(ValidationRule, ValidationRule.id == rule_activity.c.rule_id)
        .join(Level, Level.id == ValidationRule.level_id)
        .join(Competency, Competency.id == Level.competency_id)
        .where(rule_activity.c.activity_id.in_(activity_ids))
        .order_by(Competency.position, Level.rank)
    ).all()
    for activity_id, rule, level, comp in rows:
        out.setdefault(activity_id, []).append(
            TagView(
                rule.id,
                comp.code,
                comp.title,
                level.label,
                rule.trigger,
                rule.min_grade,
                rule.required_count,
                len(rule.activities),
            )
        )
    return out


def level_choices(session: Session, establishment_id: int) -> list[tuple[int, str]]:
    """Every (level id, "C1 Title — Level") an activity can validate, facets included."""
    rows = session.execute(
        select(Level.id, Competency.code, Competency.title, Level.label)
        .join(Competency, Competency.id == Level.competency_id)
        .join(Framework, Framework.id == Competency.framework_id)
        .where(Framework.establishment_id == establishment_id)
        .order_by(Framework.id, Competency.position, Level.rank)
    ).all()
    return [(lid, f"{code} {title} — {label}") for lid, code, title, label in rows]


def action_choices(session: Session, establishment_id: int) -> list[tuple[str, str]]:
    """Every ("programme|action", "Programme — Action (min–max pts)") an activity can count as."""
    rows = session.execute(
        select(Programme.code, Programme.title, ProgrammeAction)
        .join(ProgrammeAction, ProgrammeAction.programme_id == Programme.id)
        .where(Programme.establishment_id == establishment_id)
        .order_by(Programme.code, ProgrammeAction.position, ProgrammeAction.id)
    ).all()
    out: list[tuple[str, str]] = []
    for code, title, action in rows:
        span = (
            f"{action.min_points}"
            if action.min_points == action.max_points
            else (f"{action.min_points}–{action.max_points}")
        )
        out.append((f"{code}|{action.code}", f"{title} — {action.title} ({span} pts)"))
    return out


def learners(session: Session, activity_ids: list[int]) -> list[Learner]:
    if not activity_ids:
        return []
    ids = select(Completion.learner_id).where(Completion.activity_id.in_(activity_ids)).distinct()
    return list(session.scalars(select(Learner).where(Learner.id.in_(ids)).order_by(Learner.display_name)))


@dataclass(frozen=True)
class PendingView:
    validation_id: int
    learner_name: str
    competency: str
    level: str


def pending(session: Session, establishment_id: int, learner_ids: list[int]) -> list[PendingView]:
    if not learner_ids:
        return []
    rows = session.execute(
        select(Validation.id, Learner.display_name, Competency.title, Level.label)
        .join(Learner, Learner.id == Validation.learner_id)
        .join(Competency, Competency.id == Validation.competency_id)
        .join(Level, Level.id == Validation.level_id)
        .where(
            Validation.establishment_id == establishment_id,
            Validation.status == "pending_approval",
            Validation.learner_id.in_(learner_ids),
        )
        .order_by(Learner.display_name, Competency.position, Level.rank)
    ).all()
    return [PendingView(*row) for row in rows]


@dataclass
class CompetencyProgress:
    code: str
    title: str
    levels: list[tuple[str, str]] = field(default_factory=list)  # (label, status or "")
    reached: str = ""  # the highest validated level
    next_level: str = ""
    next_needs: list[str] = field(default_factory=list)  # activity names or URLs that would validate it


def progress(session: Session, establishment_id: int, learner_id: int) -> list[CompetencyProgress]:
    """Per top-level competency: the status of each level, and what the next level needs."""
    statuses = {
        level_id: status
        for level_id, status in session.execute(
            select(Validation.level_id, Validation.status).where(Validation.learner_id == learner_id)
        )
    }
    out: list[CompetencyProgress] = []
    for comp in frameworks.top_competencies(session, establishment_id):
        view = CompetencyProgress(comp.code, comp.title)
        for level in comp.levels:
            status = statuses.get(level.id, "")
            view.levels.append((level.label, status))
            if status == "validated":
                view.reached = level.label
            elif not view.next_level:
                view.next_level = level.label
                view.next_needs = _needs(session, level.id)
        out.append(view)
    return out


def _needs(session: Session, level_id: int) -> list[str]:
    rules = session.scalars(select(ValidationRule).where(ValidationRule.level_id == level_id))
    needs: list[str] = []
    for rule in rules:
        names = [a.name or a.source_id for a in rule.activities]
        if rule.required_count < len(names):
            needs.append(f"{rule.required_count} / {len(names)} : " + ", ".join(names))
        else:
            needs.extend(names)
    return needs


def learner_for(session: Session, establishment_id: int, wwwroot: str, user_sub: str) -> Learner | None:
    """The learner Moodle's statements created: its xAPI account is the same Moodle user id."""
    learner_id = session.scalar(
        select(LearnerIdentifier.learner_id).where(
            LearnerIdentifier.establishment_id == establishment_id,
            LearnerIdentifier.system == f"xapi:{wwwroot}",
            LearnerIdentifier.value == user_sub,
        )
    )
    return session.get(Learner, learner_id) if learner_id is not None else None


@dataclass(frozen=True)
class BadgeView:
    award_id: int
    name: str
    status: str
    url: str | None


def badges(session: Session, learner_id: int) -> list[BadgeView]:
    rows = session.execute(
        select(Award, BadgeClass.name)
        .join(BadgeClass)
        .where(Award.learner_id == learner_id)
        .order_by(Award.id)
    ).all()
    return [BadgeView(a.id, name, a.status, (a.receipt or {}).get("url")) for a, name in rows]


def validated(session: Session, learner_id: int) -> list[tuple[int, str]]:
    rows = session.execute(
        select(Validation.id, Competency.title, Level.label)
        .join(Competency, Competency.id == Validation.competency_id)
        .join(Level, Level.id == Validation.level_id)
        .where(Validation.learner_id == learner_id, Validation.status == "validated")
        .order_by(Competency.position, Level.rank)
    ).all()
    return [(vid, f"{title} — {label}") for vid, title, label in rows]


def roster_learners(session: Session, establishment_id: int, issuer: str, user_ids: list[str]) -> list[int]:
    """The learners behind a course roster's LTI user ids (``lti:<issuer>`` identifiers)."""
    if not issuer or not user_ids:
        return []
    return list(
        session.scalars(
            select(LearnerIdentifier.learner_id).where(
                LearnerIdentifier.establishment_id == establishment_id,
                LearnerIdentifier.system == f"lti:{issuer}",
                LearnerIdentifier.value.in_(user_ids),
            )
        )
    )


def course_learner_ids(
    session: Session, establishment_id: int, platform_id: int, context_id: str
) -> list[int]:
    """The course's learners: those with a completion in its activities, and its roster's students."""
    from acquis.lti import courses

    _, ref = course_ref(session, platform_id, context_id)
    ids = [a.id for a in activities(session, establishment_id, ref)]
    found = {p.id for p in learners(session, ids)}
    platform = session.get(LtiPlatform, platform_id)
    course = courses.get(session, platform_id, context_id)
    if platform is not None and course is not None:
        found.update(roster_learners(session, establishment_id, platform.issuer, course.roster))
    return sorted(found)
