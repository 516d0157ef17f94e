"""Open Badges 2.0 documents (Issuer, BadgeClass, Assertion, RevocationList) as JSON-LD.

Built from the database at request time, so a badge class edited or an assertion revoked is
reflected at once at its stable URL (hosted verification).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core.evidence import evidence_refs
from acquis.core.models import (
    Activity,
    Attestation,
    Award,
    BadgeClass,
    Competency,
    Completion,
    Establishment,
    Framework,
    Level,
    Partner,
    Validation,
)
from acquis.plugins.openbadges import urls

CONTEXT = "https://w3id.org/openbadges/v2"


def _iso(dt: Any) -> str:
    return str(dt.isoformat().replace("+00:00", "Z"))


def issuer(est: Establishment, public_url: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "type": "Issuer",
        "id": urls.issuer(public_url, est.slug),
        "name": est.name,
        "url": est.website or urls.issuer(public_url, est.slug),
        "revocationList": urls.revocations(public_url, est.slug),
    }
    if est.contact_email:
        doc["email"] = est.contact_email
    return doc


def badge_class(session: Session, badge: BadgeClass, public_url: str) -> dict[str, Any]:
    est = session.get(Establishment, badge.establishment_id)
    comp = session.get(Competency, badge.competency_id)
    level = session.get(Level, badge.level_id)
    assert est is not None and comp is not None and level is not None
    framework = session.get(Framework, comp.framework_id)
    assert framework is not None
    alignment = {
        "targetName": f"{comp.title} — {level.label}",
        "targetUrl": comp.uri or urls.competency(public_url, comp.id),
        "targetDescription": comp.description or comp.title,
        "targetFramework": framework.title,
        "targetCode": f"{comp.code}#{level.code}",
    }
    return {
        "@context": CONTEXT,
        "type": "BadgeClass",
        "id": urls.badge_class(public_url, badge.public_id),
        "name": badge.name,
        "description": badge.description or f"{comp.title} — {level.label}",
        "image": urls.badge_image(public_url, badge.public_id),
        "criteria": {
            "id": urls.criteria(public_url, badge.public_id),
            "narrative": badge.criteria or f"Reach the level {level.label} of {comp.title}.",
        },
        "issuer": urls.issuer(public_url, est.slug),
        "alignment": [alignment],
        "tags": [framework.code, comp.code, level.code],
    }


def assertion(session: Session, award: Award, public_url: str) -> dict[str, Any]:
    badge = session.get(BadgeClass, award.badge_class_id)
    assert badge is not None and award.receipt is not None
    data = award.receipt.get("data", {})
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "type": "Assertion",
        "id": urls.assertion(public_url, award.public_id),
        "recipient": {
            "type": data["recipient_type"],
            "hashed": True,
            "salt": data["salt"],
            "identity": data["identity"],
        },
        "badge": urls.badge_class(public_url, badge.public_id),
        "issuedOn": _iso(award.issued_at or award.created_at),
        "verification": {"type": "HostedBadge"},
    }
    if award.expires_at is not None:
        doc["expires"] = _iso(award.expires_at)
    evidence = _evidence(session, award)
    if evidence:
        doc["evidence"] = evidence
    return doc


def _evidence(session: Session, award: Award) -> list[dict[str, Any]]:
    """OB 2.0 Evidence: the LMS activities completed and the partners' attestations."""
    validation = session.get(Validation, award.validation_id)
    if validation is None or not validation.evidence:
        return []
    refs = evidence_refs(validation.evidence)
    items: list[dict[str, Any]] = []
    if refs.get("completion"):
        rows = session.execute(
            select(Activity.source_id, Activity.name, Completion.state, Completion.occurred_at)
            .join(Completion, Completion.activity_id == Activity.id)
            .where(Completion.id.in_(refs["completion"]))
            .order_by(Completion.occurred_at)
        ).all()
        items.extend(
            {"id": source_id, "name": name or source_id, "narrative": f"{state} on {_iso(occurred)}"}
            for source_id, name, state, occurred in rows
        )
    if refs.get("attestation"):
        attested = session.execute(
            select(Attestation.evidence_url, Attestation.note, Attestation.attested_by, Partner.name)
            .join(Partner, Partner.id == Attestation.partner_id)
            .where(Attestation.id.in_(refs["attestation"]))
            .order_by(Attestation.id)
        ).all()
        for url, note, by, partner in attested:
            item: dict[str, Any] = {
                "name": f"Attested by {partner}",
                "narrative": note or f"Attested by {by}",
            }
            if url:
                item["id"] = url
            items.append(item)
    return items


def revocation_list(session: Session, est: Establishment, public_url: str) -> dict[str, Any]:
    revoked = session.execute(
        select(Award.public_id, Award.revocation_reason)
        .where(
            Award.establishment_id == est.id,
            Award.status == "revoked",
            Award.emitter == "openbadges",
        )
        .order_by(Award.id)
    ).all()
    return {
        "@context": CONTEXT,
        "type": "RevocationList",
        "id": urls.revocations(public_url, est.slug),
        "issuer": urls.issuer(public_url, est.slug),
        "revokedAssertions": [
            {"id": urls.assertion(public_url, pid), "revocationReason": reason or "revoked"}
            for pid, reason in revoked
        ],
    }
