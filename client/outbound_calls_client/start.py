"""Start a call workflow from outside a workflow, deduplicated by the caller's key."""

from __future__ import annotations

import uuid
from typing import Any, Literal, NamedTuple, TypeVar, overload

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from outbound_calls_client.call_ids import check_workflow_id
from outbound_calls_client.campaign import (
    CampaignRequest,
    CampaignSummary,
    campaign_summary_text,
    campaign_workflow_id,
)
from outbound_calls_client.campaign_bounds import check_campaign_bounds
from outbound_calls_client.models import CallOutcome, CallRequest, DialReport
from outbound_calls_client.names import (
    CALL_WORKFLOW,
    CAMPAIGN_WORKFLOW,
    DEFAULT_TASK_QUEUE,
    DIALED_UPDATE,
    call_workflow_id,
)
from outbound_calls_client.search_attributes import CAMPAIGN_ID
from outbound_calls_client.start_options import call_start_options
from outbound_calls_client.validation import validate_request

ResultT = TypeVar("ResultT")

# A running workflow with the same id: attach to it. A closed one: do not start again (the
# handle then reads the first run's outcome). Together: one request key, one call.
ID_CONFLICT_POLICY = WorkflowIDConflictPolicy.USE_EXISTING
ID_REUSE_POLICY = WorkflowIDReusePolicy.REJECT_DUPLICATE


async def start_once(
    client: Client,
    workflow_type: str,
    arg: Any,
    *,
    id: str,
    task_queue: str,
    result_type: type[ResultT],
    **options: Any,
) -> WorkflowHandle[Any, ResultT]:
    """Start ``workflow_type`` under ``id`` unless it runs or ran already; either way answer
    a handle to the one run (the dedupe rule of calls and campaigns)."""
    try:
        return await client.start_workflow(
            workflow_type,
            arg,
            id=id,
            task_queue=task_queue,
            result_type=result_type,
            id_conflict_policy=ID_CONFLICT_POLICY,
            id_reuse_policy=ID_REUSE_POLICY,
            **options,
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(id, result_type=result_type)


def workflow_id_for(request: CallRequest) -> str:
    """``call-<dedupe_key>``; without a key each request is a new call with a random id."""
    if request.dedupe_key is not None:
        return call_workflow_id(request.dedupe_key)
    return call_workflow_id(uuid.uuid4().hex)


class DialedCall(NamedTuple):
    """``start_call(..., wait_for="dialed")``: the call's handle, and whether it was dialed."""

    handle: WorkflowHandle[Any, CallOutcome]
    dial: DialReport


@overload
async def start_call(
    client: Client,
    request: CallRequest,
    *,
    task_queue: str = ...,
    workflow_id: str | None = ...,
    wait_for: Literal["started"] = ...,
) -> WorkflowHandle[Any, CallOutcome]: ...


@overload
async def start_call(
    client: Client,
    request: CallRequest,
    *,
    task_queue: str = ...,
    workflow_id: str | None = ...,
    wait_for: Literal["dialed"],
) -> DialedCall: ...


async def start_call(
    client: Client,
    request: CallRequest,
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    workflow_id: str | None = None,
    wait_for: Literal["started", "dialed"] = "started",
) -> WorkflowHandle[Any, CallOutcome] | DialedCall:
    """Start (or attach to) the call workflow for ``request``.

    The request rules run here first so a caller learns of a bad request at once; the
    workflow checks again, since it may be started by other means.

    ``wait_for="dialed"`` answers once Retell took the call (its call id), or the call waits
    for calling hours, or it ended without a call (why): one round trip to Temporal
    (update-with-start of the ``dialed`` update), attaching to an existing call like a start.
    """
    validate_request(request)
    if workflow_id is not None:
        check_workflow_id(workflow_id)
    wid = workflow_id or workflow_id_for(request)
    options = call_start_options(request)
    if wait_for == "started":
        return await start_once(
            client,
            CALL_WORKFLOW,
            request,
            id=wid,
            task_queue=task_queue,
            result_type=CallOutcome,
            **options,
        )
    start: WithStartWorkflowOperation[Any, CallOutcome] = WithStartWorkflowOperation(
        CALL_WORKFLOW,
        request,
        id=wid,
        task_queue=task_queue,
        result_type=CallOutcome,
        id_conflict_policy=ID_CONFLICT_POLICY,
        id_reuse_policy=ID_REUSE_POLICY,
        **options,
    )
    try:
        dial = await client.execute_update_with_start_workflow(
            DIALED_UPDATE, start_workflow_operation=start, result_type=DialReport
        )
        return DialedCall(await start.workflow_handle(), dial)
    except WorkflowAlreadyStartedError:
        # The call ran already and has closed: its outcome says whether it was dialed.
        handle = client.get_workflow_handle(wid, result_type=CallOutcome)
        return DialedCall(handle, DialReport.of_outcome(await handle.result()))


async def start_campaign(
    client: Client, request: CampaignRequest, *, task_queue: str = DEFAULT_TASK_QUEUE
) -> WorkflowHandle[Any, CampaignSummary]:
    """Start (or attach to) the campaign workflow ``campaign-<campaign_id>``.

    The same id policies as a call: a campaign started twice, even at the same moment, is
    one campaign, and after it finished the handle reads its summary instead of calling
    everyone again. The calls' numbers are checked by each call's own validation, so one
    bad entry ends as ``rejected`` rather than refusing the whole list; the request's size
    is checked here (outbound_calls_client.campaign_bounds), before anything starts.
    """
    check_campaign_bounds(request)
    return await start_once(
        client,
        CAMPAIGN_WORKFLOW,
        request,
        id=campaign_workflow_id(request.campaign_id),
        task_queue=task_queue,
        result_type=CampaignSummary,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(CAMPAIGN_ID, request.campaign_id)]
        ),
        static_summary=campaign_summary_text(request),
    )
