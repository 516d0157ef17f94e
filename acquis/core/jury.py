"""Jury decisions on validations that a badge class holds for approval."""

from __future__ import annotations

from sqlalchemy.orm import Session

from acquis.core.errors import InvalidInput, NotFound
from acquis.core.models import Validation, ValidationEvent, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.rules import Engine
from acquis.core.sql import lock_learners

DECISIONS = ("approved", "rejected")


def decide(
    session: Session,
    host: PluginHost,
    establishment_id: int,
    validation_id: int,
    decision: str,
    by: str,
    reason: str = "",
) -> Validation:
    """Record who decided what, when and why; then let the engine move the status on.

    A decision can be reversed later (a jury that approved can reject): the engine revokes
    whatever rested on the approval, through the same hooks as any revocation.
    """
    if decision not in DECISIONS:
        raise InvalidInput(f"use one of {', '.join(DECISIONS)}", field="decision")
    if not by.strip():
        raise InvalidInput("a jury decision needs the name of who takes it", field="by")
    v = session.get(Validation, validation_id)
    if v is None or v.establishment_id != establishment_id:
        raise NotFound(f"no validation {validation_id} in this establishment")
    if v.status not in ("pending_approval", "validated", "rejected"):
        raise InvalidInput(f"this validation is {v.status}: there is nothing to decide", field="status")
    lock_learners(session, [v.learner_id])
    now = utcnow()
    v.decided_at, v.decided_by, v.reason, v.decision = now, by, reason or None, decision
    session.add(ValidationEvent(validation_id=v.id, at=now, decision=decision, by=by, reason=reason or None))
    session.flush()
    Engine(session, host, establishment_id).reconcile({(v.learner_id, v.competency_id)})
    session.refresh(v)  # the engine writes in bulk, behind the ORM's back
    return v
