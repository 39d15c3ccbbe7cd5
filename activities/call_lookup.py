"""Read another call workflow's outcome: for a parent whose child call already existed."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus

from outbound_calls_client.models import CallOutcome, OutcomeStatus
from outbound_calls_client.names import CALL_LOOKUP_ACTIVITY

# How a call workflow that did not complete is counted by whoever waited for it.
CLOSED_WITHOUT_OUTCOME = {
    WorkflowExecutionStatus.CANCELED: OutcomeStatus.CANCELED,
    WorkflowExecutionStatus.TERMINATED: OutcomeStatus.FAILED,
    WorkflowExecutionStatus.FAILED: OutcomeStatus.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: OutcomeStatus.FAILED,
}


async def outcome_if_closed(client: Client, workflow_id: str) -> CallOutcome | None:
    """The call workflow's outcome if it has closed (one that closed without an outcome,
    terminated say, counts as its CLOSED_WITHOUT_OUTCOME status), else None. An unknown
    workflow id raises Temporal's NOT_FOUND ``RPCError``."""
    handle = client.get_workflow_handle(workflow_id, result_type=CallOutcome)
    status = (await handle.describe()).status
    if status in (None, WorkflowExecutionStatus.RUNNING):
        return None
    if status == WorkflowExecutionStatus.COMPLETED:
        outcome: CallOutcome = await handle.result()
        return outcome
    return CallOutcome(
        workflow_id=workflow_id,
        status=CLOSED_WITHOUT_OUTCOME.get(status, OutcomeStatus.FAILED),
        detail=f"call workflow closed as {status.name.lower()} without an outcome",
    )


class CallLookupActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name=CALL_LOOKUP_ACTIVITY)
    async def call_outcome_if_done(self, workflow_id: str) -> CallOutcome | None:
        """The call workflow's outcome if it has closed, else None: one short look, so a
        waiting parent holds no worker slot between looks (its timer waits instead)."""
        return await outcome_if_closed(self._client, workflow_id)
