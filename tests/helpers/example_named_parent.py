"""An example parent workflow that names its call's id, and catches a refused request."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from outbound_calls_client.models import CallRequest

from outbound_calls_client.child_calls import call_as_child


@workflow.defn(name="CallUnderIdWorkflow")
class CallUnderIdWorkflow:
    """Places a call under an id of its own; a refused request is its answer, not a failure."""

    @workflow.run
    async def run(self, request: CallRequest, workflow_id: str) -> str:
        try:
            outcome = await call_as_child(request, workflow_id=workflow_id)
        except ApplicationError as err:
            if err.type != "InvalidCallRequest":
                raise
            return f"refused: {err.message}"
        return outcome.status.value
