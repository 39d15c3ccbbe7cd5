"""OutboundCallWorkflow: call one person through Retell, durably, and say what happened.

The run reads as the flow (README, "How it flows"):

    validate → provision the agent (if configured) → per attempt: do-not-call check → wait
    for the calling window → take a call slot → create the call → follow its events until a
    deadline, polling Retell when one passes → classify → follow up (do-not-call list,
    redial per policy) → report to the waiter, deliver the outcome → CallOutcome.

The slot lease (workflows/slot_lease.py), the durable waits (workflows/waits.py) and the
best-effort steps (workflows/best_effort.py) live apart, so each step here is a few lines.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    is_cancelled_exception,
)
from temporalio.types import MethodAsyncSingleParam

with workflow.unsafe.imports_passed_through():
    from activities.agents import AgentActivities
    from activities.do_not_call import DoNotCallActivities
    from activities.outcome_delivery import OutcomeDeliveryActivities
    from activities.retell import RetellActivities
    from activities.validation import RequestValidationActivities
    from calls.lifecycle import CallPhase, CallState, apply, observe
    from calls.outcomes import FollowUp, classify_disconnection
    from calls.redial import next_redial_delay
    from calls.slots import CONCURRENCY_REASONS
    from outbound_calls_client import search_attributes as sa
    from outbound_calls_client.calling_window import describe, next_allowed_time
    from outbound_calls_client.models import (
        AgentConfig,
        AttemptRecord,
        CallOutcome,
        CallPhaseName,
        CallReport,
        CallRequest,
        CallSnapshot,
        CreateCallInput,
        DialReport,
        DoNotCallEntry,
        OutcomeDelivery,
        OutcomeStatus,
        ValidatedCall,
    )
    from outbound_calls_client.names import (
        CALL_EVENT_SIGNAL,
        CALL_FINISHED_SIGNAL,
        CALL_WORKFLOW,
        SLOT_ASK_AGAIN_SIGNAL,
        SLOT_GRANTED_SIGNAL,
        STATUS_QUERY,
    )
    from outbound_calls_client.phone import mask_number
    from outbound_calls_client.retell_wire import CallEvent, RetellCall
    from workflows.deadline_timer import DeadlineTimer

from workflows.best_effort import best_effort, failure_text, failure_type, raise_if_cancelled
from workflows.call_policies import (
    ACTIVITY_TIMEOUT,
    CREATE_ATTEMPT_TIMEOUT,
    CREATE_RETRY,
    CREATE_TOTAL_TIMEOUT,
    DELIVERY_RETRY,
    FIND_CALL_TIMEOUT,
    LOCAL_ACTIVITY_TIMEOUT,
    POLL_RETRY,
    RETELL_HEARTBEAT_TIMEOUT,
    STOP_RETRY,
    STOP_TOTAL_TIMEOUT,
    VALIDATE_RETRY,
)
from workflows.cancel_shield import run_shielded
from workflows.slot_lease import SlotLease
from workflows.waits import wait_until

TEMPORAL_CANCEL_REASON = "canceled through Temporal"
# Webhooks of other calls (an earlier attempt, or a misrouted event) are kept only this far.
MAX_UNMATCHED_EVENTS = 20
MAX_SEEN_EVENTS = 200
# Retell's answers that end an attempt with a meaning of their own (activities/retell.py
# names the ApplicationError type after the Retell client's error class).
CREATE_REFUSALS: dict[str, OutcomeStatus] = {
    "RetellAccountProblem": OutcomeStatus.ACCOUNT_ERROR,
    "RetellDoNotCall": OutcomeStatus.DO_NOT_CALL,
}
MAX_BUSY_ACCOUNT_RETRIES = 10
BUSY_ACCOUNT_RETRY_DELAY = timedelta(seconds=30)


# What a finished call's flow ends with: its status and why.
Verdict = tuple[OutcomeStatus, str | None]
ParamT = TypeVar("ParamT")
ResultT = TypeVar("ResultT")


def _ms_to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


@workflow.defn(name=CALL_WORKFLOW)
class OutboundCallWorkflow:
    @workflow.init
    def __init__(self, request: CallRequest) -> None:
        # Handlers may run before run(): all state they touch is set here.
        self._request = request
        self._workflow_id = workflow.info().workflow_id
        self._phase: CallPhaseName = "validating"
        self._attempt = 0
        self._idempotency_key: str | None = None
        self._dialed_at: datetime | None = None
        self._agent_id: str | None = request.agent_id
        self._timer = DeadlineTimer()
        self._slot = SlotLease(self._workflow_id, self._timer, self._canceled)
        self._state: CallState | None = None
        self._seen: set[tuple[str, str]] = set()
        self._unmatched: list[CallEvent] = []
        self._dropped_unmatched = 0
        self._delivery: asyncio.Task[None] | None = None
        self._call_unknown = False
        self._duplicates = 0
        self._waiting_until: datetime | None = None
        self._cancel_reason: str | None = None
        self._attempts: list[AttemptRecord] = []
        self._outcome: CallOutcome | None = None
        self._to_masked = mask_number(request.to_number)

    # ----- handlers -------------------------------------------------------------------------

    @workflow.signal(name=CALL_EVENT_SIGNAL)
    def call_event(self, event: CallEvent) -> None:
        """A Retell webhook, forwarded by the bridge. Duplicates and reordering are expected."""
        if event.dedupe_key in self._seen:
            self._duplicates += 1
            return
        if len(self._seen) < MAX_SEEN_EVENTS:
            self._seen.add(event.dedupe_key)
        if self._state is not None and event.call.call_id == self._state.call_id:
            self._fold(event)
        else:
            # Before create_call returns we do not know the call id yet; an event of another
            # (earlier) call stays here for the record, within a bound: a flood of events
            # routed here must not grow the workflow's state.
            self._unmatched.append(event)
            if len(self._unmatched) > MAX_UNMATCHED_EVENTS:
                del self._unmatched[0]
                self._dropped_unmatched += 1
        workflow.logger.info(
            "call event received",
            extra={"call_id": event.call.call_id, "event": event.event, "attempt": self._attempt},
        )

    @workflow.signal(name=SLOT_GRANTED_SIGNAL)
    def slot_granted(self, ticket: int) -> None:
        self._slot.granted(ticket)

    @workflow.signal(name=SLOT_ASK_AGAIN_SIGNAL)
    def slot_ask_again(self) -> None:
        self._slot.ask_again()

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> CallSnapshot:
        state = self._state
        return CallSnapshot(
            workflow_id=self._workflow_id,
            phase=self._phase,
            attempt=self._attempt,
            call_id=state.call_id if state else None,
            retell_status=state.call.call_status if state and state.call else None,
            to_number_masked=self._to_masked,
            events_seen=tuple(sorted(f"{c}:{e}" for c, e in self._seen)),
            ignored_events=len(self._unmatched) + self._dropped_unmatched,
            duplicate_events=self._duplicates,
            waiting_until=self._waiting_until,
            cancel_requested=self._cancel_reason is not None,
            outcome=self._outcome,
        )

    # Named after the method, as in outbound_calls_client.names (tests/unit/test_names.py):
    # with ``name=`` the SDK's typing would give callers a coroutine, not the answer, for an
    # async update.
    @workflow.update
    async def dialed(self) -> DialReport:
        """Answers as soon as Retell has taken a call for this request (its call id), the
        request waits for its callee's calling hours, or it ended without a call (why).

        Meant for update-with-start (``start_call(..., wait_for="dialed")``): one round trip
        from "call this person" to "Retell is dialing, call id X" or "refused, because Y".
        """
        await workflow.wait_condition(lambda: self._dial_report() is not None)
        report = self._dial_report()
        assert report is not None
        return report

    def _dial_report(self) -> DialReport | None:
        if self._state is not None:
            return DialReport(
                workflow_id=self._workflow_id,
                status="dialed",
                call_id=self._state.call_id,
                attempt=self._attempt,
            )
        if self._outcome is not None or any(a.call_id for a in self._attempts):
            return DialReport.of_outcome(self._outcome or self._partial_outcome())
        if self._phase == "waiting_for_window":
            return DialReport(
                workflow_id=self._workflow_id, status="scheduled", waiting_until=self._waiting_until
            )
        return None

    def _partial_outcome(self) -> CallOutcome:
        """The attempts so far, as an outcome would list them (for the dialed update)."""
        return CallOutcome(
            workflow_id=self._workflow_id,
            status=OutcomeStatus.FAILED,
            attempts=tuple(self._attempts),
        )

    @workflow.update  # CANCEL_UPDATE, as DIALED_UPDATE above
    async def cancel(self, reason: str) -> CallOutcome:
        """Stop redials, hang up an open call, end as canceled; answers the final outcome."""
        self._cancel_reason = reason or "canceled"
        await workflow.wait_condition(lambda: self._outcome is not None)
        assert self._outcome is not None
        return self._outcome

    @cancel.validator
    def _validate_cancel(self, reason: str) -> None:
        if self._outcome is not None:
            raise ApplicationError(
                f"call already finished as {self._outcome.status.value}; nothing to cancel",
                type="CallAlreadyFinished",
            )

    # ----- main line ------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: CallRequest) -> CallOutcome:
        given = workflow.info().typed_search_attributes.get(sa.TO_NUMBER_MASKED)
        if given != self._to_masked:
            # start_call gives these at start; other starters may not.
            workflow.upsert_search_attributes(
                [
                    sa.CALL_STATUS.value_set(self._phase),
                    sa.TO_NUMBER_MASKED.value_set(self._to_masked),
                    sa.CALL_ATTEMPT.value_set(0),
                ]
            )
        # A Temporal cancel (the UI's button, a parent closing, a campaign's cancel) becomes
        # the same request as the ``cancel`` update: every wait ends, an open call is hung up
        # (a create in flight lands first), the slot goes back after the hang-up, the outcome
        # ``canceled`` is delivered, and the run completes with it (workflows/cancel_shield.py).
        return await run_shielded(self._call_and_report(request), self._on_temporal_cancel)

    def _on_temporal_cancel(self) -> None:
        workflow.logger.info(
            "cancel requested through Temporal",
            extra={"attempt": self._attempt, "phase": self._phase},
        )
        if self._outcome is None:
            if self._cancel_reason is None:
                self._cancel_reason = TEMPORAL_CANCEL_REASON
        elif self._delivery is not None:
            # The call is over and its outcome final: stop retrying the delivery.
            self._delivery.cancel()

    async def _call_and_report(self, request: CallRequest) -> CallOutcome:
        status, detail = await self._call_until_final(request)
        outcome = self._finish(status, detail=detail)
        if request.report_to is not None:
            await self._report(request.report_to, outcome)
        if request.outcome_url is not None:
            self._delivery = asyncio.create_task(
                self._deliver_outcome(str(request.outcome_url), outcome)
            )
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        # Let a pending cancel update answer before the run closes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    async def _call_until_final(self, request: CallRequest) -> Verdict:
        """Validate, then dial (and redial per policy) until an outcome is final."""
        validated = await self._validate(request)
        if not isinstance(validated, ValidatedCall):
            return validated
        if self._canceled():
            return OutcomeStatus.CANCELED, self._cancel_reason
        if request.agent is not None:
            failed = await self._provision_agent(request.agent)
            if failed is not None:
                return failed

        attempt = 0
        busy_account_retries = 0
        while True:
            attempt += 1
            # Checked before every dial: an earlier attempt, or another workflow, may have
            # put the number on the list since.
            if await self._on_do_not_call_list(validated.to_number):
                return OutcomeStatus.DO_NOT_CALL, "to_number is on the do-not-call list"
            if not await self._wait_for_calling_window(validated):
                break  # canceled while waiting
            record = await self._dial_in_a_slot(validated, attempt)
            if record is None:
                break  # canceled while waiting for a slot
            self._attempts.append(record)
            if (
                record.disconnection_reason in CONCURRENCY_REASONS
                and busy_account_retries < MAX_BUSY_ACCOUNT_RETRIES
                and not self._canceled()
            ):
                # Retell's own cap was hit after all: not the callee's doing, so it does not
                # use up a redial; try again a little later.
                busy_account_retries += 1
                await self._wait_for_redial(BUSY_ACCOUNT_RETRY_DELAY * busy_account_retries)
                continue
            if self._never_again(record):
                await self._add_to_do_not_call(validated.to_number, record)
            counted = [
                a for a in self._attempts if a.disconnection_reason not in CONCURRENCY_REASONS
            ]
            delay = next_redial_delay(request.redial, counted)
            if delay is None or self._canceled():
                break
            await self._wait_for_redial(delay)

        last = self._attempts[-1] if self._attempts else None
        if self._canceled() and (last is None or last.status != OutcomeStatus.COMPLETED):
            return OutcomeStatus.CANCELED, self._cancel_reason
        assert last is not None
        return last.status, last.detail

    def _canceled(self) -> bool:
        return self._cancel_reason is not None

    # ----- before the first dial ------------------------------------------------------------

    async def _validate(self, request: CallRequest) -> ValidatedCall | Verdict:
        try:
            return await self._check(
                RequestValidationActivities.validate_call_request,
                request,
                retry_policy=VALIDATE_RETRY,
                summary="validate request",
            )
        except ActivityError as err:
            raise_if_cancelled(err)
            return OutcomeStatus.REJECTED, failure_text(err)
        except ApplicationError as err:
            # A local activity's refusal reaches the workflow as the activity's own error.
            return OutcomeStatus.REJECTED, err.message

    async def _provision_agent(self, agent: AgentConfig) -> Verdict | None:
        try:
            self._agent_id = await workflow.execute_activity_method(
                AgentActivities.ensure_agent,
                agent,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=POLL_RETRY,
                summary="provision the agent (once per configuration)",
            )
        except ActivityError as err:
            raise_if_cancelled(err)
            return OutcomeStatus.FAILED, f"agent: {failure_text(err)}"
        return None

    # ----- each attempt ---------------------------------------------------------------------

    async def _on_do_not_call_list(self, number: str) -> bool:
        return await self._check(
            DoNotCallActivities.check_do_not_call,
            number,
            retry_policy=POLL_RETRY,
            summary="check do-not-call list",
        )

    async def _wait_for_calling_window(self, validated: ValidatedCall) -> bool:
        """Sleep (durably) until the callee's local time is inside the window; False if
        canceled meanwhile."""
        window = self._request.calling_window
        now = workflow.now()
        opens = next_allowed_time(now, validated.time_zones, window)
        if opens > now:
            self._set_phase("waiting_for_window")
            self._waiting_until = opens
            workflow.set_current_details(
                f"outside calling hours ({describe(window)} in "
                f"{', '.join(validated.time_zones)}); next dial at {opens.isoformat()}"
            )
            await wait_until(self._canceled, opens - now, "wait for calling hours")
            self._waiting_until = None
        return not self._canceled()

    async def _dial_in_a_slot(self, validated: ValidatedCall, attempt: int) -> AttemptRecord | None:
        """The attempt, holding one of the account's MAX_CONCURRENT_CALLS slots (released as
        soon as Retell stops counting the call); None when canceled while waiting for one."""
        self._set_phase("waiting_for_slot")
        if not await self._slot.acquire(self._request.timeouts, group=self._request.report_to):
            # Canceled while waiting: leave the pool's queue, or give back a grant that
            # raced the cancel.
            await self._slot.release()
            return None
        try:
            return await self._dial(validated, attempt)
        finally:
            await self._slot.release()

    async def _dial(self, validated: ValidatedCall, attempt: int) -> AttemptRecord:
        self._attempt = attempt
        self._idempotency_key = f"{self._workflow_id}:{attempt}"
        self._dialed_at = workflow.now()
        self._state = None
        self._call_unknown = False
        self._set_phase("dialing", sa.CALL_ATTEMPT.value_set(attempt))
        request = self._request
        try:
            call = await workflow.execute_activity_method(
                RetellActivities.create_call,
                CreateCallInput(
                    workflow_id=self._workflow_id,
                    attempt=attempt,
                    idempotency_key=self._idempotency_key,
                    to_number=validated.to_number,
                    from_number=validated.from_number,
                    agent_id=self._agent_id,
                    agent_version=request.agent_version,
                    metadata=request.metadata,
                    dynamic_variables=request.dynamic_variables,
                    privacy=request.privacy,
                ),
                start_to_close_timeout=CREATE_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=CREATE_TOTAL_TIMEOUT,
                heartbeat_timeout=RETELL_HEARTBEAT_TIMEOUT,
                retry_policy=CREATE_RETRY,
                summary=f"create call, attempt {attempt}",
                # RETELL_MAX_CREATES_PER_SECOND: creates go through a rate-limited queue.
                task_queue=self._slot.create_task_queue,
            )
        except ActivityError as err:
            raise_if_cancelled(err)
            refused = CREATE_REFUSALS.get(failure_type(err) or "")
            # A create that failed for good may still have placed the call (answers lost on
            # the way back): look it up by its idempotency key before saying it failed.
            found = None if refused else await self._find_call(self._idempotency_key)
            if found is None:
                return AttemptRecord(
                    attempt=attempt,
                    idempotency_key=self._idempotency_key,
                    dialed_at=self._dialed_at,
                    status=refused or OutcomeStatus.FAILED,
                    detail=f"create call failed: {failure_text(err)}",
                )
            call = found

        self._state = observe(CallState(call_id=call.call_id), call)
        matching = [e for e in self._unmatched if e.call.call_id == call.call_id]
        self._unmatched = [e for e in self._unmatched if e.call.call_id != call.call_id]
        for event in matching:
            self._fold(event)
        self._sync_phase(sa.RETELL_CALL_ID.value_set(call.call_id))
        workflow.logger.info("call created", extra={"call_id": call.call_id, "attempt": attempt})
        timed_out = await self._follow_call(call.call_id)
        return self._attempt_record(attempt, timed_out)

    async def _follow_call(self, call_id: str) -> bool:
        """Feed events until the call is analysed; True when it had to be hung up as late."""
        timeouts = self._request.timeouts
        created = workflow.now()
        hard_deadline = created + timeouts.max_duration
        next_poll = created + timeouts.ring_timeout
        analysis_deadline: datetime | None = None
        while self._phase_now() < CallPhase.ANALYZED:
            if self._phase_now() >= CallPhase.ENDED and self._slot.requested:
                # Retell no longer counts an ended call: hand its slot on before the analysis.
                await self._slot.release()
                continue  # events may have come in while the release was sent
            if self._canceled():
                if self._phase_now() < CallPhase.ENDED:
                    await self._stop_call(call_id, "cancel requested")
                return False
            phase_before = self._phase_now()
            if phase_before >= CallPhase.ENDED:
                if analysis_deadline is None:
                    analysis_deadline = workflow.now() + timeouts.analysis_timeout
                deadline = analysis_deadline
            else:
                deadline = min(next_poll, hard_deadline)
            changed = await self._wait_on_timer(phase_before, deadline)
            if changed:
                if phase_before < CallPhase.ONGOING <= self._phase_now():
                    # Webhooks are flowing; the next poll is a safety net, not a schedule.
                    next_poll = workflow.now() + timeouts.poll_interval
                continue
            polled = await self._poll(call_id)
            if self._call_unknown:
                return False
            if polled is not None and self._state is not None:
                self._state = observe(self._state, polled)
                self._sync_phase()
            now = workflow.now()
            if (
                self._phase_now() >= CallPhase.ENDED
                and analysis_deadline
                and now >= analysis_deadline
            ):
                workflow.logger.info("analysis never came; finishing without it")
                return False
            if self._phase_now() < CallPhase.ENDED and now >= hard_deadline:
                await self._stop_call(call_id, "max duration passed")
                return True
            next_poll = now + timeouts.poll_interval
        return False

    async def _wait_on_timer(self, phase_before: CallPhase, deadline: datetime) -> bool:
        """Until the call moves past ``phase_before`` or is canceled (True), or ``deadline``
        passes (False), on the call's one deadline timer; the phase is synced (and upserted)
        once per wake, so events landing together make one upsert."""
        self._waiting_until = deadline
        try:
            changed = await self._timer.wait(
                lambda: self._phase_now() > phase_before or self._canceled(),
                deadline,
                f"wait for call events ({phase_before.name.lower()})",
            )
        finally:
            self._waiting_until = None
        if self._phase_now() < CallPhase.ANALYZED:
            # Analysed: the outcome's own upsert follows at once and says more.
            self._sync_phase()
        return changed

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
            attempt=self._attempt,
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

    # ----- follow-ups -----------------------------------------------------------------------

    def _never_again(self, record: AttemptRecord) -> bool:
        """Retell refused the number as do-not-call, or the call ended so (dnc requested)."""
        if record.call_id is None:
            return record.status == OutcomeStatus.DO_NOT_CALL
        return classify_disconnection(record.disconnection_reason).follow_up == FollowUp.NEVER_AGAIN

    async def _add_to_do_not_call(self, number: str, record: AttemptRecord) -> None:
        await workflow.execute_activity_method(
            DoNotCallActivities.add_to_do_not_call,
            DoNotCallEntry(
                number=number,
                reason=record.disconnection_reason or record.status.value,
                workflow_id=self._workflow_id,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=DELIVERY_RETRY,
            summary=f"add to do-not-call list ({record.disconnection_reason})",
        )

    async def _wait_for_redial(self, delay: timedelta) -> None:
        self._state = None
        self._set_phase("waiting_to_redial")
        self._waiting_until = workflow.now() + delay
        workflow.set_current_details(
            f"attempt {self._attempt} ended as {self._attempts[-1].status.value}; "
            f"redial at {self._waiting_until.isoformat()}"
        )
        await wait_until(self._canceled, delay, "wait to redial")
        self._waiting_until = None

    async def _report(self, waiter: str, outcome: CallOutcome) -> None:
        """Tell the waiting workflow (a campaign) that this call is over, once."""
        # A waiter that has closed: nobody is left to tell, and the outcome stands.
        await best_effort(
            workflow.get_external_workflow_handle(waiter).signal(
                CALL_FINISHED_SIGNAL, CallReport.of(outcome)
            ),
            "report to waiter failed",
            waiter=waiter,
        )

    async def _deliver_outcome(self, url: str, outcome: CallOutcome) -> None:
        try:
            await workflow.execute_activity_method(
                OutcomeDeliveryActivities.deliver_outcome,
                OutcomeDelivery(url=url, outcome=outcome),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                schedule_to_close_timeout=timedelta(days=1),
                retry_policy=DELIVERY_RETRY,
                summary="deliver outcome",
            )
        except ActivityError as err:
            # The call's outcome stands; the receiver's failure is recorded, not fatal. A
            # Temporal cancel while delivering stops the retries: the call is over already
            # (the one catch that does not re-raise a cancel: _on_temporal_cancel sent it).
            canceled = is_cancelled_exception(err)
            what = "canceled" if canceled else failure_text(err)
            workflow.logger.warning("outcome not delivered", extra={"error": what})
            workflow.set_current_details(
                f"finished: {outcome.status.value}; outcome delivery "
                + ("stopped by a cancel" if canceled else "failed")
            )

    # ----- a quick check --------------------------------------------------------------------

    async def _check(
        self,
        activity: MethodAsyncSingleParam[Any, ParamT, ResultT],
        arg: ParamT,
        *,
        retry_policy: RetryPolicy,
        summary: str,
    ) -> ResultT:
        """A local activity: one marker event, no workflow task of its own."""
        return await workflow.execute_local_activity_method(
            activity,
            arg,
            start_to_close_timeout=LOCAL_ACTIVITY_TIMEOUT,
            retry_policy=retry_policy,
            summary=summary,
        )

    # ----- state ----------------------------------------------------------------------------

    def _fold(self, event: CallEvent) -> None:
        assert self._state is not None
        before = self._state.phase
        self._state = apply(self._state, event)
        if self._state.phase != before:
            workflow.logger.info(
                "call transition",
                extra={
                    "call_id": event.call.call_id,
                    "attempt": self._attempt,
                    "from_phase": before.name,
                    "to_phase": self._state.phase.name,
                },
            )

    def _phase_now(self) -> CallPhase:
        return self._state.phase if self._state is not None else CallPhase.REGISTERED

    def _sync_phase(self, *also: SearchAttributeUpdate[Any]) -> None:
        names: dict[CallPhase, CallPhaseName] = {
            CallPhase.REGISTERED: "ringing",
            CallPhase.ONGOING: "in_call",
            CallPhase.ENDED: "awaiting_analysis",
            CallPhase.ANALYZED: "awaiting_analysis",
        }
        self._set_phase(names[self._phase_now()], *also)

    def _set_phase(self, phase: CallPhaseName, *also: SearchAttributeUpdate[Any]) -> None:
        """Record the phase for the query, the UI's details and the CallStatus attribute;
        ``also`` rides along in the same upsert (each upsert is one history event)."""
        updates = list(also)
        if phase != self._phase:
            self._phase = phase
            updates.append(sa.CALL_STATUS.value_set(phase))
            workflow.set_current_details(f"attempt {self._attempt}: {phase.replace('_', ' ')}")
        if updates:
            workflow.upsert_search_attributes(updates)

    def _attempt_record(self, attempt: int, timed_out: bool) -> AttemptRecord:
        assert self._state is not None
        assert self._idempotency_key is not None
        call = self._state.call
        detail: str | None = None
        if timed_out:
            status, detail = OutcomeStatus.TIMED_OUT, "still open after max_duration_s; hung up"
        elif self._cancel_reason is not None and not self._state.is_ended:
            status, detail = OutcomeStatus.CANCELED, self._cancel_reason
        elif self._call_unknown:
            status, detail = OutcomeStatus.FAILED, "Retell no longer knows this call (get-call)"
        else:
            reason = call.disconnection_reason if call else None
            rule = classify_disconnection(reason)
            status = rule.status
            if reason is None:
                detail = f"call {self._state.phase.name.lower()} without a disconnection reason"
        return AttemptRecord(
            attempt=attempt,
            idempotency_key=self._idempotency_key,
            dialed_at=self._dialed_at,
            call_id=self._state.call_id,
            status=status,
            disconnection_reason=call.disconnection_reason if call else None,
            started_at=_ms_to_datetime(call.start_timestamp if call else None),
            ended_at=_ms_to_datetime(call.end_timestamp if call else None),
            duration_ms=call.duration_ms if call else None,
            detail=detail,
        )

    def _finish(self, status: OutcomeStatus, *, detail: str | None) -> CallOutcome:
        last = self._attempts[-1] if self._attempts else None
        call = self._state.call if self._state is not None else None
        self._outcome = CallOutcome(
            workflow_id=self._workflow_id,
            status=status,
            call_id=last.call_id if last else None,
            disconnection_reason=last.disconnection_reason if last else None,
            attempts=tuple(self._attempts),
            started_at=last.started_at if last else None,
            ended_at=last.ended_at if last else None,
            duration_ms=last.duration_ms if last else None,
            transcript=call.transcript if call else None,
            call_analysis=call.call_analysis if call else None,
            detail=detail,
        )
        self._set_phase("finished", sa.CALL_OUTCOME.value_set(status.value))
        workflow.set_current_details(f"finished: {status.value}")
        workflow.logger.info(
            "call finished",
            extra={
                "call_id": self._outcome.call_id,
                "attempt": self._attempt,
                "outcome": status.value,
            },
        )
        return self._outcome
