"""The call side of the account-wide slot pools: ask, give back, and (for a pool's fresh
run) find who may hold a slot. Asks and releases are signal-with-start, so whichever comes
first starts the pool; they run as local activities of the call (no history of their own)."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from calls import search_attributes as sa
from calls.names import (
    CALL_WORKFLOW,
    RELEASE_SLOT_SIGNAL,
    REQUEST_SLOT_SIGNAL,
    SLOT_GRANTED_SIGNAL,
    SLOTS_WORKFLOW,
)
from calls.slots import (
    HOLDING_PHASES,
    RecoveredHolders,
    SlotGrants,
    SlotPoolState,
    SlotRequest,
    SlotTicket,
    shard_capacity,
    shard_count,
    shard_of,
    slots_workflow_id,
)

# Visibility trails the histories by a moment: a call granted just before a terminate must
# show its new CallStatus before the fresh pool lists the calls.
VISIBILITY_SETTLE_S = 2.0
# A run that closed as an idle pool does (completed) needs no recovery.
# Grant signals one local activity sends at once.
GRANT_CONCURRENCY = 50
CLEAN_CLOSE = (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.CONTINUED_AS_NEW)


class CallSlotActivities:
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        capacity: int,
        shards: int | None = None,
        create_task_queue: str | None = None,
        pool_task_queue: str | None = None,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._capacity = capacity
        self._shards = shard_count(capacity, shards)
        self._create_task_queue = create_task_queue
        # Where the pools run: a queue of their own keeps their tasks from waiting behind
        # a backlog of call tasks (worker.slots_task_queue_for).
        self._pool_task_queue = pool_task_queue or task_queue

    def _shard_for(self, request: SlotRequest) -> int:
        # A call from before sharding (no ticket) gives its slot back to the first pool.
        return 0 if request.ticket is None else shard_of(request.holder, self._shards)

    async def _signal_with_start(self, shard: int, signal: str, arg: object) -> str:
        pool_id = slots_workflow_id(self._task_queue, shard)
        capacity = shard_capacity(self._capacity, self._shards, shard)
        await self._client.start_workflow(
            SLOTS_WORKFLOW,
            SlotPoolState(capacity=capacity, shard=shard, shards=self._shards),
            id=pool_id,
            task_queue=self._pool_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=signal,
            start_signal_args=[arg],
            static_summary=f"Account-wide call slots (MAX_CONCURRENT_CALLS), shard {shard}",
        )
        return pool_id

    @activity.defn(name="request_call_slot")
    async def request_call_slot(self, request: SlotRequest) -> SlotTicket:
        """Queue ``request`` at its shard's pool; the grant comes back as a signal to the holder.

        Asking again (a retry) is harmless: the pool keeps one place per holder.
        """
        shard = self._shard_for(request)
        capacity = shard_capacity(self._capacity, self._shards, shard)
        pool_id = await self._signal_with_start(
            shard, REQUEST_SLOT_SIGNAL, request.model_copy(update={"capacity": capacity})
        )
        return SlotTicket(shard=shard, pool_id=pool_id, create_task_queue=self._create_task_queue)

    @activity.defn(name="release_call_slot")
    async def release_call_slot(self, ticket: SlotTicket) -> None:
        """Give the slot back (or leave the queue). A pool terminated meanwhile starts again
        with this release, and its fresh run looks up who holds what."""
        holder = activity.info().workflow_id
        assert holder is not None
        await self._signal_with_start(ticket.shard, RELEASE_SLOT_SIGNAL, holder)

    @activity.defn(name="grant_call_slots")
    async def grant_call_slots(self, round_: SlotGrants) -> list[str]:
        """Tell each holder of a pool's round of grants; answers the holders that are gone.

        Run again after a failure, a holder is told twice: its ticket makes that harmless.
        """
        gate = asyncio.Semaphore(GRANT_CONCURRENCY)

        async def tell(holder: str, ticket: int | None) -> str | None:
            args = [] if ticket is None else [ticket]
            async with gate:
                try:
                    await self._client.get_workflow_handle(holder).signal(
                        SLOT_GRANTED_SIGNAL, args=args
                    )
                except RPCError as err:
                    if err.status == RPCStatusCode.NOT_FOUND:
                        return holder
                    raise
            return None

        told = await asyncio.gather(*(tell(h, t) for h, t in round_.grants))
        return [holder for holder in told if holder is not None]

    @activity.defn(name="recover_slot_holders")
    async def recover_slot_holders(self, shard: int, shards: int) -> RecoveredHolders:
        """For a pool's fresh run: the running calls of its shard that may hold a slot.

        Nothing when the pool's previous run closed as an idle pool does; after a terminate
        (or a first run), the calls whose CallStatus says they hold a slot or wait for one.
        """
        pool_id = slots_workflow_id(self._task_queue, shard)
        try:
            if await self._closed_cleanly(pool_id, activity.info().workflow_run_id):
                return RecoveredHolders()
        except RPCError as err:
            if err.status != RPCStatusCode.UNIMPLEMENTED:
                raise
            # No visibility (the time-skipping test server): nothing to look up.
            return RecoveredHolders()
        await asyncio.sleep(VISIBILITY_SETTLE_S)
        phases = ", ".join(f"'{p}'" for p in HOLDING_PHASES)
        query = (
            f"WorkflowType = '{CALL_WORKFLOW}' AND ExecutionStatus = 'Running' "
            f"AND TaskQueue = '{self._task_queue}' AND {sa.CALL_STATUS.name} IN ({phases})"
        )
        holding: list[str] = []
        waiting: list[str] = []
        async for execution in self._client.list_workflows(query):
            if shard_of(execution.id, shards) != shard and not (shard == 0 and shards == 1):
                continue
            status = execution.typed_search_attributes.get(sa.CALL_STATUS)
            (waiting if status == "waiting_for_slot" else holding).append(execution.id)
            activity.heartbeat()
        activity.logger.warning(
            "slot pool recovery", extra={"holding": len(holding), "waiting": len(waiting)}
        )
        return RecoveredHolders(holding=tuple(holding), waiting=tuple(waiting))

    async def _closed_cleanly(self, pool_id: str, current_run: str | None) -> bool:
        """Did the pool's latest earlier run close as idle (or is there none)?

        Visibility finds the run; its status comes from the run itself (describe), since
        visibility may still call a run that just closed running.
        """
        latest = None
        async for execution in self._client.list_workflows(f"WorkflowId = '{pool_id}'"):
            if execution.run_id == current_run:
                continue
            if latest is None or execution.start_time > latest.start_time:
                latest = execution
        if latest is None:
            return True
        handle = self._client.get_workflow_handle(pool_id, run_id=latest.run_id)
        return (await handle.describe()).status in CLEAN_CLOSE
