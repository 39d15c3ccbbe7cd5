"""``start_call(..., wait_for="dialed")`` on the dev server (update-with-start is not on the
time-skipping server): the answer comes when Retell took the call, or when the call waits for
calling hours, and a finished call still answers with the call it placed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client.models import OutcomeStatus
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import call_request, live_stack
from workflows.outbound_call import OutboundCallWorkflow

pytestmark = pytest.mark.integration


async def test_dialed_answers_before_the_call_ends_and_again_after(
    dev_env: WorkflowEnvironment,
) -> None:
    async with live_stack(dev_env.client) as stack:
        request = call_request(
            metadata={"simulator_scenario": "answered", "simulator_ring_ms": "3000"}
        )
        first = await start_call(
            dev_env.client, request, task_queue=stack.task_queue, wait_for="dialed"
        )
        assert first.dial.status == "dialed"
        ringing = await stack.sim.calls()
        assert [(c["call_id"], c["call_status"]) for c in ringing] == [
            (first.dial.call_id, "registered")
        ]
        outcome = await asyncio.wait_for(first.handle.result(), 60)
        assert outcome.status == OutcomeStatus.COMPLETED
        # Finished: the same request answers the call it placed, and dials nothing.
        again = await start_call(
            dev_env.client, request, task_queue=stack.task_queue, wait_for="dialed"
        )
        assert (again.dial.status, again.dial.call_id) == ("dialed", first.dial.call_id)
        assert len(await stack.sim.calls()) == 1


async def test_dialed_says_when_the_call_waits_for_calling_hours(
    dev_env: WorkflowEnvironment,
) -> None:
    tomorrow = datetime.now(UTC).isoweekday() % 7 + 1
    async with live_stack(dev_env.client) as stack:
        request = call_request(calling_window={"time_zone": "UTC", "days": [tomorrow]})
        dialed = await start_call(
            dev_env.client, request, task_queue=stack.task_queue, wait_for="dialed"
        )
        assert dialed.dial.status == "scheduled"
        assert dialed.dial.waiting_until is not None
        assert dialed.dial.waiting_until > datetime.now(UTC)
        outcome = await dialed.handle.execute_update(OutboundCallWorkflow.cancel, "test over")
        assert outcome.status == OutcomeStatus.CANCELED
        assert await stack.sim.calls() == []
