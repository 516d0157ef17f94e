"""Tagging activities: what completing an LMS activity validates."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import frameworks
from acquis.core.errors import InvalidInput, NotFound
from acquis.core.models import TRIGGERS, Activity, Competency, Establishment, Level, ValidationRule
from acquis.core.plugins import PluginHost
from acquis.core.xapi import is_iri


def find_level(
    session: Session, est: Establishment, competency: str, level: str, framework: str | None = None
) -> Level:
    """A level by competency code and level rank, code or label (case-insensitive)."""
    fw = frameworks.get(session, est, framework)
    comp = session.scalar(
        select(Competency).where(Competency.framework_id == fw.id, Competency.code == competency)
    )
    if comp is None:
        raise NotFound(f"no competency {competency!r} in framework {fw.code!r}")
    wanted = level.strip().casefold()
    for lv in comp.levels:
        if wanted in (str(lv.rank), lv.code.casefold(), lv.label.casefold()):
            return lv
    choices = ", ".join(lv.label for lv in comp.levels)
    raise NotFound(f"no level {level!r} for {competency} (levels: {choices})")


def get_or_create_activity(session: Session, est: Establishment, source_id: str, name: str = "") -> Activity:
    # The same rule as for statements' object ids: a tag on anything else could never match.
    if not is_iri(source_id):
        raise InvalidInput(
            "an activity is named by its URL in the LMS (the xAPI object id)", field="activity"
        )
    activity = session.scalar(
        select(Activity).where(Activity.establishment_id == est.id, Activity.source_id == source_id)
    )
    if activity is None:
        activity = Activity(establishment_id=est.id, source_id=source_id, name=name)
        session.add(activity)
        session.flush()
    elif name and not activity.name:
        activity.name = name
    return activity


def add_rule(
    session: Session,
    est: Establishment,
    level: Level,
    activity_ids: Sequence[str],
    trigger: str = "completion",
    min_grade: float | None = None,
    required_count: int = 1,
    created_by: str = "",
) -> ValidationRule:
    if trigger not in TRIGGERS:
        raise InvalidInput(f"use one of {', '.join(TRIGGERS)}", field="trigger")
    if trigger == "min_grade":
        if min_grade is None or not 0 <= min_grade <= 1:
            raise InvalidInput(
                "give the minimum grade as a fraction from 0 to 1 (e.g. 0.6)", field="min_grade"
            )
    elif min_grade is not None:
        raise InvalidInput("only the min_grade trigger takes a minimum grade", field="min_grade")
    if not activity_ids:
        raise InvalidInput("name at least one activity", field="activity")
    if len(set(activity_ids)) != len(activity_ids):
        raise InvalidInput("an activity is named twice", field="activity")
    if not 1 <= required_count <= len(activity_ids):
        raise InvalidInput(f"must be between 1 and {len(activity_ids)}", field="required_count")
    activities = [get_or_create_activity(session, est, a) for a in activity_ids]
    rule = ValidationRule(
        establishment_id=est.id,
        level_id=level.id,
        trigger=trigger,
        min_grade=min_grade,
        required_count=required_count,
        created_by=created_by,
        activities=activities,
    )
    session.add(rule)
    session.flush()
    return rule


def apply_to_past(session: Session, host: PluginHost, est: Establishment, rule: ValidationRule) -> int:
    """Run a new rule over the completions already received; returns the learners looked at."""
    from acquis.core.models import Completion
    from acquis.core.rules import Engine
    from acquis.core.sql import lock_learners

    pairs = session.execute(
        select(Completion.learner_id, Completion.activity_id)
        .where(
            Completion.establishment_id == est.id,
            Completion.activity_id.in_([a.id for a in rule.activities]),
        )
        .distinct()
    ).all()
    lock_learners(session, (p[0] for p in pairs))
    Engine(session, host, est.id).on_completions((p[0], p[1]) for p in pairs)
    return len({p[0] for p in pairs})
