"""Example callers of Nexus service ``outbound-calls`` from another namespace (``reminders``).

``ReminderCallWorkflow`` uses the typed contract (outbound_calls_client.nexus_service);
``PlainJsonCallWorkflow`` knows only the names and the JSON shapes, as a team without
this project's code would.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio import workflow
from temporalio.exceptions import NexusOperationError

with workflow.unsafe.imports_passed_through():
    from outbound_calls_client.models import CallOutcome, CallRequest, CallSnapshot, OutcomeStatus
    from outbound_calls_client.names import DEFAULT_NEXUS_ENDPOINT
    from outbound_calls_client.nexus_service import OutboundCallsService


@workflow.defn(name="ReminderCallWorkflow")
class ReminderCallWorkflow:
    """Calls the patient through Nexus and branches on the outcome; ``give_up`` cancels the
    operation (the call is hung up)."""

    def __init__(self) -> None:
        self._give_up = False

    @workflow.signal(name="give_up")
    def give_up(self) -> None:
        self._give_up = True

    @workflow.run
    async def run(self, request: CallRequest, endpoint: str = DEFAULT_NEXUS_ENDPOINT) -> str:
        calls = workflow.create_nexus_client(service=OutboundCallsService, endpoint=endpoint)
        call = asyncio.create_task(
            calls.execute_operation(OutboundCallsService.place_call, request)
        )
        await workflow.wait_condition(lambda: call.done() or self._give_up)
        if not call.done():
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError, NexusOperationError):
                await call
            return "gave up; the call was hung up"
        outcome: CallOutcome = call.result()
        if outcome.status == OutcomeStatus.COMPLETED:
            return f"reminded by call {outcome.call_id}"
        return f"not reached ({outcome.status.value}); send a text instead"


@workflow.defn(name="PlainJsonCallWorkflow")
class PlainJsonCallWorkflow:
    @workflow.run
    async def run(self, request: dict[str, Any], endpoint: str) -> dict[str, Any]:
        calls = workflow.create_nexus_client(service="outbound-calls", endpoint=endpoint)
        outcome: dict[str, Any] = await calls.execute_operation(
            "place_call", request, output_type=dict
        )
        return outcome


@workflow.defn(name="CallStatusCallerWorkflow")
class CallStatusCallerWorkflow:
    """Asks where a call stands: the call's workflow id (``CallOutcome.workflow_id``), or
    ``call-<dedupe_key>`` for a key this namespace placed a call with."""

    @workflow.run
    async def run(self, workflow_id: str, endpoint: str = DEFAULT_NEXUS_ENDPOINT) -> CallSnapshot:
        calls = workflow.create_nexus_client(service=OutboundCallsService, endpoint=endpoint)
        return await calls.execute_operation(OutboundCallsService.call_status, workflow_id)
