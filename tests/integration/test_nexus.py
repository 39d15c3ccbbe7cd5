"""Nexus service ``outbound-calls`` on the dev server: callers in namespace ``reminders`` place
calls through an endpoint into our namespace, with the simulator and the bridge; a second
team's namespace, ``billing``, sees and attaches to none of their calls."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import nexusrpc
import pytest
from temporalio.api.common.v1 import Link, Payloads, WorkflowType
from temporalio.api.enums.v1 import EventType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import NexusOperationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.namespace_setup import register_nexus_endpoint
from outbound_calls_client.call_ids import campaign_row_call_id, nexus_call_id
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallRequest, CallSnapshot
from outbound_calls_client.names import CALL_WORKFLOW
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import (
    LiveStack,
    call_request,
    caller_namespace,
    eventually,
    live_stack,
)
from tests.helpers.example_nexus_caller import (
    CallStatusCallerWorkflow,
    PlainJsonCallWorkflow,
    ReminderCallWorkflow,
)
from worker import workflow_runner

pytestmark = pytest.mark.integration

ResultT = TypeVar("ResultT")

CALLERS = "reminders"
OTHER_TEAM = "billing"
CALLER_WORKFLOWS = [ReminderCallWorkflow, PlainJsonCallWorkflow, CallStatusCallerWorkflow]


@dataclass
class NexusSetup:
    ours: LiveStack
    caller: Client
    caller_queue: str
    endpoint: str
    other: Client  # OTHER_TEAM's namespace, its worker on caller_queue too


@pytest.fixture
async def nexus(dev_env: WorkflowEnvironment) -> AsyncIterator[NexusSetup]:
    caller = await caller_namespace(dev_env, CALLERS)
    other = await caller_namespace(dev_env, OTHER_TEAM)
    async with live_stack(dev_env.client) as ours:
        endpoint = f"outbound-calls-{uuid.uuid4().hex[:8]}"
        assert await register_nexus_endpoint(
            dev_env.client, task_queue=ours.task_queue, name=endpoint
        )
        assert not await register_nexus_endpoint(  # a second time: left as it is
            dev_env.client, task_queue=ours.task_queue, name=endpoint
        )
        caller_queue = f"reminders-{uuid.uuid4().hex[:8]}"
        async with (
            Worker(
                caller,
                task_queue=caller_queue,
                workflows=CALLER_WORKFLOWS,
                workflow_runner=workflow_runner(),
            ),
            Worker(
                other,
                task_queue=caller_queue,
                workflows=CALLER_WORKFLOWS,
                workflow_runner=workflow_runner(),
            ),
        ):
            yield NexusSetup(ours, caller, caller_queue, endpoint, other)


async def _run_caller(
    nexus: NexusSetup, caller: Client, workflow: str, arg: Any, result_type: type[ResultT]
) -> ResultT:
    """Run one of the example callers in ``caller``'s namespace, within a minute."""
    result: ResultT = await asyncio.wait_for(
        caller.execute_workflow(
            workflow,
            args=[arg, nexus.endpoint],
            id=f"{workflow}-{uuid.uuid4().hex[:8]}",
            task_queue=nexus.caller_queue,
            result_type=result_type,
        ),
        60,
    )
    return result


async def _remind(nexus: NexusSetup, request: Any) -> str:
    return await _run_caller(nexus, nexus.caller, "ReminderCallWorkflow", request, str)


async def test_a_caller_in_another_namespace_places_a_call(
    dev_env: WorkflowEnvironment, nexus: NexusSetup
) -> None:
    request = call_request("answered")
    result = await _remind(nexus, request)
    dialed = await nexus.ours.sim.calls()
    assert result == f"reminded by call {dialed[0]['call_id']}"
    assert len(dialed) == 1
    # Started with its search attributes, as start_call does (the call then upserts none).
    assert request.dedupe_key is not None
    wid = nexus_call_id(CALLERS, request.dedupe_key)
    history = await dev_env.client.get_workflow_handle(wid).fetch_history()
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


async def _place(nexus: NexusSetup, caller: Client, request: CallRequest) -> dict[str, Any]:
    plain = request.model_dump(mode="json", exclude_none=True)
    outcome: dict[str, Any] = await _run_caller(nexus, caller, "PlainJsonCallWorkflow", plain, dict)
    return outcome


async def _status(nexus: NexusSetup, caller: Client, workflow_id: str) -> CallSnapshot:
    return await _run_caller(nexus, caller, "CallStatusCallerWorkflow", workflow_id, CallSnapshot)


def _handler_error(caught: pytest.ExceptionInfo[WorkflowFailureError]) -> nexusrpc.HandlerError:
    operation = caught.value.cause
    assert isinstance(operation, NexusOperationError)
    handler = operation.cause
    assert isinstance(handler, nexusrpc.HandlerError)
    assert not handler.retryable
    return handler


async def _not_found(nexus: NexusSetup, caller: Client, workflow_id: str) -> str:
    """call_status of ``workflow_id`` by ``caller`` is NOT_FOUND: its message, for checks."""
    with pytest.raises(WorkflowFailureError) as caught:
        await _status(nexus, caller, workflow_id)
    handler = _handler_error(caught)
    assert handler.type == nexusrpc.HandlerErrorType.NOT_FOUND
    return str(handler)


async def test_another_team_gets_not_found_for_a_teams_call(
    dev_env: WorkflowEnvironment, nexus: NexusSetup
) -> None:
    request = call_request("answered")
    outcome = await _place(nexus, nexus.caller, request)
    wid = outcome["workflow_id"]
    assert wid == nexus_call_id(CALLERS, str(request.dedupe_key))
    # The team that placed it sees it, by its id or by the call-<key> it derives from its key.
    mine = await _status(nexus, nexus.caller, wid)
    assert mine.workflow_id == wid
    assert mine.call_id == outcome["call_id"]
    assert (await _status(nexus, nexus.caller, f"call-{request.dedupe_key}")).workflow_id == wid
    # The other team: not found, by either name, and not a byte of the call in the answer.
    for name in (wid, f"call-{request.dedupe_key}"):
        message = await _not_found(nexus, nexus.other, name)
        assert outcome["call_id"] not in message
        assert "Ada" not in message
        assert "completed" not in message
    # Nor a call of our own namespace, nor one that does not exist.
    ours = await start_call(
        dev_env.client, call_request("answered"), task_queue=nexus.ours.task_queue
    )
    await ours.result()
    for caller in (nexus.caller, nexus.other):
        await _not_found(nexus, caller, ours.id)
    await _not_found(nexus, nexus.other, f"call-nexus:{OTHER_TEAM}:no-such-key")


async def test_the_same_dedupe_key_from_two_teams_is_two_calls(nexus: NexusSetup) -> None:
    request = call_request("answered")
    theirs, mine = await asyncio.gather(
        _place(nexus, nexus.caller, request), _place(nexus, nexus.other, request)
    )
    assert theirs["workflow_id"] != mine["workflow_id"]
    assert theirs["call_id"] != mine["call_id"]
    assert len(await nexus.ours.sim.calls()) == 2


async def test_a_dedupe_key_in_a_campaigns_id_space_is_refused(
    dev_env: WorkflowEnvironment, nexus: NexusSetup
) -> None:
    # The first row of campaign "spring" has this id: no caller may take it first.
    request = call_request("answered", dedupe_key="campaign:spring:0")
    assert f"call-{request.dedupe_key}" == campaign_row_call_id("spring", 0)
    with pytest.raises(WorkflowFailureError) as caught:
        await _place(nexus, nexus.caller, request)
    handler = _handler_error(caught)
    assert handler.type == nexusrpc.HandlerErrorType.BAD_REQUEST
    assert "dedupe_key" in str(handler)
    assert "(rule: reserved)" in str(handler)
    with pytest.raises(InvalidCallRequest, match=r"^dedupe_key: .*\(rule: reserved\)"):
        await start_call(dev_env.client, request, task_queue=nexus.ours.task_queue)
    with pytest.raises(InvalidCallRequest, match=r"^workflow_id: .*\(rule: reserved\)"):
        await start_call(
            dev_env.client,
            call_request("answered"),
            task_queue=nexus.ours.task_queue,
            workflow_id=campaign_row_call_id("spring", 1),
        )
    assert await nexus.ours.sim.calls() == []
    with pytest.raises(RPCError):  # nothing was started under either id
        await dev_env.client.get_workflow_handle(campaign_row_call_id("spring", 0)).describe()


async def test_a_call_placed_before_the_caller_spaces_is_still_its_callers(
    dev_env: WorkflowEnvironment, nexus: NexusSetup
) -> None:
    """A call placed through Nexus by the release before has id call-<key> and, on its start
    event, the link to the caller's workflow (the server copies it there from the start)."""
    request = call_request("hangs_ongoing")
    wid = f"call-{request.dedupe_key}"
    await _start_as_the_release_before(dev_env.client, nexus.ours.task_queue, request, wid)
    assert (await _status(nexus, nexus.caller, wid)).workflow_id == wid
    await _not_found(nexus, nexus.other, wid)
    # The same key again from its caller attaches to it: still one call, ended by the cancel.
    handle = await nexus.caller.start_workflow(
        ReminderCallWorkflow.run,
        args=[request, nexus.endpoint],
        id=f"reminder-{uuid.uuid4().hex[:8]}",
        task_queue=nexus.caller_queue,
    )

    async def attached() -> bool:
        described = await dev_env.client.get_workflow_handle(wid).describe()
        return len(described.raw_description.callbacks) == 1

    await eventually(attached, timeout_s=30, what="the caller's callback on the old call")
    await handle.signal(ReminderCallWorkflow.give_up)
    assert await asyncio.wait_for(handle.result(), 60) == "gave up; the call was hung up"
    assert len(await nexus.ours.sim.calls()) == 1


async def _start_as_the_release_before(
    client: Client, task_queue: str, request: CallRequest, workflow_id: str
) -> None:
    """Start a call as the handler of the release before did: id call-<key>, and the
    caller's workflow-event link on the start (the client API has no links, so the raw one)."""
    link = Link(
        workflow_event=Link.WorkflowEvent(
            namespace=CALLERS,
            workflow_id=f"reminder-{uuid.uuid4().hex[:8]}",
            run_id=str(uuid.uuid4()),
            event_ref=Link.WorkflowEvent.EventReference(
                event_id=5, event_type=EventType.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED
            ),
        )
    )
    payloads = await client.data_converter.encode([request])
    await client.workflow_service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name=CALL_WORKFLOW),
            task_queue=TaskQueue(name=task_queue),
            input=Payloads(payloads=payloads),
            identity="release-before",
            request_id=str(uuid.uuid4()),
            links=[link],
        )
    )
