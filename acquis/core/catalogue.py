"""An establishment's rules, scales and badge classes, loaded once per batch of events.

The engine consults these for every event; loading them once per batch keeps the per-event
cost to dictionary look-ups. ``current`` keeps them across batches too, for as long as the
catalogue stamp (acquis.core.models.stamps), which database triggers redraw on any change to
the tables they come from, stays the same: one read of one row instead of seven queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core.models import (
    BadgeClass,
    Competency,
    Framework,
    Level,
    Partner,
    ValidationRule,
    rule_activity,
)
from acquis.core.sql import driver_first


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
    has_partners: bool = False  # lets the engine skip looking for attestations
    # What the engine derives from the above, per activity or competency, kept with them:
    # a catalogue is never changed once loaded, and one serves a whole batch or more.
    touched_ranks: dict[int, dict[int, int | None]] = field(default_factory=dict)  # by activity
    activities_of: dict[int, tuple[int, ...]] = field(default_factory=dict)  # by competency

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
        # Columns, not ORM objects: loading each rule and badge class as an entity took most
        # of the catalogue's time, and the catalogue is loaded for every batch of statements.
        for rule_id, level_id, trigger, min_grade, required_count in session.execute(
            select(
                ValidationRule.id,
                ValidationRule.level_id,
                ValidationRule.trigger,
                ValidationRule.min_grade,
                ValidationRule.required_count,
            )
            .where(ValidationRule.establishment_id == establishment_id)
            .order_by(ValidationRule.id)  # so each level's rules are listed in id order
        ):
            rule = RuleDef(
                rule_id, level_id, trigger, min_grade, required_count, tuple(sorted(members[rule_id]))
            )
            cat.rules[rule_id] = rule
            cat.rules_by_level[level_id].append(rule_id)
            for a in rule.activity_ids:
                cat.rules_by_activity[a].append(rule_id)
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
        cat.has_partners = (
            session.scalar(select(Partner.id).where(Partner.establishment_id == establishment_id).limit(1))
            is not None
        )
        for badge_id, level_id, requires_approval, valid_days in session.execute(
            select(
                BadgeClass.id, BadgeClass.level_id, BadgeClass.requires_approval, BadgeClass.valid_days
            ).where(BadgeClass.establishment_id == establishment_id)
        ):
            cat.badges[level_id] = BadgeDef(badge_id, requires_approval, valid_days)
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


# Catalogues by (stamp token, establishment), for the latest token seen only. Shared by the
# threads of a process: a catalogue is not changed once loaded (the engine's derived entries
# are the same whoever computes them first), and a lost race only loads one twice.
_kept: dict[tuple[int, int], Catalogue] = {}
_STAMP_SQL = "SELECT token FROM catalogue_stamp WHERE id = 1"  # the same for every driver


def current(session: Session, establishment_id: int) -> Catalogue:
    """The establishment's catalogue as ``session``'s transaction sees it, loaded again only
    when the catalogue stamp has changed since it was last loaded (in this process)."""
    global _kept
    session.flush()  # the session's own pending changes to the rules redraw the stamp first
    # Straight to the driver, as enabled_names reads: once per batch, SQLAlchemy's handling cost more.
    row = driver_first(session, _STAMP_SQL, {})
    token = None if row is None else row[0]
    if token is None:  # no stamp row: nothing tells a change, so nothing is kept
        return Catalogue.load(session, establishment_id)
    key = (token, establishment_id)
    found = _kept.get(key)
    if found is None:
        # Read after the token: the rules loaded are at least as recent as the token says.
        found = Catalogue.load(session, establishment_id)
        kept = {k: v for k, v in _kept.items() if k[0] == token}
        kept[key] = found
        _kept = kept
    return found
