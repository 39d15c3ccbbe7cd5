"""Ask the account-wide slot pool for a slot: signal-with-start, so the first ask creates it."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from calls.slots import SLOTS_WORKFLOW_TYPE, SlotPoolState, SlotRequest, slots_workflow_id


class CallSlotActivities:
    def __init__(self, client: Client, *, task_queue: str, capacity: int) -> None:
        self._client = client
        self._task_queue = task_queue
        self._capacity = capacity

    @activity.defn(name="request_call_slot")
    async def request_call_slot(self, request: SlotRequest) -> None:
        """Queue ``request`` at the pool; the grant comes back as a signal to the holder.

        Asking again (a retry) is harmless: the pool keeps one place per holder.
        """
        await self._client.start_workflow(
            SLOTS_WORKFLOW_TYPE,
            SlotPoolState(capacity=self._capacity),
            id=slots_workflow_id(self._task_queue),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal="request_slot",
            start_signal_args=[request.model_copy(update={"capacity": self._capacity})],
            static_summary="Account-wide call slots (MAX_CONCURRENT_CALLS)",
        )
