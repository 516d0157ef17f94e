"""Mapping an establishment's badge classes to the badges of its OBF account.

OBF issues only badges designed in OBF, so each of our badge classes must point at one
(``BadgeClass.obf_badge_id``). The mapping is explicit where the admin gives it, and by name
otherwise, but only when exactly one OBF badge has that name: a guess between two would issue
the wrong badge, which is worse than issuing none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core.errors import InvalidInput
from acquis.core.models import BadgeClass, Establishment
from acquis.plugins.obf.client import OBFBadge, OBFClient


@dataclass
class SyncReport:
    obf_badges: int = 0
    mapped: list[tuple[str, str, str]] = field(default_factory=list)  # (public id, name, OBF id)
    kept: list[tuple[str, str, str]] = field(default_factory=list)
    by_name: list[tuple[str, str, str]] = field(default_factory=list)
    stale: list[tuple[str, str, str]] = field(default_factory=list)  # OBF id no longer listed
    ambiguous: list[tuple[str, str]] = field(default_factory=list)  # several OBF badges by that name
    unmapped: list[tuple[str, str]] = field(default_factory=list)


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def sync_badges(
    session: Session,
    est: Establishment,
    client: OBFClient,
    mapping: Mapping[str, str] | None = None,
) -> SyncReport:
    """List the OBF badges of ``client`` and map ``est``'s badge classes to them.

    ``mapping`` (badge class public id → OBF badge id) wins; otherwise a class keeps its mapping
    (reported as stale when the OBF badge is gone), or an unmapped class gets the one OBF badge
    of the same name. Nothing is written
    when an explicit mapping names an unknown badge class or OBF badge.
    """
    mapping = dict(mapping or {})
    badges = client.list_badges()
    by_id = {b.id: b for b in badges}
    by_name: dict[str, list[OBFBadge]] = {}
    for b in badges:
        by_name.setdefault(_key(b.name), []).append(b)
    classes = list(
        session.scalars(
            select(BadgeClass).where(BadgeClass.establishment_id == est.id).order_by(BadgeClass.id)
        )
    )
    known = {c.public_id for c in classes}
    for public_id, obf_id in mapping.items():
        if public_id not in known:
            raise InvalidInput(
                f"{est.slug} has no badge class {public_id} (acquis badge list {est.slug})", field="--map"
            )
        if obf_id not in by_id:
            raise InvalidInput(
                f"the OBF account has no ready-to-issue badge {obf_id} "
                f"(ready: {', '.join(sorted(by_id)) or 'none'}); drafts cannot be issued",
                field="--map",
            )
    report = SyncReport(obf_badges=len(badges))
    for c in classes:
        if c.public_id in mapping:
            c.obf_badge_id = mapping[c.public_id]
            report.mapped.append((c.public_id, c.name, c.obf_badge_id))
            continue
        if c.obf_badge_id:
            # A mapping whose badge disappeared is reported, not silently replaced by a
            # namesake: the admin chose that badge, and its awards fail until they choose again.
            (report.kept if c.obf_badge_id in by_id else report.stale).append(
                (c.public_id, c.name, c.obf_badge_id)
            )
            continue
        candidates = by_name.get(_key(c.name), [])
        if len(candidates) == 1:
            c.obf_badge_id = candidates[0].id
            report.by_name.append((c.public_id, c.name, c.obf_badge_id))
        elif candidates:
            report.ambiguous.append((c.public_id, c.name))
        else:
            report.unmapped.append((c.public_id, c.name))
    return report
