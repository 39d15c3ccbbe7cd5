"""The relay behind a Nexus ``place_call`` whose dedupe key names a call that has finished."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from outbound_calls_client.child_calls import await_existing_call
    from outbound_calls_client.models import CallOutcome
    from outbound_calls_client.names import RELAY_WORKFLOW


@workflow.defn(name=RELAY_WORKFLOW)
class CallOutcomeRelayWorkflow:
    """Answers a finished call's outcome: what a Nexus ``place_call`` with the dedupe key of
    a call that has already finished runs, so its caller gets that outcome (nothing dialed)."""

    @workflow.run
    async def run(self, call_workflow_id: str) -> CallOutcome:
        return await await_existing_call(call_workflow_id)
