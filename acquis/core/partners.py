"""Partners attest competencies shown outside school, within the domain they declared.

An attestation inside the partner's domain is evidence like a completed activity: the same
progression, jury and revocation rules apply to it. One outside the domain is refused, and
kept with its reason so that the partner and the school can see what happened.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import fields, frameworks
from acquis.core.errors import Conflict, InvalidInput, NotFound
from acquis.core.models import Attestation, Block, Competency, Establishment, Learner, Partner, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.rules import Engine
from acquis.core.sql import lock_learners
from acquis.core.tags import find_level

KINDS = ("association", "company", "public_body", "school")


def create(
    session: Session,
    est: Establishment,
    code: str,
    name: str,
    domain: Sequence[str],
    kind: str = "association",
    contact_email: str | None = None,
    framework: str | None = None,
) -> Partner:
    """``domain`` lists competency codes or block codes (a block stands for its competencies)."""
    fields.code(code, "code", 64, example="asso-numerique")
    if not name.strip():
        raise InvalidInput("must not be empty", field="name")
    if kind not in KINDS:
        raise InvalidInput(f"use one of {', '.join(KINDS)}", field="kind")
    if not domain:
        raise InvalidInput("a partner must declare at least one competency it may attest", field="domain")
    if session.scalar(select(Partner.id).where(Partner.establishment_id == est.id, Partner.code == code)):
        raise Conflict(f"partner {code!r} already exists in {est.slug}")
    fw = frameworks.get(session, est, framework)
    comps: dict[int, Competency] = {}
    for item in domain:
        block = session.scalar(select(Block).where(Block.framework_id == fw.id, Block.code == item))
        if block is not None:
            for comp in session.scalars(select(Competency).where(Competency.block_id == block.id)):
                comps[comp.id] = comp
            continue
        named = session.scalar(
            select(Competency).where(Competency.framework_id == fw.id, Competency.code == item)
        )
        if named is None:
            raise InvalidInput(f"{item!r} is neither a competency nor a block of {fw.code}", field="domain")
        comps[named.id] = named
    partner = Partner(
        establishment_id=est.id,
        code=code,
        name=name.strip(),
        kind=kind,
        contact_email=contact_email,
        domain=list(comps.values()),
    )
    session.add(partner)
    session.flush()
    return partner


def _in_domain(partner: Partner, comp: Competency) -> bool:
    allowed = {c.id for c in partner.domain}
    return comp.id in allowed or (comp.parent_id is not None and comp.parent_id in allowed)


def attest(
    session: Session,
    host: PluginHost,
    est: Establishment,
    partner_code: str,
    learner_id: int,
    competency: str,
    level: str,
    attested_by: str,
    evidence_url: str | None = None,
    note: str | None = None,
    framework: str | None = None,
) -> Attestation:
    """Record the attestation; accepted ones go through the rules at once, refused ones say why."""
    partner = session.scalar(
        select(Partner).where(Partner.establishment_id == est.id, Partner.code == partner_code)
    )
    if partner is None:
        raise NotFound(f"no partner {partner_code!r} in {est.slug}")
    learner = session.get(Learner, learner_id)
    if learner is None or learner.establishment_id != est.id:
        raise NotFound(f"no learner {learner_id} in {est.slug}")
    if not attested_by.strip():
        raise InvalidInput("say who attests (a person at the partner)", field="attested_by")
    if evidence_url is not None and not evidence_url.startswith(("http://", "https://")):
        raise InvalidInput("expected an http(s) URL", field="evidence_url")
    lv = find_level(session, est, competency, level, framework)
    comp = session.get(Competency, lv.competency_id)
    assert comp is not None
    accepted = _in_domain(partner, comp)
    row = Attestation(
        establishment_id=est.id,
        partner_id=partner.id,
        learner_id=learner.id,
        competency_id=comp.id,
        level_id=lv.id,
        status="accepted" if accepted else "refused",
        attested_by=attested_by.strip(),
        evidence_url=evidence_url,
        note=note,
        reason=None
        if accepted
        else (
            f"{comp.code} is outside the domain of {partner.name} "
            f"({', '.join(sorted(c.code for c in partner.domain))})"
        ),
    )
    session.add(row)
    session.flush()
    if accepted:
        _reconcile(session, host, est, learner.id, comp)
    return row


def withdraw(
    session: Session, host: PluginHost, est: Establishment, attestation_id: int, by: str, reason: str
) -> Attestation:
    """Take an attestation back; whatever rested on it alone is revoked through the usual hooks."""
    row = session.get(Attestation, attestation_id)
    if row is None or row.establishment_id != est.id:
        raise NotFound(f"no attestation {attestation_id} in {est.slug}")
    if row.status != "accepted":
        raise InvalidInput(f"this attestation is {row.status}: there is nothing to withdraw", field="status")
    if not reason.strip():
        raise InvalidInput("say why the attestation is withdrawn", field="reason")
    row.status, row.withdrawn_at, row.reason = "withdrawn", utcnow(), f"{reason.strip()} ({by})"
    session.flush()
    comp = session.get(Competency, row.competency_id)
    assert comp is not None
    _reconcile(session, host, est, row.learner_id, comp)
    return row


def _reconcile(
    session: Session, host: PluginHost, est: Establishment, learner_id: int, comp: Competency
) -> None:
    lock_learners(session, [learner_id])
    pairs = {(learner_id, comp.id)}
    if comp.parent_id is not None:  # a facet's level may complete its parent's
        pairs.add((learner_id, comp.parent_id))
    Engine(session, host, est.id).reconcile(pairs)
