"""CallSlotsWorkflow: the account-wide cap on calls that are dialing or talking at once.

A Retell account holds only so many calls at once; past that, calls end with
``concurrency_limit_reached``. The cap is split across shards (calls/slots.py), one pool
workflow each, which hands out its share first come, first served, groups taking turns. A
call asks with the ``ask_slots`` update (by update-with-start, so the first ask starts the
pool; it closes when idle) and gets its slot in the answer when the pool has room; otherwise
it queues and is told in its turn with its own ``slot_granted`` signal. An ask refused as an
update comes as the ``request_slot`` signal instead. The slot goes back with ``release_slot``
when Retell stops counting the call. Each grant is a lease: a holder that never releases
(terminated by an operator, say) loses its slot when the lease runs out, so no slot leaks. A
crashed worker leaks nothing either: the call resumes on another worker and releases as usual.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.call_slots import CallSlotActivities
    from calls.slots import SlotAsks, SlotGrants, SlotPoolState, SlotRequest, SlotsSnapshot
    from outbound_calls_client.names import (
        ASK_SLOTS_UPDATE,
        RELEASE_SLOT_SIGNAL,
        REQUEST_SLOT_SIGNAL,
        SLOT_ASK_AGAIN_SIGNAL,
        SLOTS_QUERY,
        SLOTS_WORKFLOW,
    )
    from workflows.deadline_timer import DeadlineTimer


LEASE_CHECK_WHEN_FULL = timedelta(minutes=10)
# Continue as new well before the history gets large; state is small and carried over.
EVENTS_BEFORE_CONTINUE = 5_000
# Temporal fails a workflow task with more than 2,000 pending signals sent: grant (or ask
# again) in rounds of at most this many.
MAX_SIGNALS_PER_ROUND = 500
# The continue-as-new input stays well under Temporal's 2 MB payload limit: past this, the
# queue's tail is left out (those calls ask again at their next refresh).
MAX_CARRIED_BYTES = 1_000_000
# Grants are told by a local activity, a round at a time (see _grant).
GRANT_TIMEOUT = timedelta(seconds=60)
GRANT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
# A fresh run after a terminate looks up who may hold its slots (recover_slot_holders).
RECOVERED_LEASE = timedelta(hours=2)
# Patch (after 1.0.0): an ask that comes while a fresh run recovers its holders is answered
# once they are known.
ASKS_WAIT_FOR_RECOVERY = "asks-wait-for-recovery"
# Patch: a fresh run looks up its holders by local activity, whose marker shares the first
# workflow task with the patches' markers: one billable action where an activity and a
# marker alone in its task were two (docs/benchmarks.md, "Billable actions per call").
RECOVER_BY_LOCAL_ACTIVITY = "recover-by-local-activity"
RECOVER_TIMEOUT = timedelta(minutes=2)
RECOVER_RETRY = RetryPolicy(maximum_attempts=5)


@workflow.defn(name=SLOTS_WORKFLOW)
class CallSlotsWorkflow:
    @workflow.init
    def __init__(self, state: SlotPoolState) -> None:
        self._capacity = state.capacity
        self._holders: dict[str, datetime] = dict(state.holders)
        self._queue: deque[SlotRequest] = deque(state.queue)
        # Holders that asked again (their grant was lost): told again with the next round.
        self._regrant: dict[str, int] = {}
        self._changed = False
        # Holders found by recovery, not heard from since: one that asks again was only
        # waiting (a holder never asks), so it leaves the holders for the queue.
        self._unconfirmed: set[str] = set(state.unconfirmed)
        # Until recovery knows who holds a slot, asks wait for their answer.
        self._recovering = not state.recovered and workflow.info().continued_run_id is None
        self._released_while_recovering: set[str] = set()
        self._shard = state.shard
        self._shards = state.shards
        # The group granted last: the next grant goes to the next group (fair share).
        self._last_group: str | None = None
        # One lease timer, moved rather than restarted on every wake.
        self._lease_timer = DeadlineTimer()

    @workflow.signal(name=REQUEST_SLOT_SIGNAL)
    def request_slot(self, request: SlotRequest) -> None:
        # The latest capacity wins, so MAX_CONCURRENT_CALLS can be changed on the workers.
        self._capacity = request.capacity
        if request.holder in self._unconfirmed:
            self._unconfirmed.discard(request.holder)
            self._holders.pop(request.holder, None)
        queued = next((r for r in self._queue if r.holder == request.holder), None)
        if request.holder in self._holders:
            self._regrant[request.holder] = request.ticket
        elif queued is None:
            self._queue.append(request)
        elif queued.ticket != request.ticket:
            # The same call asking for a later attempt: its place, its new ticket.
            self._queue = deque(request if r is queued else r for r in self._queue)
        self._changed = True

    @workflow.update(name=ASK_SLOTS_UPDATE)
    async def ask_slots(self, asks: SlotAsks) -> list[bool]:
        """``request_slot`` for each ask in order, answered: True when the slot is granted in
        the answer (the pool has room and nobody waits ahead, or the holder has it already:
        a retried ask); False when queued, and the grant comes as a signal in its turn."""
        if self._recovering and workflow.patched(ASKS_WAIT_FOR_RECOVERY):
            # Answered from the empty table of a fresh run, an ask would take a slot that a
            # running call still holds.
            await workflow.wait_condition(lambda: not self._recovering)
        return [self._ask(request) for request in asks.requests]

    def _ask(self, request: SlotRequest) -> bool:
        self.request_slot(request)  # the bookkeeping of every ask, by signal or by update
        if request.holder in self._holders:
            # A retried ask: it has its slot, and the answer says so (no grant signal).
            self._regrant.pop(request.holder, None)
            return True
        alone = len(self._queue) == 1 and self._queue[0].holder == request.holder
        if not alone or len(self._holders) >= self._capacity:
            return False  # queued: granted by signal in its turn
        self._queue.popleft()
        self._holders[request.holder] = workflow.now() + timedelta(seconds=request.lease_s)
        # A grant like any other: the next turn goes to another group (fair share).
        self._last_group = request.group
        return True

    @workflow.signal(name=RELEASE_SLOT_SIGNAL)
    def release_slot(self, holder: str) -> None:
        if self._recovering and workflow.patched(ASKS_WAIT_FOR_RECOVERY):
            # Released before recovery lists it, where visibility may still show it holding.
            self._released_while_recovering.add(holder)
        self._holders.pop(holder, None)
        self._unconfirmed.discard(holder)
        self._queue = deque(r for r in self._queue if r.holder != holder)
        self._changed = True

    @workflow.query(name=SLOTS_QUERY)
    def slots(self) -> SlotsSnapshot:
        return SlotsSnapshot(
            capacity=self._capacity,
            holders=tuple(sorted(self._holders)),
            waiting=tuple(r.holder for r in self._queue),
        )

    @workflow.run
    async def run(self, state: SlotPoolState) -> None:
        try:
            if self._recovering:
                # Asked before anything else of the run, so that its marker is in the first
                # workflow task on every replay.
                by_local_activity = workflow.patched(RECOVER_BY_LOCAL_ACTIVITY)
                try:
                    await self._recover(by_local_activity)
                finally:
                    self._recovering = False
            if await self._serve():
                return
        except (asyncio.CancelledError, FailureError) as err:
            # A cancel reaches whatever the run awaits: a timer (CancelledError), or an
            # activity or signal (a failure whose cause is a cancel). Anything else is a
            # real failure.
            if not is_cancelled_exception(err):
                raise
            # Closing would forget who holds a slot, and the cap would no longer hold: a
            # cancel (an operator's, say) starts a fresh run that keeps the holders instead.
            workflow.logger.warning(
                "slot pool canceled; continuing with its holders",
                extra={"holders": len(self._holders), "waiting": len(self._queue)},
            )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._carried_state())

    def _carried_state(self) -> SlotPoolState:
        holders = tuple(self._holders.items())
        queue = list(self._queue)
        # Each entry's JSON size, a little over: ids, a timestamp, the request's numbers.
        size = sum(len(h) + 40 for h, _ in holders)
        size += sum(len(h) + 20 for h in self._unconfirmed)
        kept = 0
        for request in queue:
            size += len(request.holder) + len(request.group or "") + 100
            if size > MAX_CARRIED_BYTES:
                break
            kept += 1
        if kept < len(queue):
            workflow.logger.warning(
                "slot queue too long to carry over; the rest ask again later",
                extra={"carried": kept, "left_out": len(queue) - kept},
            )
        return SlotPoolState(
            capacity=self._capacity,
            holders=holders,
            queue=tuple(queue[:kept]),
            shard=self._shard,
            shards=self._shards,
            unconfirmed=tuple(sorted(self._unconfirmed)),
            recovered=True,
        )

    async def _recover(self, by_local_activity: bool) -> None:
        """A first run, or one after a terminate: the calls of this shard that may hold a
        slot count as holders until they release it or ask again (then they were waiting)."""
        execute = (
            workflow.execute_local_activity_method
            if by_local_activity
            else workflow.execute_activity_method
        )
        try:
            found = await execute(
                CallSlotActivities.recover_slot_holders,
                args=[self._shard, self._shards],
                start_to_close_timeout=RECOVER_TIMEOUT,
                retry_policy=RECOVER_RETRY,
                summary="who may hold a slot of this pool (after a terminate)",
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise  # run() continues with its holders
            # Granting without knowing beats granting nothing at all: say so and go on.
            workflow.logger.error("slot holders not recovered", extra={"error": str(err)})
            return
        lease_end = workflow.now() + RECOVERED_LEASE
        waiting = {r.holder for r in self._queue}
        gone = self._released_while_recovering
        for holder in (*found.holding, *found.waiting):
            if holder not in waiting and holder not in self._holders and holder not in gone:
                self._holders[holder] = lease_end
                self._unconfirmed.add(holder)
        if workflow.patched(ASKS_WAIT_FOR_RECOVERY):
            # Every one found is asked, holders too: a call closed since (its release lost
            # with the terminated run) cannot take the signal, and its slot comes back now
            # instead of after RECOVERED_LEASE. A call that holds its slot ignores it.
            asked = [h for h in (*found.holding, *found.waiting) if h in self._unconfirmed]
        else:
            asked = [h for h in found.waiting if h in self._unconfirmed]
        if asked:
            workflow.logger.warning(
                "slot pool recovered holders", extra={"holding": len(found.holding)}
            )
            await self._signal_all(asked, SLOT_ASK_AGAIN_SIGNAL, lambda _: [])

    async def _serve(self) -> bool:
        """Grant slots until idle (True: close) or the history is long enough (False)."""
        while True:
            # Reset before granting: a signal that lands while we grant must wake us again.
            self._changed = False
            await self._grant()
            self._expire_leases()
            workflow.set_current_details(
                f"{len(self._holders)}/{self._capacity} slots in use, {len(self._queue)} waiting"
            )
            if not self._holders and not self._queue:
                # Idle: close. The next request starts a fresh run (signal-with-start), and
                # Temporal refuses to close a run while a new signal waits, so none is lost.
                await workflow.wait_condition(workflow.all_handlers_finished)
                # An ask answered meanwhile may have granted a slot.
                if not self._queue and not self._holders:
                    return True
                continue
            if workflow.info().get_current_history_length() > EVENTS_BEFORE_CONTINUE or (
                workflow.info().is_continue_as_new_suggested()
            ):
                return False
            await self._lease_timer.wait(
                lambda: self._changed, workflow.now() + self._next_wakeup(), "leases"
            )

    def _take_grants(self, most: int) -> list[SlotRequest]:
        """The queued requests to grant now: FIFO within a group, groups taking turns."""
        free = min(most, self._capacity - len(self._holders))
        if free <= 0 or not self._queue:
            return []
        groups: dict[str | None, deque[SlotRequest]] = {}
        for request in self._queue:
            groups.setdefault(request.group, deque()).append(request)
        if len(groups) == 1:
            taken = [self._queue.popleft() for _ in range(min(free, len(self._queue)))]
        else:
            order = list(groups)
            if self._last_group in groups:
                # Start with the group after the one granted last.
                at = order.index(self._last_group) + 1
                order = order[at:] + order[:at]
            taken = []
            while len(taken) < free and order:
                for group in list(order):
                    if len(taken) == free:
                        break
                    if groups[group]:
                        taken.append(groups[group].popleft())
                        self._last_group = group
                    else:
                        order.remove(group)
            chosen = {id(r) for r in taken}
            self._queue = deque(r for r in self._queue if id(r) not in chosen)
        return taken

    def _next_round(self) -> dict[str, int]:
        """Holder -> ticket of the next round of grants (at most MAX_SIGNALS_PER_ROUND): the
        queue's next requests, then holders that asked again (their grant was lost)."""
        tickets: dict[str, int] = {}
        for request in self._take_grants(MAX_SIGNALS_PER_ROUND):
            self._holders[request.holder] = workflow.now() + timedelta(seconds=request.lease_s)
            tickets[request.holder] = request.ticket
        later: dict[str, int] = {}
        for holder in sorted(self._regrant):
            if holder not in self._holders or holder in tickets:
                continue
            if len(tickets) < MAX_SIGNALS_PER_ROUND:
                tickets[holder] = self._regrant[holder]
            else:
                later[holder] = self._regrant[holder]
        self._regrant = later
        return tickets

    async def _grant(self) -> None:
        """Grant what can be granted, telling the holders from a local activity.

        Signals sent by the workflow itself cost two events each, a workflow task for each
        acknowledgment, and a round waited for its last delivery before the next began
        (20 s under load). A local activity signals the round's holders at once: one marker
        event, no task of its own; at most MAX_SIGNALS_PER_ROUND each.
        """
        while True:
            tickets = self._next_round()
            if not tickets:
                return
            gone = await workflow.execute_local_activity_method(
                CallSlotActivities.grant_call_slots,
                SlotGrants(grants=tuple(tickets.items())),
                start_to_close_timeout=GRANT_TIMEOUT,
                retry_policy=GRANT_RETRY,
                summary=f"grant {len(tickets)} call slot(s)",
            )
            for holder in gone:
                # The holder is gone (finished or terminated while waiting): free the slot.
                self._holders.pop(holder, None)
                workflow.logger.info("slot holder gone", extra={"holder": holder})
            if len(tickets) < MAX_SIGNALS_PER_ROUND:
                return

    async def _signal_all(self, holders: list[str], signal: str, args: Any) -> None:
        """Signal each of ``holders``, at most MAX_SIGNALS_PER_ROUND per workflow task; a
        holder that is gone is forgotten."""
        for at in range(0, len(holders), MAX_SIGNALS_PER_ROUND):
            batch = holders[at : at + MAX_SIGNALS_PER_ROUND]
            results = await asyncio.gather(
                *(
                    workflow.get_external_workflow_handle(h).signal(signal, args=args(h))
                    for h in batch
                ),
                return_exceptions=True,
            )
            self._forget_gone(batch, results)

    def _forget_gone(self, holders: list[str], results: Sequence[object]) -> None:
        """After signalling ``holders``: one whose signal failed is gone (finished or
        terminated while waiting), so its slot is free. A canceled signal is no such news."""
        for holder, result in zip(holders, results, strict=True):
            if not isinstance(result, BaseException):
                continue
            if is_cancelled_exception(result) or not isinstance(result, FailureError):
                raise result
            self._holders.pop(holder, None)
            self._unconfirmed.discard(holder)
            workflow.logger.info("slot holder gone", extra={"holder": holder})

    def _expire_leases(self) -> None:
        now = workflow.now()
        for holder, deadline in list(self._holders.items()):
            if deadline <= now:
                del self._holders[holder]
                self._unconfirmed.discard(holder)
                workflow.logger.warning("slot lease expired", extra={"holder": holder})

    def _next_wakeup(self) -> timedelta:
        if not self._holders:  # only requests waiting: a release or a request wakes us
            return LEASE_CHECK_WHEN_FULL
        soonest = min(self._holders.values()) - workflow.now()
        return max(soonest, timedelta(seconds=1))
