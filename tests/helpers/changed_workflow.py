"""A deliberately changed copy of OutboundCallWorkflow: one extra activity before validating.

Registered under the same name, replaying the recorded histories with it must fail: the
replay test shows that a non-deterministic change cannot slip through CI.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from outbound_calls_client.names import CALL_WORKFLOW

with workflow.unsafe.imports_passed_through():
    from outbound_calls_client.models import CallOutcome, CallRequest

from workflows.outbound_call import OutboundCallWorkflow


@workflow.defn(name=CALL_WORKFLOW)
class OutboundCallWorkflowWithExtraStep(OutboundCallWorkflow):
    @workflow.run
    async def run(self, request: CallRequest) -> CallOutcome:
        await workflow.execute_activity(
            "check_do_not_call", request.to_number, start_to_close_timeout=timedelta(seconds=5)
        )
        return await super().run(request)
