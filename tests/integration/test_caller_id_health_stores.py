"""Number health in both stores (SQLite, and PostgreSQL on a real server): a result counts
once however often it is reported, a number rests by itself when its health says so and
``numbers`` shows why and until when; an exhausted pool says when a number comes back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.caller_ids import CallerIdStore, SqliteCallerIdStore, next_usage_day
from adapters.caller_ids_postgres import PostgresCallerIdStore
from calls.caller_id_health import HealthRules, ResultKind

SF, SF_2 = "+14155550100", "+14155550101"
CALLEE = "+14155550177"
MORNING = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
RULES = HealthRules()


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CallerIdStore]:
    if request.param == "sqlite":
        yield SqliteCallerIdStore(tmp_path / "pools.sqlite3")
        return
    url = request.getfixturevalue("dnc_database_url")
    async with PostgresCallerIdStore.connect(url) as shared:
        yield shared


async def test_spam_rests_the_number_once_and_the_listing_says_why(store: CallerIdStore) -> None:
    await store.add(SF, "sales", None)
    first = await store.record_result("call-1:1", SF, ResultKind.SPAM, RULES, MORNING)
    assert first is not None
    assert first.rest_until == MORNING + RULES.spam_rest
    # The same attempt told twice (a retried activity) counts once.
    assert await store.record_result("call-1:1", SF, ResultKind.SPAM, RULES, MORNING) is None
    (listed,) = await store.numbers("sales", MORNING)
    assert listed.rested_until == MORNING + RULES.spam_rest
    assert listed.rested_reason is not None
    assert "marked_as_spam" in listed.rested_reason
    assert (listed.calls, listed.answered, listed.rests) == (1, 0, 1)
    pick = await store.pick("call-2:1", "sales", CALLEE, MORNING)
    assert pick.number is None
    assert pick.pool_size == 1
    assert pick.next_usable_at == MORNING + RULES.spam_rest


async def test_a_burst_of_dial_failures_rests_and_others_take_over(store: CallerIdStore) -> None:
    await store.add(SF, "sales", None)
    await store.add(SF_2, "sales", None)
    for i in range(RULES.dial_failed_burst):
        await store.record_result(f"c{i}:1", SF, ResultKind.DIAL_FAILED, RULES, MORNING)
    (sf, sf_2) = await store.numbers("sales", MORNING)
    assert sf.rested_until == MORNING + RULES.dial_failed_rest
    assert sf_2.rested_until is None
    assert (await store.pick("next:1", "sales", CALLEE, MORNING)).number == SF_2


async def test_a_number_answered_far_less_than_its_pool_rests(store: CallerIdStore) -> None:
    await store.add(SF, "sales", None)
    await store.add(SF_2, "sales", None)
    for i in range(RULES.low_answer_min_calls):
        kind = ResultKind.ANSWERED if i % 2 else ResultKind.UNANSWERED
        assert await store.record_result(f"good{i}:1", SF_2, kind, RULES, MORNING) is not None
    for i in range(RULES.low_answer_min_calls - 1):
        await store.record_result(f"bad{i}:1", SF, ResultKind.UNANSWERED, RULES, MORNING)
    assert (await store.numbers("sales", MORNING))[0].rested_until is None
    last = await store.record_result("bad-last:1", SF, ResultKind.UNANSWERED, RULES, MORNING)
    assert last is not None
    assert last.reason is not None
    assert last.reason.startswith("low answer rate: 0% of its last 20 calls, against 50%")


async def test_an_exhausted_pool_says_when_a_number_comes_back(store: CallerIdStore) -> None:
    await store.add(SF, "capped", 1)
    assert (await store.pick("a:1", "capped", CALLEE, MORNING)).number == SF
    held = await store.pick("b:1", "capped", CALLEE, MORNING)
    assert (held.number, held.pool_size) == (None, 1)
    assert held.next_usable_at == next_usage_day(MORNING)
    empty = await store.pick("c:1", "no-such-pool", CALLEE, MORNING)
    assert (empty.number, empty.pool_size, empty.next_usable_at) == (None, 0, None)
    # A result for a number in no pool is not counted.
    gone = "+13125550100"
    assert await store.record_result("d:1", gone, ResultKind.SPAM, RULES, MORNING) is None
    assert (await store.pick("b:1", "capped", CALLEE, MORNING + timedelta(days=1))).number == SF
