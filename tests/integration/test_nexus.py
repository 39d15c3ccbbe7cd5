"""Nexus service ``outbound-calls`` on the dev server: callers in namespace ``reminders`` place
calls through an endpoint into our namespace, with the simulator and the bridge."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import nexusrpc
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import NexusOperationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.namespace_setup import register_nexus_endpoint
from tests.helpers.call_harness import (
    LiveStack,
    call_request,
    caller_namespace,
    eventually,
    live_stack,
)
from tests.helpers.example_nexus_caller import PlainJsonCallWorkflow, ReminderCallWorkflow
from worker import workflow_runner

pytestmark = pytest.mark.integration

CALLERS = "reminders"


@dataclass
class NexusSetup:
    ours: LiveStack
    caller: Client
    caller_queue: str
    endpoint: str


@pytest.fixture
async def nexus(dev_env: WorkflowEnvironment) -> AsyncIterator[NexusSetup]:
    caller = await caller_namespace(dev_env, CALLERS)
    async with live_stack(dev_env.client) as ours:
        endpoint = f"outbound-calls-{uuid.uuid4().hex[:8]}"
        assert await register_nexus_endpoint(
            dev_env.client, task_queue=ours.task_queue, name=endpoint
        )
        assert not await register_nexus_endpoint(  # a second time: left as it is
            dev_env.client, task_queue=ours.task_queue, name=endpoint
        )
        caller_queue = f"reminders-{uuid.uuid4().hex[:8]}"
        async with Worker(
            caller,
            task_queue=caller_queue,
            workflows=[ReminderCallWorkflow, PlainJsonCallWorkflow],
            workflow_runner=workflow_runner(),
        ):
            yield NexusSetup(ours, caller, caller_queue, endpoint)


async def _remind(nexus: NexusSetup, request: Any) -> str:
    result: str = await asyncio.wait_for(
        nexus.caller.execute_workflow(
            ReminderCallWorkflow.run,
            args=[request, nexus.endpoint],
            id=f"reminder-{uuid.uuid4().hex[:8]}",
            task_queue=nexus.caller_queue,
        ),
        60,
    )
    return result


async def test_a_caller_in_another_namespace_places_a_call(
    dev_env: WorkflowEnvironment, nexus: NexusSetup
) -> None:
    request = call_request("answered")
    result = await _remind(nexus, request)
    dialed = await nexus.ours.sim.calls()
    assert result == f"reminded by call {dialed[0]['call_id']}"
    assert len(dialed) == 1
    # Started with its search attributes, as start_call does (the call then upserts none).
    history = await dev_env.client.get_workflow_handle(f"call-{request.dedupe_key}").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert "ToNumberMasked" in started.search_attributes.indexed_fields


async def test_the_same_dedupe_key_twice_through_nexus_is_one_call(nexus: NexusSetup) -> None:
    request = call_request("answered")
    first = await _remind(nexus, request)
    second = await _remind(nexus, request)  # the call has finished: its outcome is relayed
    assert first == second
    assert len(await nexus.ours.sim.calls()) == 1


async def test_a_caller_that_gives_up_hangs_the_call_up(nexus: NexusSetup) -> None:
    handle = await nexus.caller.start_workflow(
        ReminderCallWorkflow.run,
        args=[call_request("hangs_ongoing"), nexus.endpoint],
        id=f"reminder-{uuid.uuid4().hex[:8]}",
        task_queue=nexus.caller_queue,
    )

    async def talking() -> bool:
        return [c["call_status"] for c in await nexus.ours.sim.calls()] == ["ongoing"]

    await eventually(talking, timeout_s=30, what="the call to be talking")
    await handle.signal(ReminderCallWorkflow.give_up)
    assert await asyncio.wait_for(handle.result(), 60) == "gave up; the call was hung up"

    async def hung_up() -> bool:
        return [c["call_status"] for c in await nexus.ours.sim.calls()] == ["ended"]

    await eventually(hung_up, timeout_s=30, what="the call to be hung up")
    assert (await nexus.ours.sim.calls())[0]["disconnection_reason"] == "manual_stopped"


async def test_a_caller_that_knows_only_names_and_json(nexus: NexusSetup) -> None:
    request = call_request("answered").model_dump(mode="json", exclude_none=True)
    outcome = await asyncio.wait_for(
        nexus.caller.execute_workflow(
            PlainJsonCallWorkflow.run,
            args=[request, nexus.endpoint],
            id=f"plain-{uuid.uuid4().hex[:8]}",
            task_queue=nexus.caller_queue,
        ),
        60,
    )
    assert outcome["status"] == "completed"
    assert outcome["call_id"] == (await nexus.ours.sim.calls())[0]["call_id"]


async def test_a_request_out_of_bounds_is_a_bad_request_naming_the_field(
    nexus: NexusSetup,
) -> None:
    request = call_request("answered", timeouts={"poll_interval_s": 0.001})
    with pytest.raises(WorkflowFailureError) as caught:
        await _remind(nexus, request)
    operation = caught.value.cause
    assert isinstance(operation, NexusOperationError)
    handler = operation.cause
    assert isinstance(handler, nexusrpc.HandlerError)
    assert handler.type == nexusrpc.HandlerErrorType.BAD_REQUEST
    assert not handler.retryable
    assert "timeouts.poll_interval_s" in str(handler)
    assert "(rule: min)" in str(handler)
    assert await nexus.ours.sim.calls() == []
