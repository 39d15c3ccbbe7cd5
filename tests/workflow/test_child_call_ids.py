"""``call_as_child`` refuses the ids reserved for campaigns and Nexus callers, on the
time-skipping server: the parent fails at once with a non-retryable ``ApplicationError``
naming the field and the rule (or catches it), and no child is started."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client.names import call_workflow_id
from tests.helpers.call_harness import SimulatorAdmin, call_request, call_worker
from tests.helpers.example_named_parent import CallUnderIdWorkflow
from tests.helpers.example_parent import AppointmentReminderWorkflow


@pytest.fixture
async def task_queue(ts_env: WorkflowEnvironment, sim: SimulatorAdmin) -> AsyncIterator[str]:
    async with call_worker(
        ts_env.client,
        sim.base_url,
        extra_workflows=[AppointmentReminderWorkflow, CallUnderIdWorkflow],
    ) as queue:
        yield queue


async def _never_started(env: WorkflowEnvironment, workflow_id: str) -> None:
    with pytest.raises(RPCError) as missing:
        await env.client.get_workflow_handle(workflow_id).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


@pytest.mark.parametrize("space", ["nexus:", "campaign:"])
async def test_a_reserved_dedupe_key_fails_the_parent_before_any_child(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin, space: str
) -> None:
    key = f"{space}other-team:{uuid.uuid4().hex[:8]}"
    parent = await ts_env.client.start_workflow(
        AppointmentReminderWorkflow.run,
        call_request(dedupe_key=key),
        id=f"reminder-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )
    # At once: a failure of the parent, not a workflow task retried without end.
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(parent.result(), 30)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("InvalidCallRequest", True)
    assert cause.details == ({"field": "dedupe_key", "rule": "reserved"},)
    assert f"may not begin with '{space}'" in cause.message
    await _never_started(ts_env, call_workflow_id(key))
    assert await sim.calls() == []


async def test_a_reserved_workflow_id_is_refused_and_a_parent_may_catch_it(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    wid = call_workflow_id(f"nexus:other-team:{uuid.uuid4().hex[:8]}")
    parent = await ts_env.client.start_workflow(
        CallUnderIdWorkflow.run,
        args=[call_request(), wid],
        id=f"named-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )
    answer = await asyncio.wait_for(parent.result(), 30)
    assert answer.startswith("refused: workflow_id: ")
    assert answer.endswith("(rule: reserved)")
    await _never_started(ts_env, wid)
    assert await sim.calls() == []


async def test_an_id_of_our_own_space_is_still_called(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    wid = call_workflow_id(f"named-{uuid.uuid4().hex[:8]}")
    parent = await ts_env.client.start_workflow(
        CallUnderIdWorkflow.run,
        args=[call_request(), wid],
        id=f"named-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )
    assert await asyncio.wait_for(parent.result(), 60) == "completed"
    assert len(await sim.calls()) == 1
