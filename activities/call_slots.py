"""The call side of the account-wide slot pools: ask, give back, and (for a pool's fresh
run) find who may hold a slot. An ask is update-with-start and a release signal-with-start,
so whichever comes first starts the pool; they run as local activities of the call (no
history of their own). The ask's answer carries the slot when the pool has room at once, so
most calls never wait for a grant signal (and the workflow task it costs)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.batches import Batches
from calls.slots import (
    HOLDING_PHASES,
    RecoveredHolders,
    SlotAsks,
    SlotGrants,
    SlotPoolState,
    SlotRequest,
    SlotTicket,
    shard_capacity,
    shard_count,
    shard_of,
    slots_workflow_id,
)
from outbound_calls_client import search_attributes as sa
from outbound_calls_client.names import (
    ASK_SLOTS_UPDATE,
    CALL_WORKFLOW,
    RELEASE_SLOT_SIGNAL,
    REQUEST_SLOT_SIGNAL,
    SLOT_GRANTED_SIGNAL,
    SLOTS_WORKFLOW,
)

# Visibility trails the histories by a moment: a call granted just before a terminate must
# show its new CallStatus before the fresh pool lists the calls.
VISIBILITY_SETTLE_S = 2.0
# A run that closed as an idle pool does (completed) needs no recovery.
# Grant signals one local activity sends at once.
GRANT_CONCURRENCY = 50
# Temporal keeps at most 10 updates in flight per workflow (history.maxInFlightUpdates) and
# refuses more: a worker keeps its asks to a pool to a few updates at once, and the asks that
# come meanwhile go together in the next (one update, one workflow task of the pool, however
# many calls: a burst of calls costs the pool a handful of tasks).
MAX_ASK_UPDATES_IN_FLIGHT = 4
MAX_ASKS_PER_UPDATE = 500
CLEAN_CLOSE = (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.CONTINUED_AS_NEW)


class CallSlotActivities:
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        capacity: int | Callable[[], int],
        shards: int | None = None,
        create_task_queue: str | None = None,
        pool_task_queue: str | None = None,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        # A figure, or what answers the current one (the cap less what Retell keeps for
        # inbound calls, which a worker reads again while it runs: adapters/inbound_reserve).
        self._capacity_now = capacity if callable(capacity) else lambda: capacity
        # Fixed for the worker's life: a call must ask the same pool whatever the figure.
        self._shards = shard_count(self._capacity_now(), shards)
        self._create_task_queue = create_task_queue
        # Where the pools run: a queue of their own keeps their tasks from waiting behind
        # a backlog of call tasks (worker.slots_task_queue_for).
        self._pool_task_queue = pool_task_queue or task_queue
        self._asks: dict[int, Batches[SlotRequest, bool]] = {}

    def _shard_for(self, request: SlotRequest) -> int:
        return shard_of(request.holder, self._shards)

    def _share(self, shard: int) -> int:
        # A figure fallen below the pools' count since the start still leaves each one slot.
        return max(1, shard_capacity(self._capacity_now(), self._shards, shard))

    def _pool_start(self, shard: int) -> tuple[str, SlotPoolState]:
        capacity = self._share(shard)
        state = SlotPoolState(capacity=capacity, shard=shard, shards=self._shards)
        return slots_workflow_id(self._task_queue, shard), state

    def _summary(self, shard: int) -> str:
        return f"Account-wide call slots (MAX_CONCURRENT_CALLS), shard {shard}"

    async def _signal_with_start(self, shard: int, signal: str, arg: object) -> str:
        pool_id, state = self._pool_start(shard)
        await self._client.start_workflow(
            SLOTS_WORKFLOW,
            state,
            id=pool_id,
            task_queue=self._pool_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=signal,
            start_signal_args=[arg],
            static_summary=self._summary(shard),
        )
        return pool_id

    async def _ask_with_start(self, shard: int, requests: list[SlotRequest]) -> list[bool]:
        """Asks as one update: for each, True when the slot came in the answer."""
        pool_id, state = self._pool_start(shard)
        start: WithStartWorkflowOperation[Any, None] = WithStartWorkflowOperation(
            SLOTS_WORKFLOW,
            state,
            id=pool_id,
            task_queue=self._pool_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=self._summary(shard),
        )
        granted: list[bool] = await self._client.execute_update_with_start_workflow(
            ASK_SLOTS_UPDATE,
            SlotAsks(requests=tuple(requests)),
            start_workflow_operation=start,
            result_type=list[bool],
        )
        return granted

    def _asks_to(self, shard: int) -> Batches[SlotRequest, bool]:
        """This worker's asks by update to ``shard``'s pool."""
        if shard not in self._asks:
            self._asks[shard] = Batches(
                functools.partial(self._ask_with_start, shard),
                max_in_flight=MAX_ASK_UPDATES_IN_FLIGHT,
                max_batch=MAX_ASKS_PER_UPDATE,
            )
        return self._asks[shard]

    @activity.defn(name="request_call_slot")
    async def request_call_slot(self, request: SlotRequest) -> SlotTicket:
        """Ask ``request``'s shard for a slot: granted in the answer when the pool has room
        and nobody waits ahead, else queued, and the grant comes as a signal to the holder.

        Asking again (a retry) is harmless: the pool keeps one place per holder, and answers
        a holder that already has its slot with that slot.
        """
        shard = self._shard_for(request)
        request = request.model_copy(update={"capacity": self._share(shard)})
        ticket = SlotTicket(
            shard=shard,
            pool_id=slots_workflow_id(self._task_queue, shard),
            create_task_queue=self._create_task_queue,
        )
        try:
            granted = await self._asks_to(shard).submit(request)
        except (
            WorkflowUpdateFailedError,
            WorkflowUpdateRPCTimeoutOrCancelledError,
            RPCError,
        ) as err:
            # Refused (too many updates in flight, a pool closing as it came): ask by signal
            # instead. Should the update have landed after all, the pool answers the repeat
            # with a grant signal, so the slot is never lost.
            activity.logger.info("slot asked by signal", extra={"update_error": str(err)})
        else:
            return ticket.model_copy(update={"granted": granted})
        await self._signal_with_start(shard, REQUEST_SLOT_SIGNAL, request)
        return ticket

    @activity.defn(name="release_call_slot")
    async def release_call_slot(self, ticket: SlotTicket) -> None:
        """Give the slot back (or leave the queue). A pool terminated meanwhile starts again
        with this release, and its fresh run looks up who holds what; a pool closed as idle
        holds nothing, this slot included, and is left closed: a release run again (its
        workflow task failed, say, after the first had reached the pool) starts no run."""
        holder = activity.info().workflow_id
        assert holder is not None
        pool = self._client.get_workflow_handle(slots_workflow_id(self._task_queue, ticket.shard))
        try:
            await pool.signal(RELEASE_SLOT_SIGNAL, holder)
            return
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        if await self._closed_idle(pool):
            return
        await self._signal_with_start(ticket.shard, RELEASE_SLOT_SIGNAL, holder)

    @staticmethod
    async def _closed_idle(pool: WorkflowHandle[Any, Any]) -> bool:
        """The pool's latest run closed as an idle pool does (or it never ran)."""
        try:
            status = (await pool.describe()).status
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return True
            raise
        return status in CLEAN_CLOSE

    @activity.defn(name="grant_call_slots")
    async def grant_call_slots(self, round_: SlotGrants) -> list[str]:
        """Tell each holder of a pool's round of grants; answers the holders that are gone.

        Run again after a failure, a holder is told twice: its ticket makes that harmless.
        """
        gate = asyncio.Semaphore(GRANT_CONCURRENCY)

        async def tell(holder: str, ticket: int) -> str | None:
            async with gate:
                try:
                    await self._client.get_workflow_handle(holder).signal(
                        SLOT_GRANTED_SIGNAL, ticket
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
            if not activity.info().is_local:  # a pool's fresh run asks by local activity
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
