"""Public ids (awards, badge classes): UUIDs of version 7, in time order and not guessable."""

from __future__ import annotations

import time
import uuid

import pytest

from acquis.core.models import new_uuid, new_uuids


def test_public_ids_are_rfc_9562_version_7() -> None:
    for text in [new_uuid() for _ in range(1000)] + new_uuids(1000):
        u = uuid.UUID(text)
        assert u.version == 7
        assert u.variant == uuid.RFC_4122
        assert str(u) == text  # the canonical form: lowercase, dashes where UUID puts them


def test_public_ids_carry_the_millisecond_they_were_made() -> None:
    before = time.time_ns() // 1_000_000
    made = [uuid.UUID(new_uuid()), *map(uuid.UUID, new_uuids(50))]
    after = time.time_ns() // 1_000_000
    assert all(before <= u.int >> 80 <= after for u in made)


def test_ids_made_in_later_milliseconds_sort_after_earlier_ones() -> None:
    """What keeps the unique index appending: text order follows time across milliseconds."""
    first = new_uuid()
    time.sleep(0.002)
    second = new_uuid()
    assert first < second


@pytest.mark.parametrize("make", [lambda n: [new_uuid() for _ in range(n)], new_uuids], ids=["one", "batch"])
def test_the_random_bits_differ_within_one_millisecond(make) -> None:  # type: ignore[no-untyped-def]
    ids = [uuid.UUID(text) for text in make(10_000)]
    assert len(set(ids)) == len(ids)
    random_part = {u.int & ((1 << 62) - 1) for u in ids}
    assert len(random_part) == len(ids)  # 62 random bits: no repeat in 10,000 draws
    rand_a = {(u.int >> 64) & 0xFFF for u in ids}
    assert len(rand_a) > 3000  # the 12 bits of rand_a vary too (4,096 values)
