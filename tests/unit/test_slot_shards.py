"""How the account-wide cap is split across slot pools (calls/slots.py): pure rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from calls.slots import (
    MAX_AUTO_SHARDS,
    shard_capacity,
    shard_count,
    shard_of,
    slots_workflow_id,
)


@given(st.integers(1, 10_000), st.one_of(st.none(), st.integers(1, 256)))
def test_shares_add_up_to_the_cap_and_none_is_empty(capacity: int, configured: int | None) -> None:
    shards = shard_count(capacity, configured)
    shares = [shard_capacity(capacity, shards, i) for i in range(shards)]
    assert sum(shares) == capacity
    assert min(shares) >= 1
    assert max(shares) - min(shares) <= 1


def test_shard_count_grows_with_the_cap_unless_configured() -> None:
    assert shard_count(20, None) == 1
    assert shard_count(2500, None) == 10
    assert shard_count(10_000, None) == MAX_AUTO_SHARDS
    assert shard_count(7, 3) == 3
    assert shard_count(2, 8) == 2  # never more pools than slots


def test_a_call_always_asks_the_same_shard() -> None:
    ids = [f"call-{i}" for i in range(2000)]
    assert [shard_of(i, 8) for i in ids] == [shard_of(i, 8) for i in ids]
    counts = [sum(1 for i in ids if shard_of(i, 8) == s) for s in range(8)]
    assert min(counts) > 2000 / 8 * 0.8  # spread about evenly


def test_shard_zero_keeps_the_pool_id_of_before() -> None:
    assert slots_workflow_id("q") == slots_workflow_id("q", 0) == "call-slots-q"
    assert slots_workflow_id("q", 3) == "call-slots-q-3"
