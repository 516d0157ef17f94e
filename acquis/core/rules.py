"""The rules engine: from a learner's completions to the status of each competency level.

``reconcile`` recomputes the status of every level of a (learner, competency) from the facts
(completions, jury decisions) instead of applying each event as a delta. That is what makes the
result independent of arrival order and of repetition: evidence that arrives before the previous
level is validated is kept as ``awaiting_previous`` and counts as soon as it can.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acquis.core import outbox
from acquis.core.adapters import enabled_names
from acquis.core.models import (
    Award,
    BadgeClass,
    Competency,
    Completion,
    Level,
    Validation,
    ValidationRule,
    rule_activity,
    utcnow,
)
from acquis.core.plugins import PluginHost

LIVE = frozenset({"awaiting_previous", "pending_approval", "validated"})
COUNTS_AS_COMPLETED = frozenset({"completed", "passed"})


@dataclass(frozen=True)
class RuleDef:
    id: int
    level_id: int
    trigger: str
    min_grade: float | None
    required_count: int
    activity_ids: tuple[int, ...]


@dataclass(frozen=True)
class BadgeDef:
    id: int
    requires_approval: bool
    valid_days: int | None


@dataclass
class Catalogue:
    """An establishment's rules and scales, loaded once per batch."""

    rules: dict[int, RuleDef] = field(default_factory=dict)
    rules_by_activity: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    rules_by_level: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    level_comp: dict[int, int] = field(default_factory=dict)
    levels_by_comp: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # (rank, level)
    parent: dict[int, int | None] = field(default_factory=dict)
    children: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    badges: dict[int, BadgeDef] = field(default_factory=dict)  # level_id → badge class

    @classmethod
    def load(cls, session: Session, establishment_id: int) -> Catalogue:
        cat = cls()
        members: dict[int, list[int]] = defaultdict(list)
        for rule_id, activity_id in session.execute(
            select(rule_activity.c.rule_id, rule_activity.c.activity_id)
            .join(ValidationRule, ValidationRule.id == rule_activity.c.rule_id)
            .where(ValidationRule.establishment_id == establishment_id)
        ):
            members[rule_id].append(activity_id)
        for r in session.scalars(
            select(ValidationRule).where(ValidationRule.establishment_id == establishment_id)
        ):
            rule = RuleDef(
                r.id, r.level_id, r.trigger, r.min_grade, r.required_count, tuple(sorted(members[r.id]))
            )
            cat.rules[r.id] = rule
            cat.rules_by_level[r.level_id].append(r.id)
            for a in rule.activity_ids:
                cat.rules_by_activity[a].append(r.id)
        from acquis.core.models import Framework  # local: keeps the import list short above

        comps = session.execute(
            select(Competency.id, Competency.parent_id)
            .join(Framework, Framework.id == Competency.framework_id)
            .where(Framework.establishment_id == establishment_id)
        ).all()
        comp_ids = [c for c, _ in comps]
        for comp_id, parent_id in comps:
            cat.parent[comp_id] = parent_id
            if parent_id is not None:
                cat.children[parent_id].append(comp_id)
        by_comp: dict[int, list[tuple[int, int]]] = defaultdict(list)
        if comp_ids:
            for level_id, comp_id, rank in session.execute(
                select(Level.id, Level.competency_id, Level.rank).where(Level.competency_id.in_(comp_ids))
            ):
                cat.level_comp[level_id] = comp_id
                by_comp[comp_id].append((rank, level_id))
        cat.levels_by_comp = {c: sorted(v) for c, v in by_comp.items()}
        for b in session.scalars(select(BadgeClass).where(BadgeClass.establishment_id == establishment_id)):
            cat.badges[b.level_id] = BadgeDef(b.id, b.requires_approval, b.valid_days)
        return cat

    def competencies_for_activities(self, activity_ids: Iterable[int]) -> set[int]:
        comps: set[int] = set()
        for a in activity_ids:
            for rule_id in self.rules_by_activity.get(a, ()):
                comp: int | None = self.level_comp.get(self.rules[rule_id].level_id)
                while comp is not None:  # a facet's change may complete its parent's level
                    comps.add(comp)
                    comp = self.parent.get(comp)
        return comps

    def depth(self, comp_id: int) -> int:
        d, comp = 0, self.parent.get(comp_id)
        while comp is not None:
            d, comp = d + 1, self.parent.get(comp)
        return d


@dataclass(frozen=True)
class LatestCompletion:
    id: int
    state: str
    grade: float | None


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


class Engine:
    """Applies the rules for one establishment inside the caller's transaction."""

    def __init__(
        self, session: Session, host: PluginHost, establishment_id: int, catalogue: Catalogue | None = None
    ) -> None:
        self.session = session
        self.host = host
        self.establishment_id = establishment_id
        self.cat = catalogue or Catalogue.load(session, establishment_id)
        self.enabled = enabled_names(session, establishment_id)

    # ---- entry points -------------------------------------------------------------------
    def on_completions(self, learner_activity: Iterable[tuple[int, int]]) -> None:
        pairs: set[tuple[int, int]] = set()
        for learner_id, activity_id in learner_activity:
            for comp in self.cat.competencies_for_activities([activity_id]):
                pairs.add((learner_id, comp))
        self.reconcile(pairs)

    def reconcile(self, pairs: set[tuple[int, int]]) -> None:
        if not pairs:
            return
        learners = {learner for learner, _ in pairs}
        comps = {comp for _, comp in pairs}
        latest = self._latest_completions(learners, comps)
        # A parent's levels depend on all its facets, not only on those that just changed.
        with_facets = comps | {f for comp in comps for f in self.cat.children.get(comp, ())}
        level_ids = [lv for comp in with_facets for _, lv in self.cat.levels_by_comp.get(comp, [])]
        existing: dict[tuple[int, int], Validation] = {}
        if level_ids:
            for v in self.session.scalars(
                select(Validation).where(
                    Validation.learner_id.in_(learners), Validation.level_id.in_(level_ids)
                )
            ):
                existing[(v.learner_id, v.level_id)] = v
        # Facets first, then their parents, so a parent sees its facets' new statuses.
        for learner_id, comp_id in sorted(pairs, key=lambda p: (-self.cat.depth(p[1]), p)):
            self._reconcile_one(learner_id, comp_id, latest, existing)

    # ---- internals ----------------------------------------------------------------------
    def _latest_completions(
        self, learners: set[int], comps: set[int]
    ) -> dict[tuple[int, int], LatestCompletion]:
        activity_ids: set[int] = set()
        for comp in comps:
            for _, level_id in self.cat.levels_by_comp.get(comp, []):
                for rule_id in self.cat.rules_by_level.get(level_id, ()):
                    activity_ids.update(self.cat.rules[rule_id].activity_ids)
        if not activity_ids:
            return {}
        rows = self.session.execute(
            select(
                Completion.learner_id,
                Completion.activity_id,
                Completion.occurred_at,
                Completion.content_hash,
                Completion.id,
                Completion.state,
                Completion.grade,
            ).where(
                Completion.establishment_id == self.establishment_id,
                Completion.learner_id.in_(learners),
                Completion.activity_id.in_(activity_ids),
            )
        ).all()
        best: dict[tuple[int, int], tuple[tuple[datetime, str], LatestCompletion]] = {}
        for learner_id, activity_id, occurred, digest, cid, state, grade in rows:
            # The latest statement wins; equal timestamps are ordered by content, not arrival.
            key = (occurred, digest)
            current = best.get((learner_id, activity_id))
            if current is None or key > current[0]:
                best[(learner_id, activity_id)] = (key, LatestCompletion(cid, state, grade))
        return {k: v for k, (_, v) in best.items()}

    def _rule_evidence(
        self, learner_id: int, level_id: int, latest: dict[tuple[int, int], LatestCompletion]
    ) -> tuple[int | None, list[int]] | None:
        for rule_id in sorted(self.cat.rules_by_level.get(level_id, ())):
            rule = self.cat.rules[rule_id]
            hits = [
                c.id
                for a in rule.activity_ids
                if (c := latest.get((learner_id, a))) is not None and _meets(rule, c)
            ]
            if len(hits) >= rule.required_count:
                return rule_id, sorted(hits)
        return None

    def _facet_evidence(
        self, learner_id: int, comp_id: int, rank: int, existing: dict[tuple[int, int], Validation]
    ) -> list[int] | None:
        facets = self.cat.children.get(comp_id)
        if not facets:
            return None
        ids: list[int] = []
        for facet in facets:
            level = dict(self.cat.levels_by_comp.get(facet, [])).get(rank)
            v = existing.get((learner_id, level)) if level is not None else None
            if v is None or v.status != "validated":
                return None
            ids.extend(v.evidence or [])
        return sorted(set(ids))

    def _reconcile_one(
        self,
        learner_id: int,
        comp_id: int,
        latest: dict[tuple[int, int], LatestCompletion],
        existing: dict[tuple[int, int], Validation],
    ) -> None:
        prev_ok = True
        for rank, level_id in self.cat.levels_by_comp.get(comp_id, []):
            v = existing.get((learner_id, level_id))
            found = self._rule_evidence(learner_id, level_id, latest)
            rule_id: int | None = None
            evidence: list[int] = []
            method = "rule"
            if found is not None:
                rule_id, evidence = found
            else:
                facet_ids = self._facet_evidence(learner_id, comp_id, rank, existing)
                if facet_ids is not None:
                    evidence, method = facet_ids, "facets"
            met = found is not None or method == "facets"
            badge = self.cat.badges.get(level_id)
            if not met:
                target = "revoked" if v is not None and v.status in LIVE else None
            elif not prev_ok:
                target = "awaiting_previous"
            elif badge is not None and badge.requires_approval:
                decision = _decision(v)
                target = {"approved": "validated", "rejected": "rejected"}.get(
                    decision or "", "pending_approval"
                )
            else:
                target = "validated"
            if target is not None:
                v = self._apply(learner_id, comp_id, level_id, v, target, method, rule_id, evidence)
                existing[(learner_id, level_id)] = v
            prev_ok = v is not None and v.status == "validated"

    def _apply(
        self,
        learner_id: int,
        comp_id: int,
        level_id: int,
        v: Validation | None,
        target: str,
        method: str,
        rule_id: int | None,
        evidence: list[int],
    ) -> Validation:
        now = utcnow()
        if v is None:
            v = Validation(
                establishment_id=self.establishment_id,
                learner_id=learner_id,
                competency_id=comp_id,
                level_id=level_id,
                status=target,
                method=method,
                rule_id=rule_id,
                evidence=evidence,
                history=[{"at": now.isoformat(), "status": target, "by": method}],
            )
            self.session.add(v)
            if target == "validated":
                self._on_validated(v)
            return v
        if v.status == target and v.evidence == evidence:
            return v
        previous = v.status
        v.evidence = evidence
        v.rule_id = rule_id
        v.method = method if target != "revoked" else v.method
        if previous != target:
            v.status = target
            entry = {"at": now.isoformat(), "status": target, "by": method}
            if target == "revoked":
                entry["reason"] = "evidence withdrawn"
                v.reason = "evidence withdrawn"
            v.history = [*(v.history or []), entry]
            if previous == "validated":
                self._on_unvalidated(v)
            if target == "validated":
                self._on_validated(v)
        return v

    def _on_validated(self, v: Validation) -> None:
        self.session.flush()
        version = len(v.history or [])
        outbox.broadcast(
            self.session,
            self.host,
            self.establishment_id,
            self.enabled,
            "competency_validated",
            {"validation_id": v.id},
            f"{v.id}:{version}",
        )
        badge = self.cat.badges.get(v.level_id)
        if badge is None:
            return
        issue_no = (
            self.session.scalar(select(func.count()).select_from(Award).where(Award.validation_id == v.id))
            or 0
        ) + 1
        award = Award(
            establishment_id=self.establishment_id,
            badge_class_id=badge.id,
            learner_id=v.learner_id,
            validation_id=v.id,
            issue_no=issue_no,
            status="pending",
            expires_at=(utcnow() + timedelta(days=badge.valid_days)) if badge.valid_days else None,
        )
        self.session.add(award)
        self.session.flush()
        outbox.emit(self.session, self.establishment_id, award.id)

    def _on_unvalidated(self, v: Validation) -> None:
        self.session.flush()
        version = len(v.history or [])
        outbox.broadcast(
            self.session,
            self.host,
            self.establishment_id,
            self.enabled,
            "validation_revoked",
            {"validation_id": v.id},
            f"{v.id}:{version}",
        )
        revoke_awards(self.session, self.host, self.enabled, v.id, v.reason or "validation withdrawn")


def _decision(v: Validation | None) -> str | None:
    """The jury's last word since the validation last lost its evidence (a revocation resets it)."""
    if v is None or v.status == "revoked":
        return None
    for entry in reversed(v.history or []):
        if entry.get("decision"):
            return str(entry["decision"])
        if entry.get("status") == "revoked":
            return None
    return None


def revoke_awards(
    session: Session, host: PluginHost, enabled: frozenset[str], validation_id: int, reason: str
) -> None:
    """Revoke the live awards resting on a validation; those already issued are revoked remotely."""
    now = utcnow()
    for award in session.scalars(
        select(Award).where(Award.validation_id == validation_id, Award.status != "revoked")
    ):
        was_issued = award.status == "issued"
        award.status = "revoked"
        award.revoked_at = now
        award.revocation_reason = reason
        if was_issued:
            outbox.broadcast(
                session,
                host,
                award.establishment_id,
                enabled,
                "badge_revoked",
                {"award_id": award.id},
                str(award.id),
            )
