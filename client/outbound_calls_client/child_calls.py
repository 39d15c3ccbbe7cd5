"""Place a call from inside another workflow, with the same dedupe rules as ``start_call``.

    from outbound_calls_client.child_calls import call_as_child

    outcome = await call_as_child(CallRequest(..., dedupe_key="reminder-8812"))

The child's id is ``call-<dedupe_key>`` (without a key: ``<parent id>-call-<random>``), started
with ``REJECT_DUPLICATE``: if a call with that id already ran or runs (another parent, a
CLI start), no second call is placed and the existing call's outcome is awaited instead.
A parent that closes asks its open calls to cancel (they hang up) rather than killing them.

A key or an id in a space reserved for campaigns and Nexus callers (outbound_calls_client.
call_ids) is refused before anything starts, as ``start_call`` refuses it: the parent gets a
non-retryable ``ApplicationError`` of type ``InvalidCallRequest`` naming the field and the
rule, which fails it unless it catches it (an exception of another kind would fail the
workflow task instead, retried without end, and the parent would hang).

A parent on another team's worker passes ``task_queue="outbound-calls"`` (our
``DEFAULT_TASK_QUEUE``, or wherever our worker runs): the call, and the look at an existing
one, run there; without it they run on the parent's own task queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from outbound_calls_client.call_ids import check_dedupe_key, check_workflow_id
    from outbound_calls_client.errors import InvalidCallRequest
    from outbound_calls_client.models import CallOutcome, CallRequest
    from outbound_calls_client.names import CALL_LOOKUP_ACTIVITY, CALL_WORKFLOW, call_workflow_id
    from outbound_calls_client.start_options import call_memo, call_summary

# Waiting on an existing call by durable timers instead of one days-long activity.
FIRST_LOOK_AFTER = timedelta(seconds=5)
LONGEST_LOOK_INTERVAL = timedelta(minutes=5)
LOOK_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))


def child_call_id(request: CallRequest) -> str:
    if request.dedupe_key is not None:
        return call_workflow_id(request.dedupe_key)
    # workflow.uuid4 is deterministic: a replay derives the same id.
    return f"{workflow.info().workflow_id}-call-{workflow.uuid4().hex[:12]}"


def check_child_ids(request: CallRequest, workflow_id: str | None) -> None:
    """The reserved-id rule of ``start_call``, as a workflow's failure: a pure check, so it
    runs in the parent's workflow code."""
    try:
        check_dedupe_key(request.dedupe_key)
        if workflow_id is not None:
            check_workflow_id(workflow_id)
    except InvalidCallRequest as exc:
        raise ApplicationError(
            str(exc),
            {"field": exc.field, "rule": exc.rule},
            type=InvalidCallRequest.__name__,
            non_retryable=True,
        ) from None


async def call_as_child(
    request: CallRequest,
    *,
    workflow_id: str | None = None,
    search_attributes: Sequence[SearchAttributePair[str] | SearchAttributePair[int]] = (),
    task_queue: str | None = None,
) -> CallOutcome:
    """Run the call as a child workflow (or await the existing one) and return its outcome.

    Raises ``ApplicationError`` (type ``InvalidCallRequest``, non-retryable) for a dedupe key
    or a ``workflow_id`` in a reserved space, before the child is started.
    """
    check_child_ids(request, workflow_id)
    wid = workflow_id or child_call_id(request)
    try:
        handle = await workflow.start_child_workflow(
            CALL_WORKFLOW,
            request,
            id=wid,
            task_queue=task_queue,
            result_type=CallOutcome,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
            search_attributes=TypedSearchAttributes(list(search_attributes))
            if search_attributes
            else None,
            static_summary=call_summary(request),
            memo=call_memo(request),
        )
    except WorkflowAlreadyStartedError:
        return await await_existing_call(wid, task_queue=task_queue)
    result: CallOutcome = await handle
    return result


async def await_existing_call(wid: str, *, task_queue: str | None = None) -> CallOutcome:
    """Look at the existing call now and then, sooner at first, until it has an outcome."""
    interval = FIRST_LOOK_AFTER
    while True:
        outcome = await workflow.execute_activity(
            CALL_LOOKUP_ACTIVITY,
            wid,
            task_queue=task_queue,
            result_type=CallOutcome | None,  # type: ignore[arg-type]
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=LOOK_RETRY,
            summary=f"look at existing call {wid}",
        )
        if outcome is not None:
            return outcome  # type: ignore[no-any-return]
        await workflow.sleep(interval, summary=f"wait for existing call {wid}")
        interval = min(interval * 2, LONGEST_LOOK_INTERVAL)
