"""The Retell activities against the simulator over loopback: what Temporal is told, per answer.

Activities run in temporalio's ActivityEnvironment with a chosen attempt number, so a retry
is exactly "attempt 2 of the same activity" without a server in between.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.retell import RetellActivities, create_call_body
from adapters.retell_client import RetellClient
from outbound_calls_client.models import CreateCallInput, OutcomeStatus
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import (
    FROM_NUMBER,
    SIM_KEY,
    TO_NUMBER,
    SimulatorAdmin,
    call_request,
    call_worker,
)


@pytest.fixture
async def admin(sim: SimulatorAdmin) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        yield http


def _input(scenario: str = "answered", **metadata: str) -> CreateCallInput:
    return CreateCallInput(
        workflow_id="call-activity-test",
        attempt=1,
        idempotency_key="call-activity-test:1",
        to_number=TO_NUMBER,
        from_number=FROM_NUMBER,
        agent_id="agent_test",
        metadata={"simulator_scenario": scenario, **metadata},
    )


def _env(attempt: int = 1, *, first_scheduled_ago: timedelta = timedelta(0)) -> ActivityEnvironment:
    env = ActivityEnvironment()
    now = env.info.current_attempt_scheduled_time
    env.info = dataclasses.replace(
        env.info, attempt=attempt, scheduled_time=now - first_scheduled_ago
    )
    return env


async def _calls(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = (await admin.get("/_sim/calls")).json()
    return calls


async def _requests(admin: httpx.AsyncClient, path_part: str) -> list[dict[str, Any]]:
    return [r for r in (await admin.get("/_sim/requests")).json() if path_part in r["path"]]


async def _fail_list_calls(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/_sim/list-calls-failures", json={"status": 500})
    assert response.status_code == 204


def test_every_create_asks_retell_to_honor_its_do_not_call_list() -> None:
    assert create_call_body(_input())["honor_internal_dnc"] is True


async def test_retried_create_after_a_lost_answer_reuses_the_key_while_list_calls_fails(
    sim: SimulatorAdmin, admin: httpx.AsyncClient
) -> None:
    async with RetellClient(sim.base_url, SIM_KEY, create_timeout_s=0.3) as client:
        activities = RetellActivities(client)
        request = _input("lost_response", simulator_hold_s="3")
        with pytest.raises(ApplicationError) as lost:
            await _env(1).run(activities.create_call, request)
        assert lost.value.type == "RetellUnavailable"
        assert not lost.value.non_retryable

        await _fail_list_calls(admin)
        call = await _env(2).run(activities.create_call, request)
    calls = await _calls(admin)
    assert [c["call_id"] for c in calls] == [call.call_id]
    creates = await _requests(admin, "/create-phone-call")
    assert [r["idempotency_key"] for r in creates] == [request.idempotency_key] * 2
    assert await _requests(admin, "/list-calls") == []


async def test_a_failing_reconcile_never_replaces_the_creates_own_error(
    sim: SimulatorAdmin, admin: httpx.AsyncClient
) -> None:
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        activities = RetellActivities(client)
        request = _input("server_errors")
        await _fail_list_calls(admin)
        with pytest.raises(ApplicationError):
            await _env(1).run(activities.create_call, request)  # 500, nothing created
        with pytest.raises(ApplicationError) as second:
            await _env(2).run(activities.create_call, request)  # 503: fate unknown
        assert second.value.type == "RetellUnavailable"
        assert "503" in str(second.value)
        assert not second.value.non_retryable
        call = await _env(3).run(activities.create_call, request)
    assert [c["call_id"] for c in await _calls(admin)] == [call.call_id]
    # Only the retry whose create failed with an unknown fate tried to reconcile.
    assert len(await _requests(admin, "/list-calls")) == 1


async def test_a_retry_past_retells_idempotency_hour_looks_first_and_never_dials_blind(
    sim: SimulatorAdmin, admin: httpx.AsyncClient
) -> None:
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        activities = RetellActivities(client)
        request = _input()
        first = await _env(1).run(activities.create_call, request)
        await admin.post("/_sim/forget-idempotency")  # the hour has passed at Retell
        late = _env(2, first_scheduled_ago=timedelta(minutes=55))
        assert (await late.run(activities.create_call, request)).call_id == first.call_id

        await _fail_list_calls(admin)
        with pytest.raises(ApplicationError) as blind:
            await late.run(activities.create_call, request)
        assert not blind.value.non_retryable
    assert len(await _calls(admin)) == 1
    assert len(await _requests(admin, "/create-phone-call")) == 1


@pytest.mark.parametrize(
    ("scenario", "error_type", "retryable"),
    [
        ("trial_ended", "RetellAccountProblem", False),
        ("forbidden", "RetellAccountProblem", False),
        ("conflicts", "RetellUnavailable", True),
        ("rate_limited", "RetellRateLimited", True),
    ],
)
async def test_create_failures_tell_temporal_what_they_mean(
    sim: SimulatorAdmin, scenario: str, error_type: str, retryable: bool
) -> None:
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        with pytest.raises(ApplicationError) as info:
            await _env().run(RetellActivities(client).create_call, _input(scenario))
    assert info.value.type == error_type
    assert info.value.non_retryable is not retryable


async def test_wrong_key_and_do_not_call_are_named_for_the_workflow(
    sim: SimulatorAdmin, admin: httpx.AsyncClient
) -> None:
    async with RetellClient(sim.base_url, "wrong-key") as client:
        with pytest.raises(ApplicationError) as wrong:
            await _env().run(RetellActivities(client).create_call, _input())
    assert wrong.value.type == "RetellAccountProblem"
    assert wrong.value.non_retryable
    assert "wrong-key" not in str(wrong.value)

    await admin.post("/_sim/dnc", json={"number": TO_NUMBER})
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        with pytest.raises(ApplicationError) as dnc:
            await _env().run(RetellActivities(client).create_call, _input())
    assert dnc.value.type == "RetellDoNotCall"
    assert dnc.value.non_retryable
    assert await _calls(admin) == []


async def test_unknown_calls_read_as_not_found_and_stopping_them_is_done(
    sim: SimulatorAdmin,
) -> None:
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        activities = RetellActivities(client)
        with pytest.raises(ApplicationError) as missing:
            await _env().run(activities.get_call, "call_unknown")
        assert missing.value.type == "RetellCallNotFound"
        assert missing.value.non_retryable
        await _env().run(activities.stop_call, "call_unknown")  # nothing left to hang up
        call = await _env().run(activities.create_call, _input("no_answer"))
        await _env().run(activities.stop_call, call.call_id)
    async with RetellClient(sim.base_url, "wrong-key") as client:
        with pytest.raises(ApplicationError) as refused:
            # An account problem is not "already closed": the call may still be live.
            await _env().run(RetellActivities(client).stop_call, call.call_id)
    assert refused.value.type == "RetellAccountProblem"


async def test_call_workflow_with_a_lost_create_answer_and_list_calls_down_is_one_call(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, admin: httpx.AsyncClient
) -> None:
    await _fail_list_calls(admin)
    async with call_worker(ts_env.client, sim.base_url, read_timeout_s=0.5) as queue:
        request = call_request(
            metadata={"simulator_scenario": "lost_response", "simulator_hold_s": "5"}
        )
        handle = await start_call(ts_env.client, request, task_queue=queue)
        outcome = await handle.result()
    calls = await _calls(admin)
    assert outcome.status == OutcomeStatus.COMPLETED
    assert [c["call_id"] for c in calls] == [outcome.call_id]
    assert len(outcome.attempts) == 1
