"""The rules engine: from a learner's completions to the status of each competency level.

``reconcile`` recomputes the status of every level of a (learner, competency) from the facts
(completions, jury decisions) instead of applying each event as a delta. That is what makes the
result independent of arrival order and of repetition: evidence that arrives before the previous
level is validated is kept (it is the completion itself) and counts as soon as it can.

A validation row exists only once a level was reached (validated, or held by a jury): early
evidence is not materialised as rows, because the engine recomputes from the completions
anyway, and writing "waiting" rows for most events made them the bulk of ingest's writes.
What is missing for the next level is computed when a page asks for it.

Decisions are taken in memory on light records and written in bulk (one INSERT … RETURNING for
new validations, one UPDATE by primary key, bulk awards and outbox rows): the engine runs on
every ingested batch, and per-row ORM flushes would make it the bottleneck of ingest.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, union_all, update
from sqlalchemy.orm import Session

from acquis.core import outbox
from acquis.core.adapters import enabled_names
from acquis.core.catalogue import Catalogue, RuleDef
from acquis.core.evidence import ref as evidence_ref
from acquis.core.models import Attestation, Award, Completion, Validation, ValidationEvent, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.sql import bulk_insert, bulk_update, learners_lateral, table

V = table(Validation)
LIVE = frozenset({"pending_approval", "validated"})
EVIDENCE_WITHDRAWN = "evidence withdrawn"
PREVIOUS_WITHDRAWN = "previous level no longer validated"
COUNTS_AS_COMPLETED = frozenset({"completed", "passed"})

__all__ = ["Catalogue", "Engine", "revoke_awards"]


@dataclass(frozen=True, slots=True)
class LatestCompletion:
    id: int
    state: str
    grade: float | None


@dataclass(slots=True, eq=False)
class VRec:
    """A validation as the engine sees it: loaded from a row, or about to become one."""

    learner_id: int
    competency_id: int
    level_id: int
    status: str
    method: str
    rule_id: int | None
    evidence: list[str]
    version: int = 0
    decision: str | None = None
    reason: str | None = None
    id: int | None = None
    events: list[dict[str, Any]] | None = None  # moves not yet written
    changed: bool = False
    became_validated: bool = False
    left_validated: bool = False


def _meets(rule: RuleDef, c: LatestCompletion) -> bool:
    if rule.trigger == "completion":
        return c.state in COUNTS_AS_COMPLETED
    if rule.trigger == "success":
        return c.state == "passed"
    # min_grade: a grade at or above the bar, from any attempt that was not withdrawn
    return (
        c.state != "incomplete"
        and c.grade is not None
        and rule.min_grade is not None
        and c.grade >= rule.min_grade
    )


def _decision(v: VRec | None) -> str | None:
    """The jury's standing word; a revocation clears it, so new evidence goes to the jury again."""
    if v is None or v.status == "revoked":
        return None
    return v.decision


class Engine:
    """Applies the rules for one establishment inside the caller's transaction."""

    def __init__(
        self,
        session: Session,
        host: PluginHost,
        establishment_id: int,
        catalogue: Catalogue | None = None,
        enabled: frozenset[str] | None = None,
    ) -> None:
        self.session = session
        self.host = host
        self.establishment_id = establishment_id
        self.cat = catalogue or Catalogue.load(session, establishment_id)
        self.enabled = enabled if enabled is not None else enabled_names(session, establishment_id)
        self.postgresql = session.get_bind().dialect.name == "postgresql"

    # ---- entry points -------------------------------------------------------------------
    def on_completions(self, learner_activity: Iterable[tuple[int, int]]) -> None:
        pairs: set[tuple[int, int]] = set()
        comps_of: dict[int, set[int]] = {}
        for learner_id, activity_id in learner_activity:
            comps = comps_of.get(activity_id)
            if comps is None:
                comps = comps_of[activity_id] = self.cat.competencies_for_activities([activity_id])
            pairs.update((learner_id, comp) for comp in comps)
        self.reconcile(pairs)

    def reconcile(self, pairs: set[tuple[int, int]]) -> None:
        if not pairs:
            return
        # Group learners by competency (with its facets: a parent's levels depend on all of
        # them), so that reads fetch exactly the pairs concerned, not every learner × every
        # competency of the batch.
        groups: dict[int, set[int]] = {}
        for learner_id, comp_id in pairs:
            for comp in (comp_id, *self.cat.children.get(comp_id, ())):
                groups.setdefault(comp, set()).add(learner_id)
        # The reads below go to the connection (plain rows, no ORM loading): flush first what
        # the session holds, as its autoflush would have before a query.
        self.session.flush()
        latest = self._latest_completions(groups)
        existing = self._load_validations(groups)
        attestations = self._attestations(groups) if self.cat.has_partners else {}
        now = utcnow()
        # Facets first, then their parents, so a parent sees its facets' new statuses.
        for learner_id, comp_id in sorted(pairs, key=lambda p: (-self.cat.depth(p[1]), p)):
            self._reconcile_one(learner_id, comp_id, latest, existing, attestations, now)
        self._write([v for v in existing.values() if v.changed], now)

    # ---- reading ------------------------------------------------------------------------
    def _activities_of(self, comp_id: int) -> set[int]:
        found: set[int] = set()
        for _, level_id in self.cat.levels_by_comp.get(comp_id, []):
            for rule_id in self.cat.rules_by_level.get(level_id, ()):
                found.update(self.cat.rules[rule_id].activity_ids)
        return found

    def _latest_completions(self, groups: dict[int, set[int]]) -> dict[tuple[int, int], LatestCompletion]:
        by_activities: dict[tuple[int, ...], set[int]] = {}
        for comp_id, learners in groups.items():
            activities = tuple(sorted(self._activities_of(comp_id)))
            if activities:
                by_activities.setdefault(activities, set()).update(learners)
        if not by_activities:
            return {}
        columns = (
            Completion.learner_id,
            Completion.activity_id,
            Completion.id,
            Completion.state,
            Completion.grade,
        )
        # The latest statement wins; equal timestamps are ordered by content, not by arrival.
        # Ordering in SQL keeps timestamps out of Python: the last row wins.
        order = (Completion.occurred_at, Completion.content_hash)
        latest: dict[tuple[int, int], LatestCompletion] = {}
        if self.postgresql:
            # One branch per set of activities: a (learner, activity) met in two sets gets the
            # same rows from both, and the global order keeps them in order.
            both = union_all(
                *(
                    learners_lateral(
                        (*columns, *order),
                        Completion.learner_id,
                        learners,
                        Completion.activity_id.in_(activities),
                    )
                    for activities, learners in by_activities.items()
                )
            ).subquery()
            stmt = select(*(both.c[c.key] for c in columns)).order_by(*(both.c[o.key] for o in order))
            for r in self.session.connection().execute(stmt):
                latest[(r[0], r[1])] = LatestCompletion(r[2], r[3], r[4])
            return latest
        conditions = [
            and_(Completion.learner_id.in_(learners), Completion.activity_id.in_(activities))
            for activities, learners in by_activities.items()
        ]
        for chunk in range(0, len(conditions), 50):
            rows = self.session.connection().execute(
                select(*columns)
                # No establishment term: learner ids are already the establishment's, and that
                # term would lead SQLite to scan the establishment's completions by its index.
                .where(or_(*conditions[chunk : chunk + 50]))
                .order_by(*order)
            )
            for r in rows:
                latest[(r[0], r[1])] = LatestCompletion(r[2], r[3], r[4])
        return latest

    def _load_validations(self, groups: dict[int, set[int]]) -> dict[tuple[int, int], VRec]:
        existing: dict[tuple[int, int], VRec] = {}
        by_comp: dict[frozenset[int], set[int]] = {}
        for comp_id, learners in groups.items():
            by_comp.setdefault(frozenset(learners), set()).add(comp_id)
        columns = (
            Validation.id,
            Validation.learner_id,
            Validation.competency_id,
            Validation.level_id,
            Validation.status,
            Validation.method,
            Validation.rule_id,
            Validation.evidence,
            Validation.version,
            Validation.decision,
            Validation.reason,
        )
        # A plain OR on both backends: the validations of a batch's learners are few, and
        # measured up to 100,000 events (20,000 validations) PostgreSQL's scan of them was
        # cheaper than the LATERAL form used for completions.
        conditions = [
            and_(Validation.learner_id.in_(learners), Validation.competency_id.in_(comps))
            for learners, comps in by_comp.items()
        ]
        statements = [
            select(*columns).where(or_(*conditions[chunk : chunk + 50]))
            for chunk in range(0, len(conditions), 50)
        ]
        for stmt in statements:
            for row in self.session.connection().execute(stmt):
                existing[(row.learner_id, row.level_id)] = VRec(
                    id=row.id,
                    learner_id=row.learner_id,
                    competency_id=row.competency_id,
                    level_id=row.level_id,
                    status=row.status,
                    method=row.method,
                    rule_id=row.rule_id,
                    evidence=list(row.evidence or []),
                    version=row.version,
                    decision=row.decision,
                    reason=row.reason,
                )
        return existing

    def _attestations(self, groups: dict[int, set[int]]) -> dict[tuple[int, int], list[str]]:
        """Accepted partner attestations by (learner, level), as evidence references."""
        found: dict[tuple[int, int], list[str]] = {}
        conditions = [
            and_(Attestation.learner_id.in_(learners), Attestation.competency_id == comp_id)
            for comp_id, learners in groups.items()
        ]
        for chunk in range(0, len(conditions), 50):
            for learner_id, level_id, attestation_id in self.session.connection().execute(
                select(Attestation.learner_id, Attestation.level_id, Attestation.id)
                .where(Attestation.status == "accepted", or_(*conditions[chunk : chunk + 50]))
                .order_by(Attestation.id)
            ):
                found.setdefault((learner_id, level_id), []).append(
                    evidence_ref("attestation", attestation_id)
                )
        return found

    # ---- deciding -----------------------------------------------------------------------
    def _rule_evidence(
        self, learner_id: int, level_id: int, latest: dict[tuple[int, int], LatestCompletion]
    ) -> tuple[int, list[str]] | None:
        for rule_id in sorted(self.cat.rules_by_level.get(level_id, ())):
            rule = self.cat.rules[rule_id]
            hits = [
                c.id
                for a in rule.activity_ids
                if (c := latest.get((learner_id, a))) is not None and _meets(rule, c)
            ]
            if len(hits) >= rule.required_count:
                return rule_id, [evidence_ref("completion", i) for i in sorted(hits)]
        return None

    def _facet_evidence(
        self, learner_id: int, comp_id: int, rank: int, existing: dict[tuple[int, int], VRec]
    ) -> list[str] | None:
        facets = self.cat.children.get(comp_id)
        if not facets:
            return None
        ids: list[str] = []
        for facet in facets:
            level = dict(self.cat.levels_by_comp.get(facet, [])).get(rank)
            v = existing.get((learner_id, level)) if level is not None else None
            if v is None or v.status != "validated":
                return None
            ids.extend(v.evidence)
        return sorted(set(ids))

    def _reconcile_one(
        self,
        learner_id: int,
        comp_id: int,
        latest: dict[tuple[int, int], LatestCompletion],
        existing: dict[tuple[int, int], VRec],
        attestations: dict[tuple[int, int], list[str]],
        now: datetime,
    ) -> None:
        prev_ok = True
        for rank, level_id in self.cat.levels_by_comp.get(comp_id, []):
            v = existing.get((learner_id, level_id))
            if not prev_ok and (v is None or v.status not in LIVE):
                # Above a level not validated, only a live validation can move (to revoked):
                # nothing to decide here, and no evidence to look for. prev_ok stays False.
                continue
            found = self._rule_evidence(learner_id, level_id, latest)
            rule_id: int | None = None
            evidence: list[str] = []
            method = "rule"
            if found is not None:
                rule_id, evidence = found
            elif attested := attestations.get((learner_id, level_id)):
                evidence, method = attested, "partner"
            else:
                facet_ids = self._facet_evidence(learner_id, comp_id, rank, existing)
                if facet_ids is not None:
                    evidence, method = facet_ids, "facets"
            met = bool(evidence) or method == "facets"
            badge = self.cat.badges.get(level_id)
            reason = EVIDENCE_WITHDRAWN
            if not met or not prev_ok:
                target = "revoked" if v is not None and v.status in LIVE else None
                reason = EVIDENCE_WITHDRAWN if not met else PREVIOUS_WITHDRAWN
            elif badge is not None and badge.requires_approval:
                decision = _decision(v)
                target = {"approved": "validated", "rejected": "rejected"}.get(
                    decision or "", "pending_approval"
                )
            else:
                target = "validated"
            if target is not None:
                if v is None:
                    v = existing[(learner_id, level_id)] = VRec(
                        learner_id=learner_id,
                        competency_id=comp_id,
                        level_id=level_id,
                        status="new",
                        method=method,
                        rule_id=rule_id,
                        evidence=[],
                    )
                self._move(v, target, method, rule_id, evidence, now, reason)
            prev_ok = v is not None and v.status == "validated"

    @staticmethod
    def _move(
        v: VRec,
        target: str,
        method: str,
        rule_id: int | None,
        evidence: list[str],
        now: datetime,
        reason: str = EVIDENCE_WITHDRAWN,
    ) -> None:
        if v.status == target and v.evidence == evidence:
            return
        v.changed = True
        previous = v.status
        if target != "revoked":
            v.evidence, v.rule_id, v.method = evidence, rule_id, method
        if previous == target:
            return
        v.status = target
        v.version += 1
        entry: dict[str, Any] = {"at": now, "status": target, "by": method, "reason": None}
        if target == "revoked":
            entry["reason"] = v.reason = reason
            v.decision = None
        v.events = [*(v.events or []), entry]
        if previous == "validated":
            v.left_validated, v.became_validated = True, False
        if target == "validated":
            v.became_validated = True

    # ---- writing ------------------------------------------------------------------------
    def _write(self, changed: list[VRec], now: datetime) -> None:
        if not changed:
            return
        new = [v for v in changed if v.id is None]
        old = [v for v in changed if v.id is not None]
        if new:
            rows = bulk_insert(
                self.session,
                V,
                [
                    {
                        "establishment_id": self.establishment_id,
                        "learner_id": v.learner_id,
                        "competency_id": v.competency_id,
                        "level_id": v.level_id,
                        "status": v.status,
                        "method": v.method,
                        "rule_id": v.rule_id,
                        "evidence": v.evidence,
                        "version": v.version,
                        "created_at": now,
                    }
                    for v in new
                ],
                "id",
                "learner_id",
                "level_id",
            )
            ids = {(r.learner_id, r.level_id): r.id for r in rows}
            for v in new:
                v.id = ids[(v.learner_id, v.level_id)]
        bulk_update(
            self.session,
            V,
            [
                {
                    "id": v.id,
                    "status": v.status,
                    "method": v.method,
                    "rule_id": v.rule_id,
                    "evidence": v.evidence,
                    "version": v.version,
                    "decision": v.decision,
                    "reason": v.reason,
                }
                for v in old
            ],
        )
        bulk_insert(
            self.session,
            table(ValidationEvent),
            [{"validation_id": v.id, **e} for v in changed for e in (v.events or ())],
        )
        left = [v for v in changed if v.left_validated]
        if left:
            self._broadcast("validation_revoked", left)
            revoke_awards(
                self.session,
                self.host,
                self.enabled,
                [v.id for v in left if v.id is not None],
                "validation withdrawn",
            )
        became = [v for v in changed if v.became_validated]
        if became:
            self._broadcast("competency_validated", became)
            self._award(became, now)

    def _broadcast(self, topic: str, validations: list[VRec]) -> None:
        if not (self.host.implementers(topic) & self.enabled):
            return
        for v in validations:
            outbox.broadcast(
                self.session,
                self.host,
                self.establishment_id,
                self.enabled,
                topic,
                {"validation_id": v.id},
                f"{v.id}:{v.version}",
            )

    def _award(self, validated: list[VRec], now: datetime) -> None:
        due = [(v, self.cat.badges[v.level_id]) for v in validated if v.level_id in self.cat.badges]
        if not due:
            return
        # A validation earned again after a revocation gets the next issue number.
        reissued = [v.id for v, _ in due if v.version > 1]
        previous: dict[int, int] = {}
        if reissued:
            previous = {
                vid: n
                for vid, n in self.session.execute(
                    select(Award.validation_id, func.max(Award.issue_no))
                    .where(Award.validation_id.in_(reissued))
                    .group_by(Award.validation_id)
                )
            }
        awards = bulk_insert(
            self.session,
            table(Award),
            [
                {
                    "public_id": str(uuid.uuid4()),
                    "establishment_id": self.establishment_id,
                    "badge_class_id": badge.id,
                    "learner_id": v.learner_id,
                    "validation_id": v.id,
                    "issue_no": previous.get(v.id or 0, 0) + 1,
                    "status": "pending",
                    "expires_at": (now + timedelta(days=badge.valid_days)) if badge.valid_days else None,
                    "created_at": now,
                }
                for v, badge in due
            ],
            "id",
        )
        outbox.enqueue_many(
            self.session,
            [
                {
                    "establishment_id": self.establishment_id,
                    "topic": outbox.EMIT_BADGE,
                    "payload": {"award_id": award.id},
                    "dedupe_key": f"{outbox.EMIT_BADGE}:{award.id}",
                }
                for award in awards
            ],
        )


def revoke_awards(
    session: Session, host: PluginHost, enabled: frozenset[str], validation_ids: list[int], reason: str
) -> None:
    """Revoke the live awards resting on validations; those already issued are revoked remotely."""
    if not validation_ids:
        return
    now = utcnow()
    live = session.execute(
        select(Award.id, Award.status, Award.establishment_id).where(
            Award.validation_id.in_(validation_ids), Award.status != "revoked"
        )
    ).all()
    if not live:
        return
    session.execute(
        update(Award)
        .where(Award.id.in_([a.id for a in live]))
        .values(status="revoked", revoked_at=now, revocation_reason=reason)
    )
    for award in live:
        if award.status == "issued":
            outbox.broadcast(
                session,
                host,
                award.establishment_id,
                enabled,
                "badge_revoked",
                {"award_id": award.id},
                str(award.id),
            )
