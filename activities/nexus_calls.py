"""The handler of Nexus service ``outbound-calls`` (outbound_calls_client.nexus_service),
run by the worker.

``place_call`` is a workflow-run operation backed by ``OutboundCallWorkflow`` with the same id
and dedupe rules as ``start_call``: a running call with the same dedupe key is attached to
(Temporal attaches the caller's completion callback to it), and a finished one is answered by
a small relay workflow that reads its outcome, so the caller gets the first call's outcome and
nothing is dialed twice. Canceling the operation cancels the call workflow, which hangs up.
"""

from __future__ import annotations

import nexusrpc
from nexusrpc.handler import StartOperationContext, service_handler, sync_operation
from temporalio import nexus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallOutcome, CallRequest, CallSnapshot
from outbound_calls_client.names import CALL_WORKFLOW, RELAY_WORKFLOW, STATUS_QUERY
from outbound_calls_client.nexus_service import OutboundCallsService
from outbound_calls_client.start import ID_CONFLICT_POLICY, ID_REUSE_POLICY, workflow_id_for
from outbound_calls_client.start_options import call_start_options
from outbound_calls_client.validation import validate_request


@service_handler(service=OutboundCallsService)
class OutboundCallsHandler:
    def __init__(self, task_queue: str) -> None:
        self._task_queue = task_queue

    @nexus.workflow_run_operation
    async def place_call(
        self, ctx: nexus.WorkflowRunOperationContext, request: CallRequest
    ) -> nexus.WorkflowHandle[CallOutcome]:
        try:
            validate_request(request)
        except InvalidCallRequest as exc:
            # The caller's mistake: retrying cannot help, and the message names the field.
            raise nexusrpc.HandlerError(
                str(exc), type=nexusrpc.HandlerErrorType.BAD_REQUEST, retryable_override=False
            ) from None
        workflow_id = workflow_id_for(request)
        try:
            return await ctx.start_workflow(
                CALL_WORKFLOW,
                request,
                id=workflow_id,
                task_queue=self._task_queue,
                result_type=CallOutcome,
                id_conflict_policy=ID_CONFLICT_POLICY,
                id_reuse_policy=ID_REUSE_POLICY,
                **call_start_options(request),
            )
        except WorkflowAlreadyStartedError:
            # The call has finished: relay its outcome instead of dialing again.
            return await ctx.start_workflow(
                RELAY_WORKFLOW,
                workflow_id,
                id=f"{workflow_id}-relay-{ctx.request_id}",
                task_queue=self._task_queue,
                result_type=CallOutcome,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                static_summary=f"outcome of {workflow_id}",
            )

    @sync_operation
    async def call_status(self, ctx: StartOperationContext, workflow_id: str) -> CallSnapshot:
        handle = nexus.client().get_workflow_handle(workflow_id)
        snapshot: CallSnapshot = await handle.query(STATUS_QUERY, result_type=CallSnapshot)
        return snapshot
