"""The figures behind the dashboards ("tableaux de bord de pilotage") of one establishment.

Each function answers one chart as (label, count) rows in display order; the chart, its table
fallback and its CSV download are all drawn from the same rows, so they cannot disagree.
Badges count when issued (revoked ones are left out); a "programme" is a competency framework
(référentiel), the unit an establishment's badge programme is built on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, func, select
from sqlalchemy.orm import Session

from acquis.core.models import (
    Activity,
    Award,
    Competency,
    Framework,
    Level,
    OutboxMessage,
    Validation,
    rule_activity,
    utcnow,
)

Rows = list[tuple[str, int]]
MONTHS = 12


def _month(session: Session, column: Any) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column, type_=String)


def _issued(establishment_id: int) -> list[ColumnElement[bool]]:
    return [Award.establishment_id == establishment_id, Award.status == "issued"]


def issued_by_month(session: Session, establishment_id: int, now: datetime | None = None) -> Rows:
    """Badges issued in each of the last twelve months, empty months included."""
    now = now or utcnow()
    months: list[str] = []
    year, month = now.year, now.month
    for _ in range(MONTHS):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    months.reverse()
    start = datetime(int(months[0][:4]), int(months[0][5:]), 1, tzinfo=now.tzinfo)
    by_month = _month(session, Award.issued_at)
    counted: dict[str, int] = {
        m: int(n)
        for m, n in session.execute(
            select(by_month, func.count(Award.id))
            .where(*_issued(establishment_id), Award.issued_at >= start)
            .group_by(by_month)
        ).all()
    }
    return [(m, int(counted.get(m, 0))) for m in months]


def issued_by_competency_level(session: Session, establishment_id: int) -> Rows:
    rows = session.execute(
        select(Competency.code, Level.label, func.count(Award.id))
        .select_from(Award)
        .join(Validation, Validation.id == Award.validation_id)
        .join(Competency, Competency.id == Validation.competency_id)
        .join(Level, Level.id == Validation.level_id)
        .where(*_issued(establishment_id))
        .group_by(Competency.code, Level.label, Level.rank)
        .order_by(Competency.code, Level.rank)
    ).all()
    return [(f"{code} · {label}", int(n)) for code, label, n in rows]


def issued_by_course(session: Session, establishment_id: int) -> Rows:
    """Badges whose validating rule tags an activity of the course (a rule may span courses).

    Activities whose course is not known yet (tagged by URL, no statement received) count nowhere.
    """
    count = func.count(func.distinct(Award.id))
    rows = session.execute(
        select(Activity.course_ref, count)
        .select_from(Award)
        .join(Validation, Validation.id == Award.validation_id)
        .join(rule_activity, rule_activity.c.rule_id == Validation.rule_id)
        .join(Activity, Activity.id == rule_activity.c.activity_id)
        .where(*_issued(establishment_id), Activity.course_ref.is_not(None))
        .group_by(Activity.course_ref)
        .order_by(count.desc(), Activity.course_ref)
    ).all()
    return [(str(ref), int(n)) for ref, n in rows]


def issued_by_programme(session: Session, establishment_id: int) -> Rows:
    rows = session.execute(
        select(Framework.title, func.count(Award.id))
        .select_from(Award)
        .join(Validation, Validation.id == Award.validation_id)
        .join(Competency, Competency.id == Validation.competency_id)
        .join(Framework, Framework.id == Competency.framework_id)
        .where(*_issued(establishment_id))
        .group_by(Framework.id, Framework.title)
        .order_by(Framework.title)
    ).all()
    return [(title, int(n)) for title, n in rows]


def pending_jury(session: Session, establishment_id: int) -> Rows:
    rows = session.execute(
        select(Competency.code, Level.label, func.count(Validation.id))
        .select_from(Validation)
        .join(Competency, Competency.id == Validation.competency_id)
        .join(Level, Level.id == Validation.level_id)
        .where(Validation.establishment_id == establishment_id, Validation.status == "pending_approval")
        .group_by(Competency.code, Level.label, Level.rank)
        .order_by(Competency.code, Level.rank)
    ).all()
    return [(f"{code} · {label}", int(n)) for code, label, n in rows]


DELIVERY_STATUSES = ("done", "pending", "failed")


def delivery_health(session: Session, establishment_id: int) -> Rows:
    """Outbox messages by status: delivered, waiting (or retrying), failed for an admin to act on."""
    counted: dict[str, int] = {
        status: int(n)
        for status, n in session.execute(
            select(OutboxMessage.status, func.count(OutboxMessage.id))
            .where(OutboxMessage.establishment_id == establishment_id)
            .group_by(OutboxMessage.status)
        ).all()
    }
    return [(status, int(counted.get(status, 0))) for status in DELIVERY_STATUSES]
