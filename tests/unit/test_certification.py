"""Certifications, the pure rule: ratings 0–3 per competency → blocks passed → an outcome."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acquis.core.certification import FULL, PART, REFUSED, BlockSpec, CertificationSpec, evaluate
from acquis.core.errors import InvalidInput

SPEC = CertificationSpec(
    pass_rank=2,
    min_rank=0,
    max_rank=3,
    blocks=(
        BlockSpec("B1", "Concevoir", ("C1.1", "C1.2")),
        BlockSpec("B2", "Réaliser", ("C2.1", "C2.2", "C2.3")),
        BlockSpec("B3", "Piloter", ("C3.1",)),
    ),
)
ALL = [c for b in SPEC.blocks for c in b.competencies]


def rated(value: int, **overrides: int) -> dict[str, int]:
    ratings = dict.fromkeys(ALL, value)
    ratings.update({k.replace("_", "."): v for k, v in overrides.items()})
    return ratings


def test_all_blocks_passed_is_validated_in_full() -> None:
    out = evaluate(SPEC, rated(3))
    assert out.outcome == FULL
    assert out.passed_blocks == ("B1", "B2", "B3") and out.unrated == ()


def test_some_blocks_passed_is_validated_in_part_and_says_which() -> None:
    out = evaluate(SPEC, rated(2, C2_2=1))
    assert out.outcome == PART
    assert out.passed_blocks == ("B1", "B3") and out.failed_blocks == ("B2",)
    assert out.blocks[1].below == ("C2.2",)


def test_no_block_passed_is_refused() -> None:
    out = evaluate(SPEC, rated(2, C1_1=0, C2_3=1, C3_1=1))
    assert out.outcome == REFUSED and out.passed_blocks == ()


def test_a_block_exactly_at_the_pass_mark_passes() -> None:
    out = evaluate(SPEC, {"C3.1": 2})
    assert out.blocks[2].passed
    assert not evaluate(SPEC, {"C3.1": 1}).blocks[2].passed


def test_an_unrated_competency_fails_its_block_and_is_listed() -> None:
    ratings = rated(3)
    del ratings["C2.3"]
    out = evaluate(SPEC, ratings)
    assert out.outcome == PART and out.failed_blocks == ("B2",)
    assert out.unrated == ("C2.3",) and out.blocks[1].below == ()


def test_no_rating_at_all_is_refused_with_everything_unrated() -> None:
    out = evaluate(SPEC, {})
    assert out.outcome == REFUSED and out.unrated == tuple(ALL)


@pytest.mark.parametrize("value", [-1, 4, 2.5, True, "2", None])
def test_a_rating_outside_the_scale_is_refused(value: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        evaluate(SPEC, {"C1.1": value})
    assert caught.value.field == "ratings.C1.1"


def test_a_rating_of_a_competency_outside_the_blocks_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        evaluate(SPEC, {"C9": 3})
    assert caught.value.field == "ratings.C9"


def test_a_block_without_competencies_cannot_pass() -> None:
    spec = CertificationSpec(2, 0, 3, (BlockSpec("B1", "Vide", ()), BlockSpec("B2", "Plein", ("C",))))
    out = evaluate(spec, {"C": 3})
    assert out.outcome == PART and out.passed_blocks == ("B2",)


def test_the_pass_mark_is_the_framework_s() -> None:
    strict = CertificationSpec(3, 0, 3, SPEC.blocks)
    assert evaluate(strict, rated(2)).outcome == REFUSED
    assert evaluate(strict, rated(3)).outcome == FULL


_RATINGS = st.fixed_dictionaries({}, optional={c: st.integers(0, 3) for c in ALL})


@settings(max_examples=300, deadline=None)
@given(_RATINGS, st.sampled_from(ALL), st.integers(0, 3))
def test_raising_a_rating_never_fails_a_passed_block(ratings: dict[str, int], code: str, to: int) -> None:
    before = evaluate(SPEC, ratings)
    raised = dict(ratings)
    raised[code] = max(to, ratings.get(code, 0))  # rating an unrated competency also counts as raising
    after = evaluate(SPEC, raised)
    assert set(before.passed_blocks) <= set(after.passed_blocks)
    order = {REFUSED: 0, PART: 1, FULL: 2}
    assert order[before.outcome] <= order[after.outcome]
