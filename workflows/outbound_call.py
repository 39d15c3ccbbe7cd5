"""OutboundCallWorkflow: call one person through Retell, durably, and say what happened.

The run reads as the flow (README, "How it flows"):

    validate → provision the agent (if configured) → per attempt: do-not-call check → the
    attempt (workflows/call_attempt.py: wait for the calling window → take a call slot →
    create the call → follow its events until a deadline, polling Retell when one passes →
    classify) → follow up (do-not-call list, redial per policy) → report to the waiter,
    deliver the outcome → CallOutcome.

This class holds the run, the handlers and the state they share (workflows/call_progress.py);
the attempt, the slot lease (workflows/slot_lease.py), the durable waits (workflows/waits.py)
and the best-effort steps (workflows/best_effort.py) live apart, so each step here is a few
lines.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception
from temporalio.types import MethodAsyncSingleParam

with workflow.unsafe.imports_passed_through():
    from activities.agents import AgentActivities
    from activities.do_not_call import DoNotCallActivities
    from activities.outcome_delivery import OutcomeDeliveryActivities
    from activities.texts import TextActivities
    from activities.validation import RequestValidationActivities
    from calls.callback_time import plan_callback
    from calls.outcomes import FollowUp, classify_disconnection
    from calls.redial import next_redial_delay
    from calls.returned_call import CalledContext
    from calls.slots import CONCURRENCY_REASONS
    from outbound_calls_client import search_attributes as sa
    from outbound_calls_client.calling_window import next_allowed_time
    from outbound_calls_client.models import (
        MAX_TEXT_WAIT,
        AgentConfig,
        AttemptRecord,
        CallOutcome,
        CallReport,
        CallRequest,
        CallSnapshot,
        DialReport,
        DoNotCallEntry,
        OutcomeDelivery,
        OutcomeStatus,
        SendTextInput,
        TextFollowUp,
        TextRecord,
        ValidatedCall,
    )
    from outbound_calls_client.names import (
        CALL_EVENT_SIGNAL,
        CALL_FINISHED_SIGNAL,
        CALL_RETURNED_SIGNAL,
        CALL_WORKFLOW,
        RETURNED_CALL_CONTEXT_QUERY,
        SLOT_ASK_AGAIN_SIGNAL,
        SLOT_GRANTED_SIGNAL,
        STATUS_QUERY,
    )
    from outbound_calls_client.phone import mask_number
    from outbound_calls_client.retell_wire import CallEvent

from workflows.best_effort import best_effort, failure_text, raise_if_cancelled
from workflows.call_attempt import CallAttempt
from workflows.call_policies import (
    ACTIVITY_TIMEOUT,
    CREATE_ATTEMPT_TIMEOUT,
    CREATE_RETRY,
    CREATE_TOTAL_TIMEOUT,
    DELIVERY_RETRY,
    LOCAL_ACTIVITY_TIMEOUT,
    POLL_RETRY,
    RETELL_HEARTBEAT_TIMEOUT,
    VALIDATE_RETRY,
)
from workflows.call_progress import CallProgress
from workflows.cancel_shield import run_shielded
from workflows.waits import wait_until

TEMPORAL_CANCEL_REASON = "canceled through Temporal"
MAX_SEEN_EVENTS = 200
MAX_BUSY_ACCOUNT_RETRIES = 10
BUSY_ACCOUNT_RETRY_DELAY = timedelta(seconds=30)
# A pool's number marked as spam is rested and the call dialed again from another this often
# at most (every number of a pool labelled spam at once says the pool itself is).
MAX_SPAM_RETRIES = 2
# Patch (docs/changing-workflows.md): a callback is redialed at the time the person asked
# for, read from the call's analysis; runs that reached a callback before it wait the fixed
# callback_delay_s, as they recorded.
CALLBACK_AT_ASKED_TIME = "callback-at-asked-time"
# Patches of returned calls (docs/calls.md, "Returned calls"): the run records the keyed hash
# of its callee's number (ToNumberHash), and a call_returned signal ends a redial wait.
TO_NUMBER_HASH = "to-number-hash"
RETURNED_CALL = "returned-call"
# Patch: a request with a text_follow_up sends its text after the final outcome; asked only
# for such requests, so every other run keeps its recorded commands.
TEXT_FOLLOW_UP = "text-follow-up"
# Patch (docs/benchmarks.md, "Billable actions per call"): fewer billable actions per call,
# nothing the UI shows lost. ToNumberHash and a waiting_for_slot the pool answers at once ride
# along with the next upsert of the same workflow task (workflows/call_progress.py).
LEAN_CALL_ACTIONS = "lean-call-actions"


# What a finished call's flow ends with: its status and why.
Verdict = tuple[OutcomeStatus, str | None]
ParamT = TypeVar("ParamT")
ResultT = TypeVar("ResultT")


async def _check(
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


def _never_again(record: AttemptRecord) -> bool:
    """Retell refused the number as do-not-call, or the call ended so (dnc requested)."""
    if record.call_id is None:
        return record.status == OutcomeStatus.DO_NOT_CALL
    return classify_disconnection(record.disconnection_reason).follow_up == FollowUp.NEVER_AGAIN


def _spam_from_a_pool(record: AttemptRecord) -> bool:
    """Retell reported the pool's number as spam: the number's fault, not the callee's."""
    return record.from_number is not None and record.disconnection_reason == "marked_as_spam"


def _asked_for_callback(record: AttemptRecord) -> bool:
    return (
        record.call_id is not None
        and classify_disconnection(record.disconnection_reason).follow_up == FollowUp.CALLBACK
    )


@workflow.defn(name=CALL_WORKFLOW)
class OutboundCallWorkflow:
    @workflow.init
    def __init__(self, request: CallRequest) -> None:
        # Handlers may run before run(): all state they touch is set here.
        self._request = request
        self._workflow_id = workflow.info().workflow_id
        self._progress = CallProgress()
        self._attempt = CallAttempt(self._workflow_id, request, self._progress)
        self._agent_id: str | None = request.agent_id
        self._seen: set[tuple[str, str]] = set()
        self._duplicates = 0
        self._delivery: asyncio.Task[None] | None = None
        self._records: list[AttemptRecord] = []
        self._outcome: CallOutcome | None = None
        self._to_masked = mask_number(request.to_number)
        self._returned_call_id: str | None = None
        self._validated: ValidatedCall | None = None

    # ----- handlers -------------------------------------------------------------------------

    @workflow.signal(name=CALL_EVENT_SIGNAL)
    def call_event(self, event: CallEvent) -> None:
        """A Retell webhook, forwarded by the bridge. Duplicates and reordering are expected."""
        if event.dedupe_key in self._seen:
            self._duplicates += 1
            return
        if len(self._seen) < MAX_SEEN_EVENTS:
            self._seen.add(event.dedupe_key)
        self._attempt.receive(event)
        workflow.logger.info(
            "call event received",
            extra={
                "call_id": event.call.call_id,
                "event": event.event,
                "attempt": self._progress.attempt,
            },
        )

    @workflow.signal(name=CALL_RETURNED_SIGNAL)
    def call_returned(self, inbound_call_id: str) -> None:
        """The person called us back (the bridge's inbound webhook): no more redials."""
        # patched() here: a run recorded before this signal existed replays it as ignored.
        if (
            self._outcome is None
            and self._returned_call_id is None
            and workflow.patched(RETURNED_CALL)
        ):
            self._returned_call_id = inbound_call_id

    @workflow.query(name=RETURNED_CALL_CONTEXT_QUERY)
    def returned_call_context(self) -> CalledContext:
        last = self._records[-1] if self._records else None
        return CalledContext(
            last_attempt_at=(last.dialed_at or last.started_at) if last else None,
            dynamic_variables=dict(self._request.dynamic_variables),
        )

    @workflow.signal(name=SLOT_GRANTED_SIGNAL)
    def slot_granted(self, ticket: int) -> None:
        self._attempt.slot.granted(ticket)

    @workflow.signal(name=SLOT_ASK_AGAIN_SIGNAL)
    def slot_ask_again(self) -> None:
        self._attempt.slot.ask_again()

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> CallSnapshot:
        state = self._attempt.state
        call = self._attempt.call
        return CallSnapshot(
            workflow_id=self._workflow_id,
            phase=self._progress.phase,
            attempt=self._progress.attempt,
            call_id=state.call_id if state else None,
            retell_status=call.call_status if call else None,
            to_number_masked=self._to_masked,
            events_seen=tuple(sorted(f"{c}:{e}" for c, e in self._seen)),
            ignored_events=self._attempt.ignored_events,
            duplicate_events=self._duplicates,
            waiting_until=self._progress.waiting_until,
            cancel_requested=self._progress.canceled(),
            held_by=self._progress.held_by,
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
        state = self._attempt.state
        if state is not None:
            return DialReport(
                workflow_id=self._workflow_id,
                status="dialed",
                call_id=state.call_id,
                attempt=self._progress.attempt,
            )
        if self._outcome is not None or any(a.call_id for a in self._records):
            return DialReport.of_outcome(self._outcome or self._partial_outcome())
        if self._progress.phase == "waiting_for_window":
            return DialReport(
                workflow_id=self._workflow_id,
                status="scheduled",
                waiting_until=self._progress.waiting_until,
            )
        return None

    def _partial_outcome(self) -> CallOutcome:
        """The attempts so far, as an outcome would list them (for the dialed update)."""
        return CallOutcome(
            workflow_id=self._workflow_id,
            status=OutcomeStatus.FAILED,
            attempts=tuple(self._records),
        )

    @workflow.update  # CANCEL_UPDATE, as DIALED_UPDATE above
    async def cancel(self, reason: str) -> CallOutcome:
        """Stop redials, hang up an open call, end as canceled; answers the final outcome."""
        self._progress.cancel_reason = reason or "canceled"
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
                    sa.CALL_STATUS.value_set(self._progress.phase),
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
            extra={"attempt": self._progress.attempt, "phase": self._progress.phase},
        )
        if self._outcome is None:
            if self._progress.cancel_reason is None:
                self._progress.cancel_reason = TEMPORAL_CANCEL_REASON
        elif self._delivery is not None:
            # The call is over and its outcome final: stop retrying the delivery.
            self._delivery.cancel()

    async def _call_and_report(self, request: CallRequest) -> CallOutcome:
        status, detail = await self._call_until_final(request)
        follow_up = request.text_follow_up
        text = None
        # patched() last: only a run that texts records the patch's marker.
        if (
            follow_up is not None
            and status in follow_up.after
            and self._validated is not None
            and workflow.patched(TEXT_FOLLOW_UP)
        ):
            text = await self._send_text(follow_up, self._validated)
        outcome = self._finish(status, detail=detail, text=text)
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
        # Asked before the validation's local activity: asked after it, the marker can land in
        # a later workflow task than the one a replay resolves that activity in.
        records_hash = workflow.patched(TO_NUMBER_HASH)
        self._progress.lean = workflow.patched(LEAN_CALL_ACTIONS)
        validated = await self._validate(request)
        if not isinstance(validated, ValidatedCall):
            return validated
        if validated.to_number_hash is not None and records_hash:
            self._progress.hold(sa.TO_NUMBER_HASH.value_set(validated.to_number_hash))
            if not self._progress.lean:
                self._progress.flush()
        self._validated = validated
        if self._progress.canceled():
            return OutcomeStatus.CANCELED, self._progress.cancel_reason
        if request.agent is not None:
            self._progress.flush()  # the provisioning is an activity: the run waits on it
            failed = await self._provision_agent(request.agent)
            if failed is not None:
                return failed
        return await self._attempt_until_final(validated)

    async def _attempt_until_final(self, validated: ValidatedCall) -> Verdict:
        """Attempt after attempt, as long as the redial policy asks for one and no cancel."""
        number = 0
        busy_account_retries = 0
        spam_retries = 0
        while True:
            number += 1
            # Checked before every dial: an earlier attempt, or another workflow, may have
            # put the number on the list since.
            if await self._on_do_not_call_list(validated.to_number):
                return OutcomeStatus.DO_NOT_CALL, "to_number is on the do-not-call list"
            record = await self._attempt.run(validated, number, self._agent_id)
            if record is None:
                break  # canceled while waiting for the calling window or a slot
            self._records.append(record)
            if (
                record.disconnection_reason in CONCURRENCY_REASONS
                and busy_account_retries < MAX_BUSY_ACCOUNT_RETRIES
                and not self._progress.canceled()
            ):
                # Retell's own cap was hit after all: not the callee's doing, so it does not
                # use up a redial; try again a little later.
                busy_account_retries += 1
                await self._wait_for_redial(BUSY_ACCOUNT_RETRY_DELAY * busy_account_retries)
                continue
            if (
                _spam_from_a_pool(record)
                and spam_retries < MAX_SPAM_RETRIES
                and not self._progress.canceled()
            ):
                # Our number was labelled spam, not the callee's doing: the pool has rested
                # it, so dial again at once from another of its numbers.
                spam_retries += 1
                self._attempt.forget_call()
                continue
            delay = await self._follow_up(validated, record)
            if delay is None:
                break
            await self._wait_for_redial(delay)
            if self._returned_call_id is not None:
                return OutcomeStatus.RETURNED_CALL, (
                    f"the person called back (inbound call {self._returned_call_id})"
                )
        return self._verdict()

    def _verdict(self) -> Verdict:
        """What the attempts came to: the last one's, unless a cancel stopped the call first."""
        last = self._records[-1] if self._records else None
        if self._progress.canceled() and (last is None or last.status != OutcomeStatus.COMPLETED):
            return OutcomeStatus.CANCELED, self._progress.cancel_reason
        assert last is not None
        return last.status, last.detail

    # ----- before the first dial ------------------------------------------------------------

    async def _validate(self, request: CallRequest) -> ValidatedCall | Verdict:
        try:
            return await _check(
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

    async def _on_do_not_call_list(self, number: str) -> bool:
        return await _check(
            DoNotCallActivities.check_do_not_call,
            number,
            retry_policy=POLL_RETRY,
            summary="check do-not-call list",
        )

    # ----- follow-ups -----------------------------------------------------------------------

    async def _follow_up(self, validated: ValidatedCall, record: AttemptRecord) -> timedelta | None:
        """List the number as do-not-call if the attempt says so; the wait before the next
        attempt, or None when there is none to make."""
        if _never_again(record):
            await self._add_to_do_not_call(validated.to_number, record)
        if _spam_from_a_pool(record):
            return None  # its retries from other numbers are spent: the pool is labelled
        counted = [
            a
            for a in self._records
            if a.disconnection_reason not in CONCURRENCY_REASONS and not _spam_from_a_pool(a)
        ]
        delay = next_redial_delay(self._request.redial, counted)
        if self._progress.canceled():
            return None
        # patched() last: only a run that does call back records the patch's marker.
        if (
            delay is not None
            and _asked_for_callback(record)
            and workflow.patched(CALLBACK_AT_ASKED_TIME)
        ):
            delay = self._callback_delay(validated, delay)
        return delay

    def _callback_delay(self, validated: ValidatedCall, fixed: timedelta) -> timedelta:
        """The wait until the time the person asked for (calls/callback_time.py), else
        ``fixed``; the attempt's detail says which, and why (no new field: a 1.0 client
        reading the outcome refuses fields it does not know)."""
        record = self._records[-1]
        call = self._attempt.call
        analysis = call.call_analysis if call and call.call_id == record.call_id else None
        plan = plan_callback(
            analysis.custom_analysis_data if analysis else None,
            validated.callback_time_field,
            now=workflow.now(),
            zones=validated.time_zones,
            window=self._request.calling_window,
            fixed_delay=fixed,
        )
        detail = plan.note if record.detail is None else f"{record.detail}; {plan.note}"
        self._records[-1] = record.model_copy(update={"detail": detail})
        return plan.delay

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
        self._attempt.forget_call()
        self._progress.set_phase("waiting_to_redial")
        redial_at = workflow.now() + delay
        self._progress.waiting_until = redial_at
        workflow.set_current_details(
            f"attempt {self._progress.attempt} ended as {self._records[-1].status.value}; "
            f"redial at {redial_at.isoformat()}"
        )
        await wait_until(
            lambda: self._progress.canceled() or self._returned_call_id is not None,
            delay,
            "wait to redial",
        )
        self._progress.waiting_until = None

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

    async def _send_text(self, follow_up: TextFollowUp, validated: ValidatedCall) -> TextRecord:
        """The text, inside the callee's calling hours (waited for up to MAX_TEXT_WAIT);
        what became of it."""
        now = workflow.now()
        opens = next_allowed_time(now, validated.time_zones, self._request.calling_window)
        if opens - now > MAX_TEXT_WAIT:
            return TextRecord(
                status="not_sent",
                detail=f"calling hours open at {opens.isoformat()}, over 24 h after the call",
            )
        if opens > now:
            self._progress.waiting_until = opens
            workflow.set_current_details(f"text follow-up at {opens.isoformat()}")
            await wait_until(self._progress.canceled, opens - now, "wait for calling hours")
            self._progress.waiting_until = None
        if self._progress.canceled():
            return TextRecord(status="not_sent", detail="canceled before the text was sent")
        from_number = follow_up.from_number or validated.from_number
        if from_number is None:
            return TextRecord(
                status="not_sent", detail="text_follow_up.from_number is needed with a pool"
            )
        info = workflow.info()
        try:
            return await workflow.execute_activity_method(
                TextActivities.send_text,
                SendTextInput(
                    dedupe_key=f"{info.workflow_id}/{info.first_execution_run_id}",
                    to_number=validated.to_number,
                    from_number=from_number,
                    chat_agent_id=follow_up.chat_agent_id,
                    dynamic_variables=self._request.dynamic_variables,
                ),
                start_to_close_timeout=CREATE_ATTEMPT_TIMEOUT,
                heartbeat_timeout=RETELL_HEARTBEAT_TIMEOUT,
                schedule_to_close_timeout=CREATE_TOTAL_TIMEOUT,
                retry_policy=CREATE_RETRY,
                summary="send the text follow-up",
            )
        except ActivityError as err:
            raise_if_cancelled(err)
            return TextRecord(status="not_sent", detail=failure_text(err))

    # ----- the outcome ----------------------------------------------------------------------

    def _finish(
        self, status: OutcomeStatus, *, detail: str | None, text: TextRecord | None = None
    ) -> CallOutcome:
        last = self._records[-1] if self._records else None
        call = self._attempt.call
        self._outcome = CallOutcome(
            workflow_id=self._workflow_id,
            status=status,
            # A returned call's id is the inbound call's; the attempts keep our calls' ids.
            call_id=self._returned_call_id
            if status == OutcomeStatus.RETURNED_CALL
            else (last.call_id if last else None),
            disconnection_reason=last.disconnection_reason if last else None,
            attempts=tuple(self._records),
            started_at=last.started_at if last else None,
            ended_at=last.ended_at if last else None,
            duration_ms=last.duration_ms if last else None,
            transcript=call.transcript if call else None,
            call_analysis=call.call_analysis if call else None,
            detail=detail,
            text=text,
        )
        self._progress.set_phase("finished", sa.CALL_OUTCOME.value_set(status.value))
        workflow.set_current_details(f"finished: {status.value}")
        workflow.logger.info(
            "call finished",
            extra={
                "call_id": self._outcome.call_id,
                "attempt": self._progress.attempt,
                "outcome": status.value,
            },
        )
        return self._outcome
