"""CallSlotsWorkflow: the account-wide cap on calls that are dialing or talking at once.

A Retell account holds only so many calls at once; past that, calls end with
``concurrency_limit_reached``. One workflow per namespace and task queue hands out slots,
first come, first served: a call workflow asks with the ``request_slot`` signal (sent by
signal-with-start, so the pool starts with the first request; it closes when idle), is told
with its own ``slot_granted`` signal, and gives the slot back with ``release_slot`` when
the call has ended. Each grant is a lease: a holder that never releases (terminated by an
operator, say) loses its slot when the lease runs out, so no slot leaks. A crashed worker
leaks nothing either: the call workflow resumes on another worker and releases as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from calls.slots import (
        SLOT_GRANTED_SIGNAL,
        SlotPoolState,
        SlotRequest,
        SlotsSnapshot,
        campaign_share,
    )

LEASE_CHECK_WHEN_FULL = timedelta(minutes=10)
BATCHED_GRANTS_PATCH = "batched-grants"
# A holder that asks again never got (or lost) its grant: tell it again.
REGRANT_PATCH = "regrant-on-repeat-request"
# Campaign calls wait behind single calls and hold at most campaign_share(capacity) slots, so
# a call started during a saturated campaign gets a slot at once (or at the next release).
FAIR_SHARE_PATCH = "campaign-fair-share"
# Continue as new well before the history gets large; state is small and carried over.
EVENTS_BEFORE_CONTINUE = 5_000


@workflow.defn(name="CallSlotsWorkflow")
class CallSlotsWorkflow:
    @workflow.init
    def __init__(self, state: SlotPoolState) -> None:
        self._capacity = state.capacity
        self._holders: dict[str, datetime] = dict(state.holders)
        self._queue: deque[SlotRequest] = deque(state.queue)
        self._regrant: set[str] = set()
        self._campaign_holders: set[str] = set(state.campaign_holders)
        self._changed = False

    @workflow.signal(name="request_slot")
    def request_slot(self, request: SlotRequest) -> None:
        # The latest capacity wins, so MAX_CONCURRENT_CALLS can be changed on the workers.
        self._capacity = request.capacity
        queued = any(r.holder == request.holder for r in self._queue)
        if request.holder in self._holders:
            self._regrant.add(request.holder)
        elif not queued:
            self._queue.append(request)
        self._changed = True

    @workflow.signal(name="release_slot")
    def release_slot(self, holder: str) -> None:
        self._holders.pop(holder, None)
        self._campaign_holders.discard(holder)
        self._queue = deque(r for r in self._queue if r.holder != holder)
        self._changed = True

    @workflow.query(name="slots")
    def slots(self) -> SlotsSnapshot:
        return SlotsSnapshot(
            capacity=self._capacity,
            holders=tuple(sorted(self._holders)),
            waiting=tuple(r.holder for r in self._queue),
        )

    @workflow.run
    async def run(self, state: SlotPoolState) -> None:
        try:
            if await self._serve():
                return
        except asyncio.CancelledError:
            # Closing would forget who holds a slot, and the cap would no longer hold: a
            # cancel (an operator's, say) starts a fresh run that keeps the holders instead.
            workflow.logger.warning(
                "slot pool canceled; continuing with its holders",
                extra={"holders": len(self._holders), "waiting": len(self._queue)},
            )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            SlotPoolState(
                capacity=self._capacity,
                holders=tuple(self._holders.items()),
                queue=tuple(self._queue),
                campaign_holders=tuple(sorted(self._campaign_holders)),
            )
        )

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
                if not self._queue:
                    return True
                continue
            if workflow.info().get_current_history_length() > EVENTS_BEFORE_CONTINUE or (
                workflow.info().is_continue_as_new_suggested()
            ):
                return False
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._changed, timeout=self._next_wakeup(), timeout_summary="leases"
                )

    async def _grant(self) -> None:
        granted: list[str] = []
        if workflow.patched(FAIR_SHARE_PATCH):
            self._grant_fairly(granted)
        else:
            while self._queue and len(self._holders) < self._capacity:
                request = self._queue.popleft()
                self._holders[request.holder] = workflow.now() + timedelta(seconds=request.lease_s)
                granted.append(request.holder)
        if self._regrant and workflow.patched(REGRANT_PATCH):
            granted += sorted(h for h in self._regrant if h in self._holders and h not in granted)
        self._regrant.clear()
        if workflow.patched(BATCHED_GRANTS_PATCH):
            # All grants of this round in one workflow task: one grant per round trip to the
            # server capped dials at about 8 a second, whatever MAX_CONCURRENT_CALLS said.
            results = await asyncio.gather(
                *(self._tell(holder) for holder in granted), return_exceptions=True
            )
        else:
            results = [await _outcome_of(self._tell(holder)) for holder in granted]
        for holder, result in zip(granted, results, strict=True):
            if isinstance(result, FailureError):
                # The holder is gone (finished or terminated while waiting): free the slot.
                self._holders.pop(holder, None)
                self._campaign_holders.discard(holder)
                workflow.logger.info("slot holder gone", extra={"holder": holder})
            elif isinstance(result, BaseException):
                raise result

    def _grant_fairly(self, granted: list[str]) -> None:
        """Single calls first, in order; then campaign calls up to their share."""
        waiting = list(self._queue)
        order = [r for r in waiting if not r.campaign] + [r for r in waiting if r.campaign]
        kept: list[SlotRequest] = []
        for request in order:
            full = len(self._holders) >= self._capacity
            share_used = len(self._campaign_holders) >= campaign_share(self._capacity)
            if full or (request.campaign and share_used):
                kept.append(request)
                continue
            self._holders[request.holder] = workflow.now() + timedelta(seconds=request.lease_s)
            if request.campaign:
                self._campaign_holders.add(request.holder)
            granted.append(request.holder)
        # Those left wait in their first order.
        left = {r.holder for r in kept}
        self._queue = deque(r for r in waiting if r.holder in left)

    async def _tell(self, holder: str) -> None:
        await workflow.get_external_workflow_handle(holder).signal(SLOT_GRANTED_SIGNAL)

    def _expire_leases(self) -> None:
        now = workflow.now()
        for holder, deadline in list(self._holders.items()):
            if deadline <= now:
                del self._holders[holder]
                self._campaign_holders.discard(holder)
                workflow.logger.warning("slot lease expired", extra={"holder": holder})

    def _next_wakeup(self) -> timedelta:
        if not self._holders:  # only requests waiting: a release or a request wakes us
            return LEASE_CHECK_WHEN_FULL
        soonest = min(self._holders.values()) - workflow.now()
        return max(soonest, timedelta(seconds=1))


async def _outcome_of(step: Awaitable[None]) -> BaseException | None:
    """Await ``step`` one at a time, answering its failure instead of raising it."""
    try:
        await step
    except FailureError as err:
        return err
    return None
