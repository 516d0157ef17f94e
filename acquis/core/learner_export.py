"""A learner's data, found by any identifier and exported as one JSON document (GDPR art. 15, 20).

The export shows rows as they are stored (every column but internal keys), so nothing held
about the learner is left out because nobody thought to add it to a report.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core.errors import InvalidInput, NotFound
from acquis.core.models import (
    Activity,
    Attestation,
    Award,
    BadgeClass,
    Competency,
    Completion,
    Establishment,
    Framework,
    Learner,
    LearnerIdentifier,
    Level,
    Partner,
    Validation,
    ValidationEvent,
    utcnow,
)
from acquis.core.models.certifications import CertificationResult, CompetencyRating
from acquis.core.models.programmes import EarnedPoints, PointsGrant, SemesterDecision


# ---- finding a learner ---------------------------------------------------------------------
def find(session: Session, est: Establishment, identifier: str, system: str | None = None) -> Learner:
    """The learner known by ``identifier`` (any system's value, or the email) in ``est``."""
    identifier = identifier.strip()
    if not identifier:
        raise InvalidInput("give the learner's identifier or email", field="learner")
    query = select(LearnerIdentifier.learner_id).where(
        LearnerIdentifier.establishment_id == est.id, LearnerIdentifier.value == identifier
    )
    if system:
        query = query.where(LearnerIdentifier.system == system)
    ids = set(session.scalars(query))
    if not system:
        ids |= set(
            session.scalars(
                select(Learner.id).where(Learner.establishment_id == est.id, Learner.email == identifier)
            )
        )
    if not ids:
        raise NotFound(f"no learner known as {identifier!r} in {est.slug}")
    if len(ids) > 1:
        systems = sorted(
            set(
                session.scalars(
                    select(LearnerIdentifier.system).where(
                        LearnerIdentifier.learner_id.in_(ids), LearnerIdentifier.value == identifier
                    )
                )
            )
        )
        raise InvalidInput(
            f"{identifier!r} names {len(ids)} learners: say which system with --system "
            f"({', '.join(systems) or 'email'})",
            field="learner",
        )
    learner = session.get(Learner, ids.pop())
    assert learner is not None
    return learner


# ---- export --------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _row(obj: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    """A row's columns as JSON values: the export shows what is stored, as stored."""
    left_out = {"establishment_id", "learner_id", *skip}
    return {c.key: _plain(getattr(obj, c.key)) for c in obj.__table__.columns if c.key not in left_out}


def export(session: Session, est: Establishment, learner: Learner) -> dict[str, Any]:
    """One JSON-ready document with everything acquis holds about ``learner``."""
    lid = learner.id
    identifiers = session.scalars(
        select(LearnerIdentifier).where(LearnerIdentifier.learner_id == lid).order_by(LearnerIdentifier.id)
    )
    completions = session.execute(
        select(Completion, Activity.source_id, Activity.name)
        .join(Activity, Activity.id == Completion.activity_id)
        .where(Completion.learner_id == lid)
        .order_by(Completion.occurred_at, Completion.id)
    ).all()
    validations = session.execute(
        select(Validation, Competency.code, Competency.title, Level.rank, Level.label, Framework.code)
        .join(Competency, Competency.id == Validation.competency_id)
        .join(Level, Level.id == Validation.level_id)
        .join(Framework, Framework.id == Competency.framework_id)
        .where(Validation.learner_id == lid)
        .order_by(Validation.id)
    ).all()
    events: dict[int, list[dict[str, Any]]] = {}
    for ev in session.scalars(
        select(ValidationEvent)
        .where(ValidationEvent.validation_id.in_([v.id for v, *_ in validations]))
        .order_by(ValidationEvent.id)
    ):
        events.setdefault(ev.validation_id, []).append(_row(ev, ("id", "validation_id")))
    attestations = session.execute(
        select(Attestation, Partner.name, Competency.code, Level.label)
        .join(Partner, Partner.id == Attestation.partner_id)
        .join(Competency, Competency.id == Attestation.competency_id)
        .join(Level, Level.id == Attestation.level_id)
        .where(Attestation.learner_id == lid)
        .order_by(Attestation.id)
    ).all()
    awards = session.execute(
        select(Award, BadgeClass.name)
        .join(BadgeClass, BadgeClass.id == Award.badge_class_id)
        .where(Award.learner_id == lid)
        .order_by(Award.id)
    ).all()

    def rows(model: type[Any]) -> list[dict[str, Any]]:
        return [
            _row(r) for r in session.scalars(select(model).where(model.learner_id == lid).order_by(model.id))
        ]

    return {
        "establishment": est.slug,
        "exported_at": utcnow().isoformat(),
        "learner": {
            "id": learner.id,
            "display_name": learner.display_name,
            "email": learner.email,
            "created_at": _plain(learner.created_at),
            "erased_at": _plain(learner.erased_at),
            "identifiers": [{"system": i.system, "value": i.value} for i in identifiers],
        },
        "completions": [
            {**_row(c, ("activity_id",)), "activity": source, "activity_name": name}
            for c, source, name in completions
        ],
        "validations": [
            {
                **_row(v),
                "framework": fw_code,
                "competency": code,
                "competency_title": title,
                "level_rank": rank,
                "level": label,
                "events": events.get(v.id, []),
            }
            for v, code, title, rank, label, fw_code in validations
        ],
        "attestations": [
            {**_row(a), "partner": partner, "competency": code, "level": label}
            for a, partner, code, label in attestations
        ],
        "points": {
            "earned": rows(EarnedPoints),
            "grants": rows(PointsGrant),
            "semester_decisions": rows(SemesterDecision),
        },
        "certification": {"ratings": rows(CompetencyRating), "results": rows(CertificationResult)},
        "awards": [
            {
                **_row(a, ("receipt", "last_error")),
                "badge": badge_name,
                "url": (a.receipt or {}).get("url"),
            }
            for a, badge_name in awards
        ],
    }
