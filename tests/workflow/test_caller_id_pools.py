"""Caller-ID pools on the time-skipping server against the simulator over real HTTP: each
attempt dials from the pool's most local number, within its daily cap; a pool with nothing
usable ends the call rejected, naming the pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.caller_ids import SqliteCallerIdStore
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallOutcome, CallRequest, OutcomeStatus
from outbound_calls_client.start import start_call
from outbound_calls_client.validation import validate_request
from tests.helpers.call_harness import SimulatorAdmin, call_request, call_worker

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


async def test_a_daily_cap_holds_and_an_exhausted_pool_rejects_the_call(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, queue: str, store: SqliteCallerIdStore
) -> None:
    await store.add(LOCAL["415"], "capped", 1)
    first = await _run(ts_env, queue, _pool_request(CALLEES["415"], "capped"))
    assert first.attempts[0].from_number == LOCAL["415"]
    second = await _run(ts_env, queue, _pool_request(CALLEES["212"], "capped"))
    assert second.status is OutcomeStatus.REJECTED
    assert second.attempts[0].detail is not None
    assert "caller_id_pool 'capped' has no usable number" in second.attempts[0].detail
    assert await sim.calls(CALLEES["212"]) == []  # nothing dialed
    (listed,) = await store.numbers("capped", datetime.now(UTC))
    assert listed.used_today == 1


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
