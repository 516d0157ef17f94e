"""What an admin does to one award: retry a parked delivery, or re-issue where the policy allows."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acquis.core import delivery, outbox
from acquis.core.errors import InvalidInput, NotFound
from acquis.core.models import Award, BadgeClass, OutboxMessage, Validation, utcnow


def get(session: Session, establishment_id: int, public_id: str) -> Award:
    award = session.scalar(select(Award).where(Award.public_id == public_id))
    if award is None or award.establishment_id != establishment_id:
        raise NotFound(f"no award {public_id} in this establishment (see `acquis award list`)")
    return award


def retry(session: Session, establishment_id: int, public_id: str) -> Award:
    """Deliver a parked award again (after the admin fixed what its error said)."""
    award = get(session, establishment_id, public_id)
    if award.status != "failed":
        raise InvalidInput(f"this award is {award.status}: only a failed award can be retried", field="award")
    msg = session.scalar(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == f"{outbox.EMIT_BADGE}:{award.id}")
    )
    if msg is None:
        raise NotFound(f"award {public_id} has no delivery to retry")
    delivery.retry(session, establishment_id, msg.id)
    return award


def reissue(session: Session, establishment_id: int, public_id: str, by: str) -> Award:
    """Issue the badge of ``public_id`` again to the same learner, as a new award.

    While the learner holds a live copy this makes a duplicate, which the badge class's policy
    must allow; and never once the level is no longer validated: a re-issue does not bring
    back a badge whose evidence is gone.
    """
    if not by.strip():
        raise InvalidInput("say who re-issues the badge", field="by")
    award = get(session, establishment_id, public_id)
    badge = session.get(BadgeClass, award.badge_class_id)
    assert badge is not None
    validation = session.get(Validation, award.validation_id)
    if validation is None or validation.status != "validated":
        raise InvalidInput("the level this badge rests on is no longer validated", field="award")
    live = session.scalar(
        select(func.count())
        .select_from(Award)
        .where(Award.validation_id == validation.id, Award.status.in_(("pending", "issued")))
    )
    if live and not badge.allow_reissue:
        raise InvalidInput(
            f"the learner holds this badge already and {badge.name!r} denies duplicates "
            "(acquis badge policy … --reissue allows them)",
            field="award",
        )
    last = session.scalar(select(func.max(Award.issue_no)).where(Award.validation_id == validation.id)) or 0
    fresh = Award(
        establishment_id=establishment_id,
        badge_class_id=badge.id,
        learner_id=award.learner_id,
        validation_id=validation.id,
        issue_no=last + 1,
        status="pending",
        expires_at=award.expires_at,
        last_error=None,
        created_at=utcnow(),
    )
    session.add(fresh)
    session.flush()
    outbox.emit(session, establishment_id, fresh.id)
    return fresh
