"""The handler of Nexus service ``outbound-calls`` (outbound_calls_client.nexus_service),
run by the worker.

``place_call`` is a workflow-run operation backed by ``OutboundCallWorkflow`` with the dedupe
rules of ``start_call``, within the caller's namespace: the call's id is
``call-nexus:<caller namespace>:<dedupe_key>`` (activities/nexus_caller.py says how the caller
is known), so two namespaces with one key get two calls. A running call with the same key is
attached to (Temporal attaches the caller's completion callback to it), and a finished one is
answered by a small relay workflow that reads its outcome, so the caller gets the first call's
outcome and nothing is dialed twice. Canceling the operation cancels the call workflow, which
hangs up. ``call_status`` answers only for the caller's own calls; any other id is not found.

Calls placed before the caller spaces have ids ``call-<dedupe_key>``; each is still the call
of the namespace that placed it (its start event names that namespace), for both operations,
until the namespace's retention has passed since the deploy and none is left.
"""

from __future__ import annotations

import uuid

import nexusrpc
from nexusrpc.handler import StartOperationContext, service_handler, sync_operation
from temporalio import nexus
from temporalio.client import WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.nexus_caller import caller_namespace, not_found, placed_before_spaces_by
from outbound_calls_client.call_ids import in_reserved_space, nexus_call_id, nexus_owner
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallOutcome, CallRequest, CallSnapshot
from outbound_calls_client.names import (
    CALL_WORKFLOW,
    CALL_WORKFLOW_ID_PREFIX,
    RELAY_WORKFLOW,
    STATUS_QUERY,
    call_workflow_id,
)
from outbound_calls_client.nexus_service import OutboundCallsService
from outbound_calls_client.start import ID_CONFLICT_POLICY, ID_REUSE_POLICY
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
        caller = caller_namespace(ctx.inbound_links)
        try:
            validate_request(request)
        except InvalidCallRequest as exc:
            # The caller's mistake: retrying cannot help, and the message names the field.
            raise nexusrpc.HandlerError(
                str(exc), type=nexusrpc.HandlerErrorType.BAD_REQUEST, retryable_override=False
            ) from None
        workflow_id = await _place_call_id(caller, request)
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
        caller = caller_namespace(ctx.inbound_links)
        own = await _own_call_id(caller, workflow_id)
        if own is None:
            raise not_found(workflow_id)
        handle = nexus.client().get_workflow_handle(own)
        try:
            snapshot: CallSnapshot = await handle.query(STATUS_QUERY, result_type=CallSnapshot)
        except (RPCError, WorkflowQueryFailedError):
            # Gone since, or a relay of the caller's (no status query): no call to show.
            raise not_found(workflow_id) from None
        return snapshot


async def _place_call_id(caller: str, request: CallRequest) -> str:
    """The caller's call for this request: one it placed before the caller spaces with this
    key if there is one (so a repeat still attaches to it), else its id in the caller's
    space; without a key, a new id there."""
    if request.dedupe_key is None:
        return nexus_call_id(caller, uuid.uuid4().hex)
    before = call_workflow_id(request.dedupe_key)
    if await placed_before_spaces_by(nexus.client(), before, caller):
        return before
    return nexus_call_id(caller, request.dedupe_key)


async def _own_call_id(caller: str, workflow_id: str) -> str | None:
    """The caller's call that ``workflow_id`` names, or None: an id in the caller's space; an
    id of the scheme before (``call-<key>``) placed by this caller; or, for that scheme's id
    of a call that is not the caller's, the caller's own call with that key (callers that
    derive ``call-<key>`` from their key keep finding their call)."""
    owner = nexus_owner(workflow_id)
    if owner is not None:
        return workflow_id if owner == caller else None
    if in_reserved_space(workflow_id) or not workflow_id.startswith(CALL_WORKFLOW_ID_PREFIX):
        return None
    if await placed_before_spaces_by(nexus.client(), workflow_id, caller):
        return workflow_id
    return nexus_call_id(caller, workflow_id.removeprefix(CALL_WORKFLOW_ID_PREFIX))
