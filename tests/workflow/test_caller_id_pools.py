"""Caller-ID pools on the time-skipping server against the simulator over real HTTP: each
attempt dials from the pool's most local number, within its daily cap; a pool with nothing
usable holds the call (visibly) until a number is, for a day at most; a number marked as spam
rests and the call goes out from another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.caller_ids import SqliteCallerIdStore
from outbound_calls_client import search_attributes as sa
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallOutcome, CallRequest, CallSnapshot, OutcomeStatus
from outbound_calls_client.start import start_call
from outbound_calls_client.validation import validate_request
from tests.helpers.call_harness import (
    SimulatorAdmin,
    call_request,
    call_worker,
    eventually,
    snapshot,
)

# Ours, one per area code: San Francisco, New York, Chicago.
LOCAL = {"415": "+14155550100", "212": "+12125550100", "312": "+13125550100"}
CALLEES = {"415": "+14155550177", "212": "+12125550177", "312": "+13125550177"}


@pytest.fixture
def store(tmp_path: Path) -> SqliteCallerIdStore:
    return SqliteCallerIdStore(tmp_path / "pools.sqlite3")


@pytest.fixture
async def queue(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, store: SqliteCallerIdStore
) -> AsyncIterator[str]:
    async with call_worker(ts_env.client, sim.base_url, caller_ids=store) as task_queue:
        yield task_queue


def _pool_request(to_number: str, pool: str = "sales") -> CallRequest:
    return call_request(to_number=to_number, from_number=None, caller_id_pool=pool)


async def _run(env: WorkflowEnvironment, queue: str, request: CallRequest) -> CallOutcome:
    return await (await start_call(env.client, request, task_queue=queue)).result()


async def test_each_callee_is_called_from_the_local_number(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, queue: str, store: SqliteCallerIdStore
) -> None:
    for number in LOCAL.values():
        await store.add(number, "sales", None)
    await store.add("+16175550100", "other", None)  # Boston, in another pool: never picked
    for area, callee in CALLEES.items():
        outcome = await _run(ts_env, queue, _pool_request(callee))
        assert outcome.status is OutcomeStatus.COMPLETED
        assert [a.from_number for a in outcome.attempts] == [LOCAL[area]]
        (created,) = await sim.calls(callee)
        assert created["from_number"] == LOCAL[area]


async def test_an_exhausted_pool_holds_the_call_visibly_until_a_number_is_usable(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, queue: str, store: SqliteCallerIdStore
) -> None:
    await store.add(LOCAL["415"], "capped", 1)
    first = await _run(ts_env, queue, _pool_request(CALLEES["415"], "capped"))
    assert first.attempts[0].from_number == LOCAL["415"]
    held = await start_call(
        ts_env.client, _pool_request(CALLEES["212"], "capped"), task_queue=queue
    )

    async def holding() -> CallSnapshot | None:
        status = await snapshot(held)
        return status if status.phase == "waiting_for_caller_id" else None

    status = await eventually(holding, what="the call to hold for a caller id")
    assert status.waiting_until is not None
    description = await held.describe()
    assert description.typed_search_attributes.get(sa.CALL_STATUS) == "waiting_for_caller_id"
    assert await sim.calls(CALLEES["212"]) == []  # nothing dialed while it holds
    (listed,) = await store.numbers("capped", datetime.now(UTC))
    assert listed.used_today == 1
    # A number added to the pool is found at the next look (at most 30 minutes later).
    await store.add(LOCAL["212"], "capped", None)
    outcome = await held.result()
    assert outcome.status is OutcomeStatus.COMPLETED
    assert [a.from_number for a in outcome.attempts] == [LOCAL["212"]]


async def test_a_pool_with_nothing_usable_for_a_day_rejects_and_an_empty_one_at_once(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, queue: str, store: SqliteCallerIdStore
) -> None:
    await store.add(LOCAL["415"], "resting", None)
    await store.rest(LOCAL["415"], datetime.now(UTC) + timedelta(days=30), "test")
    handle = await start_call(
        ts_env.client, _pool_request(CALLEES["415"], "resting"), task_queue=queue
    )
    held = await handle.result()
    assert held.status is OutcomeStatus.REJECTED
    (attempt,) = held.attempts
    assert attempt.detail is not None
    assert "caller_id_pool 'resting' had no usable number for 24 h" in attempt.detail
    assert attempt.dialed_at is not None
    assert attempt.dialed_at - (await handle.describe()).start_time >= timedelta(hours=24)
    empty = await _run(ts_env, queue, _pool_request(CALLEES["415"], "nobody"))
    assert empty.status is OutcomeStatus.REJECTED
    assert empty.attempts[0].detail is not None
    assert "caller_id_pool 'nobody' has no numbers" in empty.attempts[0].detail
    assert await sim.calls(CALLEES["415"]) == []


async def test_a_number_marked_as_spam_rests_and_the_call_goes_out_from_another(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, queue: str, store: SqliteCallerIdStore
) -> None:
    spammed, other = LOCAL["415"], "+14155550101"
    for number in (spammed, other):
        await store.add(number, "sales", None)
    await sim.mark_spam(spammed)
    outcome = await _run(ts_env, queue, _pool_request(CALLEES["415"]))
    assert outcome.status is OutcomeStatus.COMPLETED
    assert [(a.from_number, a.disconnection_reason) for a in outcome.attempts] == [
        (spammed, "marked_as_spam"),
        (other, outcome.attempts[1].disconnection_reason),
    ]
    rested, fine = await store.numbers("sales", datetime.now(UTC))
    assert rested.number == spammed
    assert rested.rested_reason is not None
    assert rested.rested_reason.startswith("marked_as_spam")
    assert rested.rested_until is not None
    assert rested.rested_until > datetime.now(UTC)
    assert (rested.calls, rested.rests, fine.calls, fine.answered) == (1, 1, 1, 1)
    assert fine.rested_until is None
    # Not picked while it rests, though it would win the tie (as many calls today, lower number).
    again = await _run(ts_env, queue, _pool_request(CALLEES["415"]))
    assert [a.from_number for a in again.attempts] == [other]
    # Restored (and no longer labelled by the carriers), it is picked again.
    await sim.mark_spam()
    assert await store.restore(spammed)
    back = await _run(ts_env, queue, _pool_request(CALLEES["415"]))
    assert [a.from_number for a in back.attempts] == [spammed]


async def test_a_pool_all_marked_as_spam_ends_after_two_retries(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, queue: str, store: SqliteCallerIdStore
) -> None:
    numbers = [LOCAL["415"], "+14155550101", "+14155550102", "+14155550103"]
    for number in numbers:
        await store.add(number, "labelled", None)
    await sim.mark_spam(*numbers)
    request = _pool_request(CALLEES["415"], "labelled")
    request = request.model_copy(
        update={"redial": request.redial.model_copy(update={"max_attempts": 3})}
    )
    outcome = await _run(ts_env, queue, request)
    assert outcome.status is OutcomeStatus.ACCOUNT_ERROR
    assert [a.disconnection_reason for a in outcome.attempts] == ["marked_as_spam"] * 3
    assert len({a.from_number for a in outcome.attempts}) == 3  # each from another number
    assert len(await sim.calls(CALLEES["415"])) == 3


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"from_number": None}, "one_caller_id"),
        ({"caller_id_pool": "sales"}, "one_caller_id"),
        ({"from_number": None, "caller_id_pool": "bad name"}, "pool_name"),
    ],
)
def test_exactly_one_caller_id_source_is_given(fields: dict[str, Any], rule: str) -> None:
    with pytest.raises(InvalidCallRequest) as refused:
        validate_request(call_request(**fields))
    assert refused.value.rule == rule
    assert refused.value.field in {"from_number", "caller_id_pool"}


def test_a_request_without_a_pool_serializes_as_1_0() -> None:
    assert "caller_id_pool" not in call_request().model_dump_json()
