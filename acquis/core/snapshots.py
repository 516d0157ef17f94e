"""Building the frozen event objects that hooks receive, from database rows."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core.errors import NotFound
from acquis.core.events import (
    AwardEvent,
    BadgeClassRef,
    CompletionEvent,
    EmissionReceipt,
    LearnerRef,
    ValidationEvent,
)
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
    Validation,
)

T = TypeVar("T")


def _get(session: Session, model: type[T], ident: int) -> T:
    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"{model.__name__} {ident} no longer exists")
    return row


def learner_ref(
    session: Session, learner_id: int, identifiers: Mapping[int, dict[str, str]] | None = None
) -> LearnerRef:
    """``identifiers``: those of many learners read at once (``award_events``), else read here."""
    learner = _get(session, Learner, learner_id)
    if identifiers is not None:
        idents = dict(identifiers.get(learner_id, {}))
    else:
        rows = session.execute(
            select(LearnerIdentifier.system, LearnerIdentifier.value).where(
                LearnerIdentifier.learner_id == learner_id
            )
        )
        idents = {system: value for system, value in rows}
    return LearnerRef(learner.id, learner.display_name, learner.email, idents)


def completion_event(session: Session, completion_id: int) -> CompletionEvent:
    c = _get(session, Completion, completion_id)
    activity = _get(session, Activity, c.activity_id)
    return CompletionEvent(
        id=c.id,
        learner=learner_ref(session, c.learner_id),
        activity_source_id=activity.source_id,
        activity_name=activity.name,
        state=c.state,
        grade=c.grade,
        occurred_at=c.occurred_at,
    )


def validation_event(session: Session, validation_id: int) -> ValidationEvent:
    v = _get(session, Validation, validation_id)
    comp = _get(session, Competency, v.competency_id)
    level = _get(session, Level, v.level_id)
    framework = _get(session, Framework, comp.framework_id)
    return ValidationEvent(
        id=v.id,
        learner=learner_ref(session, v.learner_id),
        framework_code=framework.code,
        competency_code=comp.code,
        competency_title=comp.title,
        level_rank=level.rank,
        level_label=level.label,
        status=v.status,
        method=v.method,
        evidence=tuple(v.evidence or ()),
        reason=v.reason,
    )


def badge_class_ref(session: Session, badge: BadgeClass) -> BadgeClassRef:
    comp = _get(session, Competency, badge.competency_id)
    level = _get(session, Level, badge.level_id)
    return BadgeClassRef(
        id=badge.id,
        public_id=badge.public_id,
        name=badge.name,
        description=badge.description,
        criteria=badge.criteria,
        competency_code=comp.code,
        level_rank=level.rank,
        obf_badge_id=badge.obf_badge_id,
    )


def award_event(
    session: Session, award_id: int, identifiers: Mapping[int, dict[str, str]] | None = None
) -> AwardEvent:
    award = _get(session, Award, award_id)
    badge = _get(session, BadgeClass, award.badge_class_id)
    return AwardEvent(
        id=award.id,
        public_id=award.public_id,
        learner=learner_ref(session, award.learner_id, identifiers),
        badge_class=badge_class_ref(session, badge),
        validation_id=award.validation_id,
        created_at=award.created_at,
        expires_at=award.expires_at,
        revocation_reason=award.revocation_reason,
    )


def award_events(session: Session, award_ids: Collection[int]) -> dict[int, AwardEvent]:
    """Snapshots of many awards in one statement per table, where ``award_event`` costs seven
    per award: a worker delivering a batch of awards spent most of its time on those reads.

    An award whose rows are gone is left out; ``award_event`` on it says which row is missing.
    """
    if not award_ids:
        return {}
    # Rows read here stay in the session's identity map (held by ``loaded``, which it only
    # references weakly), so that ``award_event`` below finds them without a round trip.
    loaded: list[Any] = list(session.scalars(select(Award).where(Award.id.in_(award_ids))))
    awards: list[Award] = list(loaded)
    learner_ids = {a.learner_id for a in awards}
    badges = list(
        session.scalars(select(BadgeClass).where(BadgeClass.id.in_({a.badge_class_id for a in awards})))
    )
    loaded += badges
    loaded += session.scalars(select(Competency).where(Competency.id.in_({b.competency_id for b in badges})))
    loaded += session.scalars(select(Level).where(Level.id.in_({b.level_id for b in badges})))
    loaded += session.scalars(select(Learner).where(Learner.id.in_(learner_ids)))
    identifiers: dict[int, dict[str, str]] = {}
    for learner_id, system, value in session.execute(
        select(LearnerIdentifier.learner_id, LearnerIdentifier.system, LearnerIdentifier.value).where(
            LearnerIdentifier.learner_id.in_(learner_ids)
        )
    ):
        identifiers.setdefault(learner_id, {})[system] = value
    events: dict[int, AwardEvent] = {}
    for award in awards:
        try:
            events[award.id] = award_event(session, award.id, identifiers)
        except NotFound:
            continue
    return events


def receipt_of(award: Award) -> EmissionReceipt | None:
    if award.receipt is None or award.emitter is None:
        return None
    return EmissionReceipt(
        emitter=award.emitter,
        external_id=award.external_id,
        url=award.receipt.get("url"),
        data=award.receipt.get("data", {}),
    )
