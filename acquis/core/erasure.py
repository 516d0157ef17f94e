"""A learner's data erased on request (GDPR art. 17), after everything public is withdrawn.

Erasure runs in two steps, because what is public must be withdrawn while we can still reach it:

1. ``request_erasure`` (one transaction): every live award is revoked through the usual path
   (the native issuer then answers 410 with the reason and lists it in the OB 3.0 status list;
   ``badge_revoked`` goes to the emitter that issued it, e.g. OBF, through the outbox), live
   validations are revoked (``validation_revoked`` for Pégase, Karuta…), and the learner's
   identifiers are recorded as erased so that statements re-sent from now on are dropped.
2. Once those outbox messages are delivered — they need the learner's email or identifiers to
   reach the remote copy — ``complete_erasure`` (one transaction) removes the personal data.

What stays, without personal data: the learner row (nameless, ``erased_at`` set) with its
revoked validations, their audit events and revoked awards, so that public assertion URLs keep
answering "revoked" instead of vanishing, and the audit trail keeps its counts and decisions.
Completions, attestations, points, ratings, identifiers and pending outbox messages about the
learner are deleted. A failure in either step rolls that step back whole.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from acquis.core import adapters, crypto, delivery, outbox
from acquis.core.errors import InvalidInput, NotFound
from acquis.core.models import (
    Attestation,
    Award,
    Completion,
    ErasedIdentifier,
    Establishment,
    Learner,
    LearnerIdentifier,
    LtiLaunchData,
    OutboxMessage,
    Validation,
    ValidationEvent,
    utcnow,
)
from acquis.core.models.certifications import CertificationResult, CompetencyRating
from acquis.core.models.programmes import EarnedPoints, PointsGrant, SemesterDecision
from acquis.core.plugins import PluginHost
from acquis.core.rules import revoke_awards
from acquis.core.xapi import CompletionFact

ERASURE_REASON = "withdrawn at the learner's request (data erasure)"
ERASED_BY = "data erasure"
REVOCATION_TOPICS = ("badge_revoked", "validation_revoked")
LIVE_VALIDATIONS = ("validated", "pending_approval")

# Learner-owned rows deleted by the erasure (each has a learner_id column).
_DELETED: tuple[type[Any], ...] = (
    EarnedPoints,
    PointsGrant,
    SemesterDecision,
    CompetencyRating,
    CertificationResult,
    Attestation,
    Completion,
)


# ---- erased identifiers --------------------------------------------------------------------
def _digests(system: str, value: str, keys: Sequence[str]) -> list[str]:
    """HMAC-SHA256 of an identifier under each instance key (newest first): keyed, so the table
    of erased identifiers does not let anyone confirm a guessed Moodle user id."""
    message = f"{system}\x00{value}".encode()
    return [
        hmac.new(
            hashlib.sha256(b"acquis-erased-identifier\x00" + k.encode()).digest(), message, "sha256"
        ).hexdigest()
        for k in keys
    ]


def drop_erased(
    session: Session, establishment_id: int, facts: Sequence[CompletionFact]
) -> list[CompletionFact]:
    """The facts whose learner was not erased: statements re-sent for an erased learner are dropped.

    One indexed query per batch; every instance key is tried so that a key rotation does not
    bring erased learners back.
    """
    if not facts:
        return []
    keys = crypto.configured_keys()
    by_fact = {
        (f.identifier_system, f.identifier_value): _digests(f.identifier_system, f.identifier_value, keys)
        for f in facts
    }
    wanted = [d for ds in by_fact.values() for d in ds]
    erased: set[str] = set()
    for start in range(0, len(wanted), 1000):
        erased.update(
            session.scalars(
                select(ErasedIdentifier.digest).where(
                    ErasedIdentifier.establishment_id == establishment_id,
                    ErasedIdentifier.digest.in_(wanted[start : start + 1000]),
                )
            )
        )
    if not erased:
        return list(facts)
    return [f for f in facts if erased.isdisjoint(by_fact[(f.identifier_system, f.identifier_value)])]


# ---- erasure -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Owed:
    """A revocation the outside must receive before the learner's data may go."""

    message_id: int
    topic: str
    plugin: str | None
    status: str
    last_error: str | None


def _learner_messages(session: Session, learner_id: int, statuses: tuple[str, ...]) -> list[OutboxMessage]:
    """Outbox messages about the learner's awards, validations or completions, in ``statuses``."""
    award_ids = set(session.scalars(select(Award.id).where(Award.learner_id == learner_id)))
    validation_ids = set(session.scalars(select(Validation.id).where(Validation.learner_id == learner_id)))
    completion_ids = set(session.scalars(select(Completion.id).where(Completion.learner_id == learner_id)))
    learner = session.get(Learner, learner_id)
    assert learner is not None
    candidates = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.establishment_id == learner.establishment_id, OutboxMessage.status.in_(statuses))
        .order_by(OutboxMessage.id)
    )
    out = []
    for msg in candidates:
        p = msg.payload or {}
        if (
            p.get("award_id") in award_ids
            or p.get("validation_id") in validation_ids
            or p.get("completion_id") in completion_ids
        ):
            out.append(msg)
    return out


def owed_revocations(session: Session, learner_id: int) -> list[Owed]:
    return [
        Owed(m.id, m.topic, m.plugin, m.status, m.last_error)
        for m in _learner_messages(session, learner_id, ("pending", "failed"))
        if m.topic in REVOCATION_TOPICS
    ]


def request_erasure(session: Session, host: PluginHost, est: Establishment, learner: Learner) -> list[Owed]:
    """Step 1: withdraw everything public, stop new statements; returns the revocations owed.

    Idempotent: run again, it revokes whatever arrived since and puts parked revocations
    (an OBF that refused, since fixed) back in the queue.
    """
    if learner.establishment_id != est.id:
        raise NotFound("this learner belongs to another establishment")
    now = utcnow()
    enabled = adapters.enabled_names(session, est.id)
    identifiers = list(
        session.scalars(select(LearnerIdentifier).where(LearnerIdentifier.learner_id == learner.id))
    )
    newest = crypto.configured_keys()[:1]
    known = set(
        session.scalars(select(ErasedIdentifier.digest).where(ErasedIdentifier.establishment_id == est.id))
    )
    for ident in identifiers:
        digest = _digests(ident.system, ident.value, newest)[0]
        if digest not in known:
            session.add(ErasedIdentifier(establishment_id=est.id, digest=digest, erased_at=now))
            known.add(digest)
    live = list(
        session.scalars(
            select(Validation).where(
                Validation.learner_id == learner.id, Validation.status.in_(LIVE_VALIDATIONS)
            )
        )
    )
    for v in live:
        was_validated = v.status == "validated"
        v.status, v.version, v.decision, v.reason = "revoked", v.version + 1, None, ERASURE_REASON
        session.add(
            ValidationEvent(validation_id=v.id, at=now, status="revoked", by=ERASED_BY, reason=ERASURE_REASON)
        )
        if was_validated:
            outbox.broadcast(
                session,
                host,
                est.id,
                enabled,
                "validation_revoked",
                {"validation_id": v.id},
                f"{v.id}:{v.version}",
            )
    all_validations = list(session.scalars(select(Validation.id).where(Validation.learner_id == learner.id)))
    revoke_awards(session, host, enabled, all_validations, ERASURE_REASON)
    session.flush()
    for owed in owed_revocations(session, learner.id):
        if owed.status == "failed":
            delivery.retry(session, est.id, owed.message_id)
    session.flush()
    return owed_revocations(session, learner.id)


def complete_erasure(session: Session, est: Establishment, learner: Learner) -> dict[str, int]:
    """Step 2: remove the personal data, once nothing public remains and every revocation is out.

    Raises InvalidInput (and changes nothing) while a revocation is still owed or something
    live appeared since step 1. Returns how many rows of each kind went.
    """
    if learner.establishment_id != est.id:
        raise NotFound("this learner belongs to another establishment")
    owed = owed_revocations(session, learner.id)
    if owed:
        raise InvalidInput(
            f"{len(owed)} revocation(s) not delivered yet; personal data is kept until they are",
            field="learner",
        )
    still_live = session.scalar(
        select(Award.id).where(Award.learner_id == learner.id, Award.status != "revoked").limit(1)
    ) or session.scalar(
        select(Validation.id)
        .where(Validation.learner_id == learner.id, Validation.status.in_(LIVE_VALIDATIONS))
        .limit(1)
    )
    if still_live:
        raise InvalidInput("new evidence arrived since the request: run the erasure again", field="learner")
    lid = learner.id
    messages = _learner_messages(session, lid, ("pending", "failed"))
    now = utcnow()
    if any(m.locked_until is not None and m.locked_until > now for m in messages):
        # A worker is delivering something about the learner (an emission that may yet reach
        # the emitter): its outcome must be recorded, and revoked, before the data goes.
        raise InvalidInput(
            "a delivery about this learner is in progress: run the erasure again shortly", field="learner"
        )
    counts: dict[str, int] = {}
    secrets = [learner.email or "", learner.display_name or ""]
    identifiers = list(session.scalars(select(LearnerIdentifier).where(LearnerIdentifier.learner_id == lid)))
    secrets += [i.value for i in identifiers]
    counts["outbox_message"] = len(messages)
    if messages:
        session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_([m.id for m in messages])))
    for model in _DELETED:
        result = session.execute(delete(model).where(model.learner_id == lid))
        counts[model.__tablename__] = int(getattr(result, "rowcount", 0) or 0)
    counts["learner_identifier"] = len(identifiers)
    session.execute(delete(LearnerIdentifier).where(LearnerIdentifier.learner_id == lid))
    counts["lti_launch_data"] = _forget_launches(session, [s for s in secrets if len(s) >= 3])
    # Validations stay as the audit's skeleton: the evidence named completions now gone.
    session.execute(update(Validation).where(Validation.learner_id == lid).values(evidence=[]))
    for award in session.scalars(select(Award).where(Award.learner_id == lid)):
        # Keep the URL (the issuer answers 410 there); drop what identified the recipient
        # (the email OBF was sent, the native issuer's salted identity hash).
        url = (award.receipt or {}).get("url")
        award.receipt = {"url": url, "data": {}} if award.receipt is not None else None
        award.last_error = None
    learner.display_name, learner.email, learner.erased_at = "", None, utcnow()
    session.flush()
    return counts


def _forget_launches(session: Session, secrets: list[str]) -> int:
    """LTI launch data (short-lived copies of id tokens) naming the learner."""
    if not secrets:
        return 0
    doomed = [
        key
        for key, value in session.execute(select(LtiLaunchData.key, LtiLaunchData.value))
        if any(s in json.dumps(value, ensure_ascii=False) for s in secrets)
    ]
    if doomed:
        session.execute(delete(LtiLaunchData).where(LtiLaunchData.key.in_(doomed)))
    return len(doomed)
