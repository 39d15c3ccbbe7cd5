"""One attempt of the call workflow: wait for the callee's calling hours, take a call slot,
create the call at Retell, follow its events until it is final, and record how it ended.

    attempt = CallAttempt(workflow_id, request, progress)
    record = await attempt.run(validated, number, agent_id)  # None: canceled before a create
    attempt.receive(event)          # the call_event signal, once deduplicated
    attempt.slot.granted(ticket)    # the pool's signals go to the slot lease

The workflow owns one for the whole run, as the slot lease does: the call last followed stays
readable after its attempt (the status query, the dialed update, the outcome's transcript)
until ``forget_call`` when a redial is due, and webhooks that arrive before their create has
answered wait here for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.caller_ids import CallerIdActivities
    from activities.contact_limits import ContactLimitActivities
    from activities.retell import RetellActivities
    from calls.lifecycle import CallPhase, CallState, apply, observe
    from calls.outcomes import classify_disconnection
    from outbound_calls_client import search_attributes as sa
    from outbound_calls_client.calling_window import (
        describe,
        describe_rule,
        held_by_rule,
        next_allowed_time,
        next_allowed_time_with,
    )
    from outbound_calls_client.models import (
        AttemptRecord,
        CallerIdPicked,
        CallerIdResultInput,
        CallPhaseName,
        CallRequest,
        CallTimeouts,
        ContactClaimAnswer,
        ContactClaimInput,
        CreateCallInput,
        OutcomeStatus,
        PickCallerIdInput,
        ValidatedCall,
    )
    from outbound_calls_client.retell_wire import CallEvent, RetellCall
    from workflows.deadline_timer import DeadlineTimer

from workflows.best_effort import best_effort, failure_text, failure_type, raise_if_cancelled
from workflows.call_policies import (
    ACTIVITY_TIMEOUT,
    CREATE_ATTEMPT_TIMEOUT,
    CREATE_RETRY,
    CREATE_TOTAL_TIMEOUT,
    FIND_CALL_TIMEOUT,
    LOCAL_ACTIVITY_TIMEOUT,
    POLL_RETRY,
    RETELL_HEARTBEAT_TIMEOUT,
    STOP_RETRY,
    STOP_TOTAL_TIMEOUT,
)
from workflows.call_progress import CallProgress
from workflows.slot_lease import SlotLease
from workflows.waits import wait_until

# Webhooks of other calls (an earlier attempt, or a misrouted event) are kept only this far.
MAX_UNMATCHED_EVENTS = 20
# Retell's answers that end an attempt with a meaning of their own (activities/retell.py
# names the ApplicationError type after the Retell client's error class).
CREATE_REFUSALS: dict[str, OutcomeStatus] = {
    "RetellAccountProblem": OutcomeStatus.ACCOUNT_ERROR,
    "RetellDoNotCall": OutcomeStatus.DO_NOT_CALL,
}
# A pool request picks its number before each slot ask (docs/calls.md, "Caller-ID pools").
CALLER_ID_POOL = "caller-id-pool"
# A pool with no usable number holds its calls this long at most (a day: every daily cap
# has started over by then), looking again at least this often.
CALLER_ID_HOLD = timedelta(hours=24)
CALLER_ID_LOOK_AGAIN = timedelta(minutes=30)
# The calling hours of the callee's region narrow the request's window (docs/calls.md).
REGIONAL_HOURS = "regional-calling-hours"
# Every dial is counted against CONTACT_LIMITS first (docs/calls.md, "Contact frequency").
CONTACT_LIMITS = "contact-limits"
PHASE_NAMES: dict[CallPhase, CallPhaseName] = {
    CallPhase.REGISTERED: "ringing",
    CallPhase.ONGOING: "in_call",
    CallPhase.ENDED: "awaiting_analysis",
    CallPhase.ANALYZED: "awaiting_analysis",
}


def _hours(length: timedelta) -> str:
    return f"{length.total_seconds() / 3600:g} h"


def _ms_to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


class _Deadlines:
    """A followed call's deadlines: hung up as late at ``hard``, polled at ``next_poll`` when
    no webhook moved it on, finished without its analysis at ``analysis``."""

    def __init__(self, timeouts: CallTimeouts) -> None:
        self._timeouts = timeouts
        created = workflow.now()
        self.hard = created + timeouts.max_duration
        self.next_poll = created + timeouts.ring_timeout
        # Counted from when the call is first seen ended, not from its create.
        self.analysis: datetime | None = None

    def next_wake(self, phase: CallPhase) -> datetime:
        if phase >= CallPhase.ENDED:
            if self.analysis is None:
                self.analysis = workflow.now() + self._timeouts.analysis_timeout
            return self.analysis
        return min(self.next_poll, self.hard)

    def poll_later(self) -> None:
        self.next_poll = workflow.now() + self._timeouts.poll_interval


class CallAttempt:
    def __init__(self, workflow_id: str, request: CallRequest, progress: CallProgress) -> None:
        self._workflow_id = workflow_id
        self._request = request
        self._progress = progress
        # One timer for the slot's wait and the call's, so the ring phase reuses it.
        self._timer = DeadlineTimer()
        self.slot = SlotLease(workflow_id, self._timer, progress)
        self.state: CallState | None = None
        self._unmatched: list[CallEvent] = []
        self._dropped_unmatched = 0
        self._idempotency_key: str | None = None
        self._dialed_at: datetime | None = None
        self._call_unknown = False
        # The number this attempt's pool gave it; None for a request's own from_number.
        self._picked: str | None = None

    # ----- what the workflow's handlers see ---------------------------------------------------

    def receive(self, event: CallEvent) -> None:
        """A webhook new to the run: folded into the call it belongs to, or kept aside."""
        if self.state is not None and event.call.call_id == self.state.call_id:
            self._fold(event)
            return
        # Before create_call returns we do not know the call id yet; an event of another
        # (earlier) call stays here for the record, within a bound: a flood of events
        # routed here must not grow the workflow's state.
        self._unmatched.append(event)
        if len(self._unmatched) > MAX_UNMATCHED_EVENTS:
            del self._unmatched[0]
            self._dropped_unmatched += 1

    @property
    def ignored_events(self) -> int:
        return len(self._unmatched) + self._dropped_unmatched

    @property
    def call(self) -> RetellCall | None:
        """What Retell last said of the call followed."""
        return self.state.call if self.state is not None else None

    def forget_call(self) -> None:
        """The attempt is over and a redial is due: the old call is no longer the news."""
        self.state = None

    # ----- the attempt ------------------------------------------------------------------------

    async def run(
        self, validated: ValidatedCall, number: int, agent_id: str | None
    ) -> AttemptRecord | None:
        """Attempt ``number``, from its wait for calling hours to its record; None when
        canceled before it was dialed. A pool request first takes its number (holding while
        the pool has none usable) and tells the pool how the attempt went."""
        pool = self._request.caller_id_pool
        held_since: datetime | None = None
        while True:
            if not await self._wait_for_calling_window(validated):
                return None
            from_number = validated.from_number
            # patched() only for a pool: a from_number request keeps the 1.0 commands.
            if pool is not None and workflow.patched(CALLER_ID_POOL):
                picked = await self._pick_caller_id(validated, pool, number)
                if isinstance(picked, AttemptRecord):
                    return picked
                if picked.number is None:
                    held_since = held_since or workflow.now()
                    held = await self._hold_for_caller_id(pool, number, picked, held_since)
                    if held is True:
                        continue  # the window may have closed meanwhile: look again
                    return held or None
                from_number = picked.number
            assert from_number is not None  # validation: a from_number, or a pool
            dialed = await self._dial_in_a_slot(validated, number, agent_id, from_number)
            if isinstance(dialed, ContactClaimAnswer):
                held_since = held_since or workflow.now()
                held = await self._hold_for_contact_limit(number, dialed, held_since)
                if held is True:
                    continue
                return held or None
            if dialed is not None and dialed.from_number is not None and dialed.call_id:
                await self._report_caller_id_result(dialed)
            return dialed

    async def _wait_for_calling_window(self, validated: ValidatedCall) -> bool:
        """Sleep (durably) until the callee's local time is inside the window and the hours
        of their region allow a call; False if canceled meanwhile."""
        window = self._request.calling_window
        zones = validated.time_zones
        now = workflow.now()
        rule = validated.regional_rule
        # patched() only with a rule: a call validated without one keeps the 1.0 commands.
        if rule is not None and workflow.patched(REGIONAL_HOURS):
            opens = next_allowed_time_with(now, zones, window, rule)
            held_by = (
                f"calling hours of {describe_rule(rule)}"
                if held_by_rule(now, zones, window, rule)
                else None
            )
        else:
            opens, held_by = next_allowed_time(now, zones, window), None
        if opens > now:
            self._progress.set_phase("waiting_for_window")
            self._progress.waiting_until = opens
            self._progress.held_by = held_by
            where = ", ".join(zones)
            why = (
                f"{held_by} (in {where})"
                if held_by
                else f"outside calling hours ({describe(window)} in {where})"
            )
            workflow.set_current_details(f"{why}; next dial at {opens.isoformat()}")
            await wait_until(self._progress.canceled, opens - now, "wait for calling hours")
            self._progress.waiting_until = None
            self._progress.held_by = None
        return not self._progress.canceled()

    async def _dial_in_a_slot(
        self, validated: ValidatedCall, number: int, agent_id: str | None, from_number: str
    ) -> AttemptRecord | ContactClaimAnswer | None:
        """The attempt, holding one of the account's MAX_CONCURRENT_CALLS slots (released as
        soon as Retell stops counting the call); None when canceled while waiting for one, the
        refusal when a contact limit holds the dial (the slot goes back for the wait)."""
        # Deferred: a slot in the ask's answer goes straight on to dialing (SlotLease flushes
        # before it waits for a grant).
        self._progress.set_phase("waiting_for_slot", defer=True)
        if not await self.slot.acquire(self._request.timeouts, group=self._request.report_to):
            # Canceled while waiting: leave the pool's queue, or give back a grant that
            # raced the cancel.
            await self.slot.release()
            return None
        try:
            # In the slot, just before the create: a contact counts from its dial, and two
            # workers racing for a person's last allowed contact are told apart here.
            if workflow.patched(CONTACT_LIMITS):
                claim = await self._claim_contact(validated, number)
                if not isinstance(claim, ContactClaimAnswer) or not claim.allowed:
                    return claim
                record = await self._dial(validated, number, agent_id, from_number)
                if record.call_id is None:
                    await self._forget_contact(record.idempotency_key)
                return record
            return await self._dial(validated, number, agent_id, from_number)
        finally:
            await self.slot.release()

    async def _dial(
        self, validated: ValidatedCall, number: int, agent_id: str | None, from_number: str
    ) -> AttemptRecord:
        self._begin(number)
        # Recorded only when the pool gave it: a request's own from_number is in the request.
        self._picked = from_number if validated.from_number is None else None
        created = await self._create(validated, agent_id, from_number)
        if isinstance(created, AttemptRecord):
            return created
        self._take(created)
        timed_out = await self._follow(created.call_id)
        return self._record(timed_out)

    def _key(self, number: int) -> str:
        return f"{self._workflow_id}:{number}"

    def _begin(self, number: int) -> None:
        self._progress.attempt = number
        self._idempotency_key = self._key(number)
        self._dialed_at = workflow.now()
        self.state = None
        self._call_unknown = False
        self._progress.set_phase("dialing", sa.CALL_ATTEMPT.value_set(number))

    # ----- caller-ID pools (docs/calls.md, "Caller-ID pools") ---------------------------------

    async def _pick_caller_id(
        self, validated: ValidatedCall, pool: str, number: int
    ) -> CallerIdPicked | AttemptRecord:
        """What ``pool`` gives attempt ``number`` (a number, or none and when to look again),
        or the record of an attempt that cannot dial from it at all."""
        try:
            picked = await workflow.execute_local_activity_method(
                CallerIdActivities.pick_caller_id,
                PickCallerIdInput(
                    idempotency_key=self._key(number), pool=pool, to_number=validated.to_number
                ),
                start_to_close_timeout=LOCAL_ACTIVITY_TIMEOUT,
                schedule_to_close_timeout=CREATE_TOTAL_TIMEOUT,
                retry_policy=CREATE_RETRY,
                summary=f"pick a caller id from pool {pool}",
            )
        except ActivityError as err:
            raise_if_cancelled(err)
            return self._undialed(
                number, OutcomeStatus.FAILED, f"caller-id pick failed: {failure_text(err)}"
            )
        if picked.number is None and picked.pool_size == 0:
            return self._undialed(
                number,
                OutcomeStatus.REJECTED,
                f"caller_id_pool {pool!r} has no numbers (outbound-calls numbers add NUMBER "
                f"--pool {pool}): nothing dialed",
            )
        return picked

    async def _hold_for_caller_id(
        self, pool: str, number: int, picked: CallerIdPicked, held_since: datetime
    ) -> bool | AttemptRecord:
        """Wait while every number of ``pool`` is rested or at its daily cap: True to look
        again, False when canceled, the attempt's record once held for long enough
        (``timeouts.max_hold_s``, else CALLER_ID_HOLD)."""
        now = workflow.now()
        longest = self._request.timeouts.max_hold or CALLER_ID_HOLD
        give_up = held_since + longest
        if now >= give_up:
            return self._undialed(
                number,
                OutcomeStatus.REJECTED,
                f"caller_id_pool {pool!r} had no usable number for {_hours(longest)} (each "
                "rested or at its daily cap): nothing dialed",
            )
        # A number may also come back sooner than known (restored, added): look every while.
        # A time already past (the worker's clock behind the workflow's) says nothing more.
        back = picked.next_usable_at
        soon = back if back is not None and back > now else give_up
        wake = min(soon, now + CALLER_ID_LOOK_AGAIN, give_up)
        return await self._hold(
            "waiting_for_caller_id",
            f"caller_id_pool {pool!r} has no usable number ({picked.pool_size} rested or at "
            "their daily cap)",
            wake,
            "wait for a number",
        )

    async def _hold_for_contact_limit(
        self, number: int, claim: ContactClaimAnswer, held_since: datetime
    ) -> bool | AttemptRecord:
        """Wait until CONTACT_LIMITS allow the dial: True to go on, False when canceled, the
        attempt's record when that is past ``timeouts.max_hold_s``."""
        assert claim.next_allowed_at is not None
        longest = self._request.timeouts.max_hold
        if longest is not None and claim.next_allowed_at > held_since + longest:
            return self._undialed(
                number,
                OutcomeStatus.REJECTED,
                f"contact limit {claim.rule} (CONTACT_LIMITS): this number may next be called "
                f"at {claim.next_allowed_at.isoformat()}, past timeouts.max_hold_s: nothing "
                "dialed",
            )
        return await self._hold(
            "waiting_for_contact_limit",
            f"contact limit {claim.rule} (CONTACT_LIMITS) reached for this number",
            claim.next_allowed_at,
            "wait for the contact limit",
        )

    async def _hold(self, phase: CallPhaseName, why: str, wake: datetime, summary: str) -> bool:
        """A hold before the dial, visible in the status (phase, held_by, waiting_until) and
        the UI's details; False when canceled meanwhile."""
        now = workflow.now()
        self._progress.set_phase(phase)
        self._progress.waiting_until = wake
        self._progress.held_by = why
        workflow.set_current_details(f"{why}; next look at {wake.isoformat()}")
        workflow.logger.info("dial held", extra={"held_by": why})
        if wake > now:
            await wait_until(self._progress.canceled, wake - now, summary)
        self._progress.waiting_until = None
        self._progress.held_by = None
        return not self._progress.canceled()

    async def _claim_contact(
        self, validated: ValidatedCall, number: int
    ) -> ContactClaimAnswer | AttemptRecord:
        try:
            return await workflow.execute_local_activity_method(
                ContactLimitActivities.claim_contact,
                ContactClaimInput(
                    idempotency_key=self._key(number),
                    to_number=validated.to_number,
                    at=workflow.now(),
                ),
                start_to_close_timeout=LOCAL_ACTIVITY_TIMEOUT,
                schedule_to_close_timeout=CREATE_TOTAL_TIMEOUT,
                retry_policy=CREATE_RETRY,
                summary="check contact limits",
            )
        except ActivityError as err:
            raise_if_cancelled(err)
            return self._undialed(
                number,
                OutcomeStatus.FAILED,
                f"contact limits could not be checked: {failure_text(err)}",
            )

    async def _forget_contact(self, idempotency_key: str) -> None:
        await best_effort(
            workflow.execute_local_activity_method(
                ContactLimitActivities.forget_contact,
                idempotency_key,
                start_to_close_timeout=LOCAL_ACTIVITY_TIMEOUT,
                retry_policy=POLL_RETRY,
                summary="no call placed: not a contact",
            ),
            "contact not forgotten",
        )

    async def _report_caller_id_result(self, record: AttemptRecord) -> None:
        """Count the attempt for its number's health: a number marked as spam, failing to
        dial, or answered far less than its pool is rested (calls/caller_id_health.py)."""
        assert record.from_number is not None
        await best_effort(
            workflow.execute_local_activity_method(
                CallerIdActivities.report_caller_id_result,
                CallerIdResultInput(
                    idempotency_key=record.idempotency_key,
                    number=record.from_number,
                    status=record.status,
                    disconnection_reason=record.disconnection_reason,
                ),
                start_to_close_timeout=LOCAL_ACTIVITY_TIMEOUT,
                retry_policy=POLL_RETRY,
                summary=f"count the result for {record.from_number}",
            ),
            "caller-id result not counted",
            attempt=record.attempt,
        )

    def _undialed(self, number: int, status: OutcomeStatus, detail: str) -> AttemptRecord:
        return AttemptRecord(
            attempt=number,
            idempotency_key=self._key(number),
            dialed_at=workflow.now(),
            status=status,
            detail=detail,
        )

    async def _create(
        self, validated: ValidatedCall, agent_id: str | None, from_number: str
    ) -> RetellCall | AttemptRecord:
        """The call Retell took for this attempt, or the record of an attempt that placed
        none."""
        assert self._idempotency_key is not None
        number = self._progress.attempt
        request = self._request
        try:
            return await workflow.execute_activity_method(
                RetellActivities.create_call,
                CreateCallInput(
                    workflow_id=self._workflow_id,
                    attempt=number,
                    idempotency_key=self._idempotency_key,
                    to_number=validated.to_number,
                    from_number=from_number,
                    agent_id=agent_id,
                    agent_version=request.agent_version,
                    metadata=request.metadata,
                    dynamic_variables=request.dynamic_variables,
                    privacy=request.privacy,
                ),
                start_to_close_timeout=CREATE_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=CREATE_TOTAL_TIMEOUT,
                heartbeat_timeout=RETELL_HEARTBEAT_TIMEOUT,
                retry_policy=CREATE_RETRY,
                summary=f"create call, attempt {number}",
                # RETELL_MAX_CREATES_PER_SECOND: creates go through a rate-limited queue.
                task_queue=self.slot.create_task_queue,
            )
        except ActivityError as err:
            raise_if_cancelled(err)
            refused = CREATE_REFUSALS.get(failure_type(err) or "")
            # A create that failed for good may still have placed the call (answers lost on
            # the way back): look it up by its idempotency key before saying it failed.
            found = None if refused else await self._find_call(self._idempotency_key)
            if found is not None:
                return found
            return AttemptRecord(
                attempt=number,
                idempotency_key=self._idempotency_key,
                dialed_at=self._dialed_at,
                status=refused or OutcomeStatus.FAILED,
                detail=f"create call failed: {failure_text(err)}",
                from_number=self._picked,
            )

    def _take(self, call: RetellCall) -> None:
        """Follow ``call`` from what its create said, with the webhooks that came first."""
        self.state = observe(CallState(call_id=call.call_id), call)
        matching = [e for e in self._unmatched if e.call.call_id == call.call_id]
        self._unmatched = [e for e in self._unmatched if e.call.call_id != call.call_id]
        for event in matching:
            self._fold(event)
        self._sync_phase(sa.RETELL_CALL_ID.value_set(call.call_id))
        workflow.logger.info(
            "call created", extra={"call_id": call.call_id, "attempt": self._progress.attempt}
        )

    # ----- following the call -----------------------------------------------------------------

    async def _follow(self, call_id: str) -> bool:
        """Feed events until the call is analysed; True when it had to be hung up as late."""
        deadlines = _Deadlines(self._request.timeouts)
        while self._phase_now() < CallPhase.ANALYZED:
            if self._phase_now() >= CallPhase.ENDED and self.slot.requested:
                # Retell no longer counts an ended call: hand its slot on before the analysis.
                await self.slot.release()
                continue  # events may have come in while the release was sent
            if self._progress.canceled():
                if self._phase_now() < CallPhase.ENDED:
                    await self._stop_call(call_id, "cancel requested")
                return False
            phase_before = self._phase_now()
            if await self._wait_on_timer(phase_before, deadlines.next_wake(phase_before)):
                if phase_before < CallPhase.ONGOING <= self._phase_now():
                    # Webhooks are flowing; the next poll is a safety net, not a schedule.
                    deadlines.poll_later()
                continue
            timed_out = await self._overdue(call_id, deadlines)
            if timed_out is not None:
                return timed_out
        return False

    async def _wait_on_timer(self, phase_before: CallPhase, deadline: datetime) -> bool:
        """Until the call moves past ``phase_before`` or is canceled (True), or ``deadline``
        passes (False), on the call's one deadline timer; the phase is synced (and upserted)
        once per wake, so events landing together make one upsert."""
        self._progress.waiting_until = deadline
        try:
            changed = await self._timer.wait(
                lambda: self._phase_now() > phase_before or self._progress.canceled(),
                deadline,
                f"wait for call events ({phase_before.name.lower()})",
            )
        finally:
            self._progress.waiting_until = None
        if self._phase_now() < CallPhase.ANALYZED:
            # Analysed: the outcome's own upsert follows at once and says more.
            self._sync_phase()
        return changed

    async def _overdue(self, call_id: str, deadlines: _Deadlines) -> bool | None:
        """No webhook moved the call on by its deadline: ask Retell, and end the attempt when
        a deadline says so (True: hung up as late); None to follow on."""
        polled = await self._poll(call_id)
        if self._call_unknown:
            return False
        if polled is not None and self.state is not None:
            self.state = observe(self.state, polled)
            self._sync_phase()
        now = workflow.now()
        if (
            self._phase_now() >= CallPhase.ENDED
            and deadlines.analysis
            and now >= deadlines.analysis
        ):
            workflow.logger.info("analysis never came; finishing without it")
            return False
        if self._phase_now() < CallPhase.ENDED and now >= deadlines.hard:
            await self._stop_call(call_id, "max duration passed")
            return True
        deadlines.poll_later()
        return None

    async def _poll(self, call_id: str) -> RetellCall | None:
        """Ask Retell; a failed poll is no news, not a failed call (the next deadline retries)."""

        def unknown(err: FailureError) -> None:
            # Retell says it has no such call (deleted, or another account's): nothing
            # more will come of it, so the attempt ends here instead of at max_duration_s.
            self._call_unknown = failure_type(err) == "RetellCallNotFound"

        return await best_effort(
            workflow.execute_activity_method(
                RetellActivities.get_call,
                call_id,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=POLL_RETRY,
                summary="poll get-call (webhook overdue)",
            ),
            "poll failed",
            on_failure=unknown,
            call_id=call_id,
        )

    async def _find_call(self, idempotency_key: str) -> RetellCall | None:
        """The attempt's call at Retell, if its create went through after all."""
        return await best_effort(
            workflow.execute_activity_method(
                RetellActivities.find_call,
                idempotency_key,
                start_to_close_timeout=FIND_CALL_TIMEOUT,
                schedule_to_close_timeout=CREATE_TOTAL_TIMEOUT,
                heartbeat_timeout=RETELL_HEARTBEAT_TIMEOUT,
                retry_policy=POLL_RETRY,
                summary="look the call up by its idempotency key",
            ),
            "call lookup failed; the attempt counts as failed",
            attempt=self._progress.attempt,
        )

    async def _stop_call(self, call_id: str, why: str) -> None:
        await best_effort(
            workflow.execute_activity_method(
                RetellActivities.stop_call,
                call_id,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                schedule_to_close_timeout=STOP_TOTAL_TIMEOUT,
                retry_policy=STOP_RETRY,
                summary=f"hang up: {why}",
            ),
            "hang-up failed",
            call_id=call_id,
        )

    # ----- the call's state -------------------------------------------------------------------

    def _fold(self, event: CallEvent) -> None:
        assert self.state is not None
        before = self.state.phase
        self.state = apply(self.state, event)
        if self.state.phase != before:
            workflow.logger.info(
                "call transition",
                extra={
                    "call_id": event.call.call_id,
                    "attempt": self._progress.attempt,
                    "from_phase": before.name,
                    "to_phase": self.state.phase.name,
                },
            )

    def _phase_now(self) -> CallPhase:
        return self.state.phase if self.state is not None else CallPhase.REGISTERED

    def _sync_phase(self, *also: SearchAttributeUpdate[Any]) -> None:
        self._progress.set_phase(PHASE_NAMES[self._phase_now()], *also)

    def _record(self, timed_out: bool) -> AttemptRecord:
        """How the attempt ended, from its call's last state."""
        assert self.state is not None
        assert self._idempotency_key is not None
        call = self.state.call
        detail: str | None = None
        if timed_out:
            status, detail = OutcomeStatus.TIMED_OUT, "still open after max_duration_s; hung up"
        elif self._progress.cancel_reason is not None and not self.state.is_ended:
            status, detail = OutcomeStatus.CANCELED, self._progress.cancel_reason
        elif self._call_unknown:
            status, detail = OutcomeStatus.FAILED, "Retell no longer knows this call (get-call)"
        else:
            reason = call.disconnection_reason if call else None
            rule = classify_disconnection(reason)
            status = rule.status
            if reason is None:
                detail = f"call {self.state.phase.name.lower()} without a disconnection reason"
        return AttemptRecord(
            attempt=self._progress.attempt,
            idempotency_key=self._idempotency_key,
            dialed_at=self._dialed_at,
            call_id=self.state.call_id,
            status=status,
            disconnection_reason=call.disconnection_reason if call else None,
            started_at=_ms_to_datetime(call.start_timestamp if call else None),
            ended_at=_ms_to_datetime(call.end_timestamp if call else None),
            duration_ms=call.duration_ms if call else None,
            detail=detail,
            from_number=self._picked,
        )
