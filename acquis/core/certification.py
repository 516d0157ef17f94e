"""Certifications (RNCP style): competencies rated on a numeric scale, blocks passed, an outcome.

The rules:

* Each competency of each block gets a rating on the framework's numeric scale (0–3 for the
  usual "non acquis … maîtrise" scale) from a jury or an assessor; who, when and the source are
  kept. Only the top-level competencies of a block are rated (facets roll up into them).
* A block passes when every one of its competencies is rated at or above the framework's pass
  rank (``Framework.pass_rank``, 2 on a 0–3 scale); an unrated competency fails its block, and
  a block with no competency cannot pass (there would be nothing to certify).
* The outcome: ``validated_in_full`` when every block passes, ``validated_in_part`` when some do
  (which ones are listed), ``refused`` when none does; unrated competencies are always listed.

``evaluate`` is the pure rule; the functions taking a ``Session`` record ratings, recompute the
outcome and keep it, with its changes, in ``CertificationResult``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import frameworks
from acquis.core.errors import InvalidInput, NotFound
from acquis.core.models import (
    CertificationResult,
    Competency,
    CompetencyRating,
    Establishment,
    Framework,
    Learner,
    utcnow,
)
from acquis.core.sql import lock_learners

FULL = "validated_in_full"
PART = "validated_in_part"
REFUSED = "refused"


@dataclass(frozen=True)
class BlockSpec:
    code: str
    title: str
    competencies: tuple[str, ...]  # competency codes


@dataclass(frozen=True)
class CertificationSpec:
    """What a framework asks of a candidate: its blocks, its scale's bounds and its pass rank."""

    pass_rank: int
    min_rank: int
    max_rank: int
    blocks: tuple[BlockSpec, ...]

    @property
    def competencies(self) -> frozenset[str]:
        return frozenset(c for b in self.blocks for c in b.competencies)

    def check_rating(self, value: Any, where: str = "rating") -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput(f"must be a whole number from {self.min_rank} to {self.max_rank}", field=where)
        if not self.min_rank <= value <= self.max_rank:
            raise InvalidInput(f"must be from {self.min_rank} to {self.max_rank}, not {value}", field=where)
        return value


@dataclass(frozen=True)
class BlockOutcome:
    code: str
    title: str
    passed: bool
    unrated: tuple[str, ...]  # competencies with no rating
    below: tuple[str, ...]  # competencies rated under the pass rank


@dataclass(frozen=True)
class CertificationOutcome:
    outcome: str  # validated_in_full, validated_in_part, refused
    blocks: tuple[BlockOutcome, ...]

    @property
    def passed_blocks(self) -> tuple[str, ...]:
        return tuple(b.code for b in self.blocks if b.passed)

    @property
    def failed_blocks(self) -> tuple[str, ...]:
        return tuple(b.code for b in self.blocks if not b.passed)

    @property
    def unrated(self) -> tuple[str, ...]:
        return tuple(c for b in self.blocks for c in b.unrated)


def evaluate(spec: CertificationSpec, ratings: Mapping[str, int]) -> CertificationOutcome:
    """The outcome for a candidate's ratings (competency code → rank); bad ratings are refused."""
    known = spec.competencies
    for code, value in ratings.items():
        if code not in known:
            raise InvalidInput("not a competency of a block of this framework", field=f"ratings.{code}")
        spec.check_rating(value, f"ratings.{code}")
    blocks: list[BlockOutcome] = []
    for block in spec.blocks:
        unrated = tuple(c for c in block.competencies if c not in ratings)
        below = tuple(c for c in block.competencies if c in ratings and ratings[c] < spec.pass_rank)
        passed = bool(block.competencies) and not unrated and not below
        blocks.append(BlockOutcome(block.code, block.title, passed, unrated, below))
    passed_count = sum(b.passed for b in blocks)
    if blocks and passed_count == len(blocks):
        outcome = FULL
    elif passed_count:
        outcome = PART
    else:
        outcome = REFUSED
    return CertificationOutcome(outcome, tuple(blocks))


# ---- the database -----------------------------------------------------------------------


def spec_of(framework: Framework) -> CertificationSpec:
    """A framework as a certification; only a numeric scale with a pass mark can certify."""
    if framework.pass_rank is None:
        raise InvalidInput(
            f"{framework.code!r} has no pass mark: give its scale as {{levels, start, pass}}",
            field="framework",
        )
    if not framework.blocks:
        raise InvalidInput(f"{framework.code!r} has no blocks to certify", field="framework")
    ranks = [int(level["rank"]) for level in framework.scale]
    by_block: dict[int, list[Competency]] = {b.id: [] for b in framework.blocks}
    for comp in framework.competencies:
        if comp.block_id is not None and comp.parent_id is None:
            by_block[comp.block_id].append(comp)
    return CertificationSpec(
        pass_rank=framework.pass_rank,
        min_rank=min(ranks),
        max_rank=max(ranks),
        blocks=tuple(
            BlockSpec(
                b.code,
                b.title,
                tuple(c.code for c in sorted(by_block[b.id], key=lambda c: (c.position, c.id))),
            )
            for b in framework.blocks
        ),
    )


def _learner(session: Session, est: Establishment, learner_id: int) -> Learner:
    learner = session.get(Learner, learner_id)
    if learner is None or learner.establishment_id != est.id:
        raise NotFound(f"no learner {learner_id} in {est.slug}")
    return learner


def _ratings(session: Session, framework: Framework, learner_id: int) -> dict[str, int]:
    return {
        code: rating
        for code, rating in session.execute(
            select(Competency.code, CompetencyRating.rating)
            .join(Competency, Competency.id == CompetencyRating.competency_id)
            .where(CompetencyRating.framework_id == framework.id, CompetencyRating.learner_id == learner_id)
        )
    }


def record_ratings(
    session: Session,
    est: Establishment,
    framework_code: str,
    learner_id: int,
    ratings: Mapping[str, int],
    by: str,
    source: str = "jury",
    comment: str = "",
    at: datetime | None = None,
) -> CertificationOutcome:
    """Record a jury's (or another system's) ratings and return the candidate's new outcome.

    All ratings are checked before any is written, so a sheet with one bad line changes nothing.
    A competency rated again keeps its earlier ratings in its history.
    """
    framework = frameworks.get(session, est, framework_code)
    spec = spec_of(framework)
    if not isinstance(ratings, Mapping) or not ratings:
        raise InvalidInput("give at least one competency and its rating", field="ratings")
    evaluate(spec, ratings)  # checks every code and value
    if not isinstance(by, str) or not by.strip() or len(by.strip()) > 255:
        raise InvalidInput("a rating needs the name of who gives it (up to 255 characters)", field="by")
    if not isinstance(source, str) or not source.strip() or len(source.strip()) > 64:
        raise InvalidInput("name the source in 1 to 64 characters (e.g. jury)", field="source")
    if at is not None and at.tzinfo is None:
        raise InvalidInput("give a time with its time zone", field="at")
    _learner(session, est, learner_id)
    lock_learners(session, [learner_id])
    when = at or utcnow()
    comp_ids = {c.code: c.id for c in framework.competencies}
    existing = {
        r.competency_id: r
        for r in session.scalars(
            select(CompetencyRating).where(
                CompetencyRating.learner_id == learner_id,
                CompetencyRating.competency_id.in_([comp_ids[c] for c in ratings]),
            )
        )
    }
    who, src = by.strip(), source.strip()
    for code, value in ratings.items():
        entry = {"at": when.isoformat(), "rating": value, "source": src, "by": who, "comment": comment}
        row = existing.get(comp_ids[code])
        if row is None:
            session.add(
                CompetencyRating(
                    establishment_id=est.id,
                    framework_id=framework.id,
                    learner_id=learner_id,
                    competency_id=comp_ids[code],
                    rating=value,
                    source=src,
                    rated_by=who,
                    rated_at=when,
                    comment=comment,
                    history=[entry],
                )
            )
        else:
            row.rating, row.source, row.rated_by, row.rated_at, row.comment = value, src, who, when, comment
            row.history = [*(row.history or []), entry]
    session.flush()
    result = evaluate(spec, _ratings(session, framework, learner_id))
    _keep(session, est, framework, learner_id, result)
    return result


def _keep(
    session: Session, est: Establishment, framework: Framework, learner_id: int, result: CertificationOutcome
) -> CertificationResult:
    """Store the outcome; a change of outcome or of passed blocks is added to its history."""
    row = session.scalar(
        select(CertificationResult).where(
            CertificationResult.framework_id == framework.id, CertificationResult.learner_id == learner_id
        )
    )
    now = utcnow()
    passed, unrated = list(result.passed_blocks), list(result.unrated)
    entry = {"at": now.isoformat(), "outcome": result.outcome, "passed_blocks": passed}
    if row is None:
        row = CertificationResult(
            establishment_id=est.id,
            framework_id=framework.id,
            learner_id=learner_id,
            outcome=result.outcome,
            passed_blocks=passed,
            unrated=unrated,
            computed_at=now,
            history=[entry],
        )
        session.add(row)
    else:
        if row.outcome != result.outcome or row.passed_blocks != passed:
            row.history = [*(row.history or []), entry]
        row.outcome, row.passed_blocks, row.unrated, row.computed_at = result.outcome, passed, unrated, now
    session.flush()
    return row


def outcome(
    session: Session, est: Establishment, framework_code: str, learner_id: int
) -> CertificationOutcome:
    """The candidate's outcome from the ratings as they are now."""
    framework = frameworks.get(session, est, framework_code)
    spec = spec_of(framework)
    _learner(session, est, learner_id)
    return evaluate(spec, _ratings(session, framework, learner_id))
