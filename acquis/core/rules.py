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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from acquis.core import outbox
from acquis.core.adapters import enabled_names
from acquis.core.catalogue import Catalogue, RuleDef
from acquis.core.evidence import ref as evidence_ref
from acquis.core.models import Attestation, Award, Validation, ValidationEvent, new_uuids, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.sql import bulk_insert_columns, bulk_update, driver_rows, sqlite_union_rows, table

V = table(Validation)
LIVE = frozenset({"pending_approval", "validated"})
EVIDENCE_WITHDRAWN = "evidence withdrawn"
PREVIOUS_WITHDRAWN = "previous level no longer validated"
COUNTS_AS_COMPLETED = frozenset({"completed", "passed"})
_EVENT_FIELDS = ("at", "status", "by", "reason")  # what ``_move`` records of each move

__all__ = ["Catalogue", "Engine", "revoke_awards"]

# The engine's reads, per backend (why they are written so: acquis.core.sql).
_LATEST_COLUMNS = "c.learner_id, c.activity_id, c.id, c.state, c.grade, c.occurred_at, c.content_hash"
_LATEST_POSTGRESQL = (
    "SELECT p.l, p.a, c.id, c.state, c.grade "
    "FROM unnest(CAST(%(l)s AS integer[]), CAST(%(a)s AS integer[])) AS p(l, a) "
    "CROSS JOIN LATERAL (SELECT id, state, grade, occurred_at, content_hash FROM completion "
    "WHERE learner_id = p.l AND activity_id = p.a OFFSET 0) AS c "
    "ORDER BY c.occurred_at, c.content_hash"
)
_LATEST_SQLITE_BRANCH = (
    f"SELECT {_LATEST_COLUMNS} FROM completion AS c "  # noqa: S608 - a fixed fragment
    "WHERE c.learner_id IN (SELECT value FROM json_each(:l{i})) "
    "AND c.activity_id IN (SELECT value FROM json_each(:a{i}))"
)
_VALIDATION_COLUMNS = (
    "v.id, v.learner_id, v.competency_id, v.level_id, v.status, v.method, v.rule_id, "
    "v.evidence, v.version, v.decision, v.reason"
)
# A competency's validations are looked for between the smallest and largest id of its levels:
# the unique index on (learner, level) then leads to its rows alone, where the learner's rows
# of every competency were each read from the table to be told apart by competency (half the
# read's time). The competency is still compared, so the ids need not follow each other.
_VALIDATIONS_POSTGRESQL = (
    f"SELECT {_VALIDATION_COLUMNS} "  # noqa: S608 - fixed fragments
    "FROM unnest(CAST(%(l)s AS integer[]), CAST(%(c)s AS integer[]), CAST(%(lo)s AS integer[]), "
    "CAST(%(hi)s AS integer[])) AS p(l, c, lo, hi) "
    "CROSS JOIN LATERAL (SELECT * FROM validation WHERE learner_id = p.l "
    "AND level_id BETWEEN p.lo AND p.hi AND competency_id = p.c OFFSET 0) AS v"
)
_VALIDATIONS_SQLITE_BRANCH = (
    f"SELECT {_VALIDATION_COLUMNS} FROM validation AS v "  # noqa: S608 - a fixed fragment
    "WHERE v.learner_id IN (SELECT value FROM json_each(:l{i})) "
    "AND v.level_id BETWEEN :lo{i} AND :hi{i} AND v.competency_id = :c{i}"
)


# The latest completions, as the driver's rows: learner, activity, id, state, grade (then, on
# SQLite, the timestamp and content hash the latest is picked by), by learner then activity.
# Kept as they come: a record and a (learner, activity) key made per row were twice the row's
# objects for the garbage collector to count (docs/architecture.md).
_ID, _STATE, _GRADE = 2, 3, 4
Latest = dict[int, dict[int, Sequence[Any]]]
_NO_COMPLETIONS: dict[int, Sequence[Any]] = {}


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


def _meets(rule: RuleDef, c: Sequence[Any]) -> bool:
    state: str = c[_STATE]
    if rule.trigger == "completion":
        return state in COUNTS_AS_COMPLETED
    if rule.trigger == "success":
        return state == "passed"
    # min_grade: a grade at or above the bar, from any attempt that was not withdrawn
    grade: float | None = c[_GRADE]
    return (
        state != "incomplete" and grade is not None and rule.min_grade is not None and grade >= rule.min_grade
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
        """Apply the rules after new completions (or a new tag on past ones) of these activities."""
        # By competency, then learner: a (learner, competency) pair per completion was a
        # thousand objects per batch for the garbage collector to count (docs/architecture.md).
        lowest: dict[int, dict[int, int | None]] = {}
        touched, find = self.cat.touched_ranks, self._touched_ranks
        for learner_id, activity_id in learner_activity:
            ranks = touched.get(activity_id)
            for comp_id, rank in (find(activity_id) if ranks is None else ranks).items():
                if (mine := lowest.get(comp_id)) is None:
                    mine = lowest[comp_id] = {}
                if learner_id in mine:
                    known = mine[learner_id]
                    rank = None if known is None or rank is None else min(known, rank)  # noqa: PLW2901
                mine[learner_id] = rank
        self._reconcile(lowest)

    def _touched_ranks(self, activity_id: int) -> dict[int, int | None]:
        """The competencies whose levels ``activity_id`` may move, each with the lowest rank it
        gives evidence for; None where any level may move (a parent, moved by its facets)."""
        known = self.cat.touched_ranks.get(activity_id)
        if known is not None:
            return known
        touched = self.cat.touched_ranks[activity_id] = {}
        for comp_id in self.cat.competencies_for_activities([activity_id]):
            ranks = [
                rank
                for rank, level_id in self.cat.levels_by_comp.get(comp_id, [])
                for rule_id in self.cat.rules_by_level.get(level_id, ())
                if activity_id in self.cat.rules[rule_id].activity_ids
            ]
            touched[comp_id] = min(ranks) if ranks and not self.cat.children.get(comp_id) else None
        return touched

    def reconcile(
        self, pairs: set[tuple[int, int]], lowest: dict[tuple[int, int], int | None] | None = None
    ) -> None:
        """Bring the validations of ``pairs`` (learner, competency) in line with the facts.

        With ``lowest`` (the lowest rank the new evidence is for, per pair), pairs where that
        evidence cannot move anything are left alone before anything is read about them.
        """
        by_comp: dict[int, dict[int, int | None]] = {}
        for learner_id, comp_id in pairs:
            by_comp.setdefault(comp_id, {})[learner_id] = (
                None if lowest is None else lowest[(learner_id, comp_id)]
            )
        self._reconcile(by_comp)

    def _reconcile(self, lowest: dict[int, dict[int, int | None]]) -> None:
        """``reconcile`` of learners by competency, each with the lowest rank its new evidence is
        for (None: any level may move, and the pair is reconciled whatever its validations)."""
        if not lowest:
            return
        # The reads below go to the connection (plain rows, no ORM loading): flush first what
        # the session holds, as its autoflush would have before a query.
        self.session.flush()
        existing = self._load_validations(self._with_facets({c: set(m) for c, m in lowest.items()}))
        held: dict[int, set[int]] = {}  # learners with a validation, by competency
        for v in existing.values():
            held.setdefault(v.competency_id, set()).add(v.learner_id)
        pairs = {
            (learner_id, comp_id)
            for comp_id, ranks in lowest.items()
            for learner_id, rank in ranks.items()
            if rank is None
            or self._may_move((learner_id, comp_id), rank, existing, learner_id in held.get(comp_id, ()))
        }
        if not pairs:
            return
        groups = self._groups(pairs)
        latest = self._latest_completions(groups)
        attestations = self._attestations(groups) if self.cat.has_partners else {}
        now = utcnow()
        # Facets first, then their parents, so a parent sees its facets' new statuses.
        ordered = sorted(pairs)  # by learner, then competency: the same ids whatever the order seen
        depth = {comp: self.cat.depth(comp) for comp in {c for _, c in pairs}}
        if any(depth.values()):
            ordered.sort(key=lambda p: -depth[p[1]])  # stable: learner order kept within a depth
        for learner_id, comp_id in ordered:
            self._reconcile_one(learner_id, comp_id, latest, existing, attestations, now)
        self._write([v for v in existing.values() if v.changed], now)

    def _groups(self, pairs: set[tuple[int, int]]) -> dict[int, set[int]]:
        """Learners by competency, with its facets (a parent's levels depend on all of them), so
        that reads fetch exactly the pairs concerned, not every learner × every competency."""
        groups: dict[int, set[int]] = {}
        for learner_id, comp_id in pairs:
            groups.setdefault(comp_id, set()).add(learner_id)
        return self._with_facets(groups)

    def _with_facets(self, groups: dict[int, set[int]]) -> dict[int, set[int]]:
        """``groups`` (learners by competency) with each competency's learners under its facets too."""
        for comp_id, learners in list(groups.items()):
            for facet in self.cat.children.get(comp_id, ()):
                groups.setdefault(facet, set()).update(learners)
        return groups

    def _may_move(
        self,
        pair: tuple[int, int],
        rank: int | None,
        existing: dict[tuple[int, int], VRec],
        held: bool = True,
    ) -> bool:
        """Whether new evidence for level ``rank`` and up can change any level of ``pair``.

        It cannot when the level below ``rank`` is not validated and no level from ``rank`` up
        is live: evidence there is kept (it is the completion) and counts once the level below is
        reached, which reconciles this pair again. Levels below ``rank`` got no new evidence.
        This is the case ``_reconcile_one`` passes over; deciding it from the validations alone
        spares reading the pair's completions, which most of a batch's pairs would otherwise need.
        """
        if rank is None:
            return True
        learner_id, comp_id = pair
        levels = self.cat.levels_by_comp.get(comp_id)
        if not held:  # no validation of the pair (``held``, most pairs): only the first level can move
            return not levels or rank <= levels[0][0]
        below: VRec | None = None
        first = True
        for level_rank, level_id in levels or ():
            v = existing.get((learner_id, level_id))
            if level_rank < rank:
                below, first = v, False
            elif v is not None and v.status in LIVE:
                return True
        return first or (below is not None and below.status == "validated")

    # ---- reading ------------------------------------------------------------------------
    def _activities_of(self, comp_id: int) -> tuple[int, ...]:
        """The activities any rule of ``comp_id``'s levels looks at, in order."""
        known = self.cat.activities_of.get(comp_id)
        if known is not None:
            return known
        found: set[int] = set()
        for _, level_id in self.cat.levels_by_comp.get(comp_id, []):
            for rule_id in self.cat.rules_by_level.get(level_id, ()):
                found.update(self.cat.rules[rule_id].activity_ids)
        activities = self.cat.activities_of[comp_id] = tuple(sorted(found))
        return activities

    def _latest_completions(self, groups: dict[int, set[int]]) -> Latest:
        """The latest completion of each (learner, activity) the rules of ``groups`` look at."""
        by_activities: dict[tuple[int, ...], set[int]] = {}
        for comp_id, learners in groups.items():
            activities = self._activities_of(comp_id)
            if activities:
                by_activities.setdefault(activities, set()).update(learners)
        if not by_activities:
            return {}
        # One probe of the (learner, activity, dedupe key) index per pair. The latest statement
        # wins; equal timestamps are ordered by content, not by arrival (two rows of a pair never
        # have the same content: it is their unique key).
        latest: Latest = {}
        if self.postgresql:
            # Ordered in SQL, which keeps timestamps out of Python: the last row of a pair wins.
            pairs = {(lid, a) for acts, learners in by_activities.items() for a in acts for lid in learners}
            params = {"l": [p[0] for p in pairs], "a": [p[1] for p in pairs]}
            for r in driver_rows(self.session, _LATEST_POSTGRESQL, params):
                if (mine := latest.get(r[0])) is None:
                    mine = latest[r[0]] = {}
                mine[r[1]] = r
            return latest
        # SQLite: one branch per set of activities, each an index search over the product of its
        # learners and activities (the pairs one by one as a JSON list would be parsed element by
        # element again by the join). Unordered: the latest of each pair is picked here, by the
        # timestamp's text (SQLite's, in one fixed format, orders as the instants do) and then
        # the content hash; sorting the rows in SQLite cost five times as much.
        rows = sqlite_union_rows(
            self.session,
            _LATEST_SQLITE_BRANCH,
            [{"l": sorted(learners), "a": list(acts)} for acts, learners in by_activities.items()],
        )
        for r in rows:
            if (mine := latest.get(r[0])) is None:
                mine = latest[r[0]] = {}
            kept = mine.get(r[1])
            if kept is None or r[5] > kept[5] or (r[5] == kept[5] and r[6] > kept[6]):
                mine[r[1]] = r
        return latest

    def _level_ids(self, comp_id: int) -> list[int]:
        return [level_id for _, level_id in self.cat.levels_by_comp.get(comp_id, ())]

    def _load_validations(self, groups: dict[int, set[int]]) -> dict[tuple[int, int], VRec]:
        """The validations of each (learner, competency) of ``groups``, by (learner, level)."""
        # A competency without levels has no validations.
        spans = {c: (min(ids), max(ids)) for c in groups if (ids := self._level_ids(c))}
        rows: Iterable[Any] = ()
        if spans and self.postgresql:
            pairs = [
                (learner_id, c) for c, learners in groups.items() if c in spans for learner_id in learners
            ]
            params = {
                "l": [p[0] for p in pairs],
                "c": [p[1] for p in pairs],
                "lo": [spans[p[1]][0] for p in pairs],
                "hi": [spans[p[1]][1] for p in pairs],
            }
            rows = driver_rows(self.session, _VALIDATIONS_POSTGRESQL, params)
        elif spans:  # one branch per competency, as for the completions
            rows = sqlite_union_rows(
                self.session,
                _VALIDATIONS_SQLITE_BRANCH,
                [
                    {"l": sorted(learners), "lo": spans[c][0], "hi": spans[c][1], "c": c}
                    for c, learners in groups.items()
                    if c in spans
                ],
            )
        existing: dict[tuple[int, int], VRec] = {}
        for row in rows:
            vid, learner_id, comp_id, level_id, status, method, rule_id, stored, version, decision, reason = (
                row
            )
            # SQLite hands JSON back as text, PostgreSQL's driver as Python values.
            evidence = orjson.loads(stored) if isinstance(stored, str | bytes) else stored
            existing[(learner_id, level_id)] = VRec(  # positional: in the order of VRec's fields
                learner_id,
                comp_id,
                level_id,
                status,
                method,
                rule_id,
                list(evidence or []),
                version,
                decision,
                reason,
                vid,
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
    def _rule_evidence(self, learner_id: int, level_id: int, latest: Latest) -> tuple[int, list[str]] | None:
        mine = latest.get(learner_id, _NO_COMPLETIONS)
        for rule_id in self.cat.rules_by_level.get(level_id, ()):  # in id order (Catalogue.load)
            rule = self.cat.rules[rule_id]
            hits = [c[_ID] for a in rule.activity_ids if (c := mine.get(a)) is not None and _meets(rule, c)]
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
        latest: Latest,
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
            # Column by column, as the insert takes them: no dictionary per row to take apart.
            n = len(new)
            got = bulk_insert_columns(
                self.session,
                V,
                {
                    "establishment_id": [self.establishment_id] * n,
                    "learner_id": [v.learner_id for v in new],
                    "competency_id": [v.competency_id for v in new],
                    "level_id": [v.level_id for v in new],
                    "status": [v.status for v in new],
                    "method": [v.method for v in new],
                    "rule_id": [v.rule_id for v in new],
                    "evidence": [v.evidence for v in new],
                    "version": [v.version for v in new],
                    "created_at": [now] * n,
                },
                "id",
                "learner_id",
                "level_id",
            )
            ids = dict(zip(zip(got["learner_id"], got["level_id"], strict=True), got["id"], strict=True))
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
        moved = [(v.id, e) for v in changed for e in (v.events or ())]
        if moved:
            bulk_insert_columns(
                self.session,
                table(ValidationEvent),
                {
                    "validation_id": [vid for vid, _ in moved],
                    **{name: [e[name] for _, e in moved] for name in _EVENT_FIELDS},
                },
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
        n = len(due)
        award_ids = bulk_insert_columns(
            self.session,
            table(Award),
            {
                "public_id": new_uuids(n),
                "establishment_id": [self.establishment_id] * n,
                "badge_class_id": [badge.id for _, badge in due],
                "learner_id": [v.learner_id for v, _ in due],
                "validation_id": [v.id for v, _ in due],
                "issue_no": [previous.get(v.id or 0, 0) + 1 for v, _ in due],
                "status": ["pending"] * n,
                "expires_at": [now + timedelta(days=b.valid_days) if b.valid_days else None for _, b in due],
                "created_at": [now] * n,
            },
            "id",
        )["id"]
        outbox.enqueue_columns(
            self.session,
            self.establishment_id,
            outbox.EMIT_BADGE,
            [{"award_id": award_id} for award_id in award_ids],
            [f"{outbox.EMIT_BADGE}:{award_id}" for award_id in award_ids],
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
