"""This team's own workflows (a package named like ours, on purpose): a reminder placed as a
child workflow of theirs, on our worker's task queue, and one placed through Nexus."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import greeting_for
    from outbound_calls_client import CallOutcome, CallRequest, OutboundCallsService, call_as_child


async def _greeted(request: dict[str, Any]) -> CallRequest:
    """The request with this team's greeting, from its own activity, as a dynamic variable."""
    greeting = await workflow.execute_activity(
        greeting_for, "Ada", start_to_close_timeout=timedelta(seconds=10)
    )
    variables = {**request.get("dynamic_variables", {}), "greeting": greeting}
    return CallRequest.model_validate({**request, "dynamic_variables": variables})


@workflow.defn
class ChildReminderWorkflow:
    @workflow.run
    async def run(self, request: dict[str, Any], calls_queue: str) -> CallOutcome:
        return await call_as_child(await _greeted(request), task_queue=calls_queue)


@workflow.defn
class NexusReminderWorkflow:
    @workflow.run
    async def run(self, request: dict[str, Any], endpoint: str) -> CallOutcome:
        calls = workflow.create_nexus_client(service=OutboundCallsService, endpoint=endpoint)
        return await calls.execute_operation(
            OutboundCallsService.place_call, await _greeted(request)
        )
