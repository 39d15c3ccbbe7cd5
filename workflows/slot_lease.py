"""A call's lease on one of the account's MAX_CONCURRENT_CALLS slots (workflows/call_slots.py).

    lease = SlotLease(holder=workflow_id, timer=timer, progress=progress)
    if await lease.acquire(timeouts, group=None):   # first come, first served; False: canceled
        ...                                           # create the call, follow it
    await lease.release()                             # at once when Retell stops counting it

The call workflow forwards the pool's signals (``slot_granted``, ``slot_ask_again``) to
``granted`` and ``ask_again``. The lease asks the shard its id hashes to by local activity,
takes the slot from the answer when the pool has room, and otherwise waits on the call's one
deadline timer for the grant; it gives the slot back by local activity too (a signal from
the workflow would save that activity's billable action but costs the hand-over about 80 ms
and the server more CPU: docs/benchmarks.md, "Lines kept busy").
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.call_slots import CallSlotActivities
    from calls.slots import SlotRequest, SlotTicket
    from outbound_calls_client.models import CallTimeouts
    from workflows.call_progress import CallProgress
    from workflows.deadline_timer import DeadlineTimer

from workflows.call_policies import DELIVERY_RETRY, LOCAL_ACTIVITY_TIMEOUT

# The slot comes back by itself after the longest a call may take plus this, should the call
# never release it (say, terminated by an operator).
LEASE_MARGIN_S = 20 * 60.0
# Asking again after a long wait is harmless, and recovers a lost grant.
ASK_AGAIN_AFTER = timedelta(hours=1)


class SlotLease:
    def __init__(self, holder: str, timer: DeadlineTimer, progress: CallProgress) -> None:
        self._holder = holder
        self._timer = timer
        self._progress = progress
        self._canceled = progress.canceled
        # Asked for (granted or not) and not yet given back.
        self.requested = False
        self._granted = False
        self._ask = 0
        self._ticket: SlotTicket | None = None
        self._asked_again = False

    # ----- the pool's signals -------------------------------------------------------------

    def granted(self, ticket: int) -> None:
        # A grant for an earlier ask (a pool reset resends its grants) is not this one's.
        if ticket == self._ask:
            self._granted = True

    def ask_again(self) -> None:
        self._asked_again = True

    @property
    def create_task_queue(self) -> str | None:
        """Where create_call goes (RETELL_MAX_CREATES_PER_SECOND): the shard's answer."""
        return self._ticket.create_task_queue if self._ticket else None

    # ----- acquire and release ------------------------------------------------------------

    async def acquire(self, timeouts: CallTimeouts, group: str | None) -> bool:
        """Wait, first come first served (within ``group``: a campaign's calls wait behind
        single calls), for a slot; False when canceled meanwhile."""
        self._granted = False
        self.requested = True
        lease_s = timeouts.max_duration_s + timeouts.ring_timeout_s + LEASE_MARGIN_S
        self._ask += 1
        request = SlotRequest(
            holder=self._holder, lease_s=lease_s, capacity=1, group=group, ticket=self._ask
        )
        await self._acquire_from_a_shard(request, timeouts.ring_timeout)
        return self._granted and not self._canceled()

    async def _acquire_from_a_shard(self, request: SlotRequest, first_look: timedelta) -> None:
        """Ask by local activity; the deadline timer first looks again after ``first_look``
        (a ring timeout), then hourly (a lost grant, a pool restarted without this call)."""
        look_again = first_look
        while not self._granted and not self._canceled():
            self._asked_again = False
            self._ticket = await workflow.execute_local_activity_method(
                CallSlotActivities.request_call_slot,
                request,
                start_to_close_timeout=LOCAL_ACTIVITY_TIMEOUT,
                retry_policy=DELIVERY_RETRY,
                summary="ask for a call slot",
            )
            # The slot in the answer: no grant signal follows, no wait.
            if self._ticket.granted:
                self._granted = True
            else:
                self._progress.flush()  # waiting_for_slot, seen while the grant is awaited
            await self._timer.wait(
                lambda: self._granted or self._canceled() or self._asked_again,
                workflow.now() + look_again,
                # The same timer then bounds the ring phase (DeadlineTimer): both in its name.
                "wait for a call slot, then wait for call events (ringing)",
            )
            look_again = ASK_AGAIN_AFTER

    async def release(self) -> None:
        """Give the slot back (or leave the queue); nothing when none was asked for."""
        if not self.requested:
            return
        self.requested = False
        self._granted = False
        if self._ticket is not None:
            await workflow.execute_local_activity_method(
                CallSlotActivities.release_call_slot,
                self._ticket,
                start_to_close_timeout=LOCAL_ACTIVITY_TIMEOUT,
                retry_policy=DELIVERY_RETRY,
                summary="give the call slot back",
            )
