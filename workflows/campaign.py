"""CampaignWorkflow: call everyone on a list, a bounded number at a time, durably.

Start a campaign with ``calls.campaign.start_campaign`` (any number of times: the workflow
id is ``campaign-<campaign_id>``, so a second start attaches to the first campaign)::

    from calls.campaign import CampaignRequest, CampaignSnapshot, CampaignSummary
    from calls.campaign import start_campaign

    handle = await start_campaign(
        client,
        CampaignRequest(campaign_id="spring-reminders", calls=[CallRequest(...), ...],
                        max_in_flight=20),
    )
    await handle.query("progress", result_type=CampaignSnapshot)
    await handle.execute_update("pause", "new script coming", result_type=CampaignSnapshot)
    await handle.execute_update("resume", result_type=CampaignSnapshot)
    summary = await handle.result()  # CampaignSummary
    # or end it early, hanging up open calls:
    await handle.execute_update("cancel", "wrong list", result_type=CampaignSummary)

Each entry runs as an ``OutboundCallWorkflow`` child on the campaign's task queue, tagged
with the ``CampaignId`` search attribute (``CampaignId = "spring-reminders"`` in the UI lists
the campaign and all its calls). A child's id is ``call-<dedupe_key>``, or
``call-<campaign_id>-<index>`` for an entry without a key, and is started with
``REJECT_DUPLICATE``: a replay, a restarted campaign or another starter never dials the same
entry twice; an entry whose call already exists has that call's outcome counted instead.

At most ``max_in_flight`` calls are open at once, as a sliding window. After
``calls_per_run`` starts (or when the server suggests it) the run stops starting calls, lets
the open ones finish and continues as new with its progress, so no history grows without
bound. An ``account_error`` outcome pauses the campaign: that kind of problem (no credit, a
telephony permission) fails every later call too, so someone must look before ``resume``.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from temporalio import workflow
from temporalio.common import SearchAttributePair
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from calls.campaign import (
        CampaignProgress,
        CampaignRequest,
        CampaignSnapshot,
        CampaignSummary,
        OutcomeCounts,
    )
    from calls.models import CallRequest, OutcomeStatus
    from calls.search_attributes import CAMPAIGN_ID

from workflows.child_calls import call_as_child


def campaign_call_id(campaign_id: str, index: int, call: CallRequest) -> str:
    """The child workflow id of one entry: from its dedupe key, else from its place."""
    if call.dedupe_key is not None:
        return f"call-{call.dedupe_key}"
    return f"call-{campaign_id}-{index}"


@workflow.defn(name="CampaignWorkflow")
class CampaignWorkflow:
    @workflow.init
    def __init__(self, request: CampaignRequest) -> None:
        # Handlers may run before run(): all state they touch is set here.
        progress = request.progress or CampaignProgress()
        self._request = request
        self._total = len(request.calls)
        self._run_number = progress.run
        self._next_index = progress.next_index
        self._finished = progress.finished
        self._counts: Counter[OutcomeStatus] = Counter(progress.counts)
        self._paused = progress.paused
        self._pause_reason = progress.pause_reason
        self._cancel_reason: str | None = None
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._started_this_run = 0
        self._summary: CampaignSummary | None = None

    # ----- handlers -------------------------------------------------------------------------

    @workflow.query(name="progress")
    def progress(self) -> CampaignSnapshot:
        return CampaignSnapshot(
            campaign_id=self._request.campaign_id,
            run=self._run_number,
            total=self._total,
            started=self._next_index,
            finished=self._finished,
            in_flight=len(self._in_flight),
            counts=self._count_map(),
            paused=self._paused,
            pause_reason=self._pause_reason,
            canceled=self._cancel_reason is not None,
            done=self._summary is not None,
        )

    @workflow.update(name="pause")
    def pause(self, reason: str = "") -> CampaignSnapshot:
        """Start no new call until ``resume``; calls already open run to their end."""
        self._pause(reason or "paused by request")
        return self.progress()

    @pause.validator
    def _validate_pause(self, reason: str = "") -> None:
        self._reject_when_over("pause")
        if self._paused:
            raise ApplicationError(
                f"campaign is already paused ({self._pause_reason}); resume it first",
                type="CampaignAlreadyPaused",
            )
        if self._next_index >= self._total:
            raise ApplicationError(
                f"all {self._total} calls have been started; nothing is left to pause",
                type="NothingToPause",
            )

    @workflow.update(name="resume")
    def resume(self) -> CampaignSnapshot:
        workflow.logger.info(
            "campaign resumed",
            extra={"campaign_id": self._request.campaign_id, "was": self._pause_reason},
        )
        self._paused = False
        self._pause_reason = None
        self._show()
        return self.progress()

    @resume.validator
    def _validate_resume(self) -> None:
        self._reject_when_over("resume")
        if not self._paused:
            raise ApplicationError(
                "campaign is running, not paused; nothing to resume", type="CampaignNotPaused"
            )

    @workflow.update(name="cancel")
    async def cancel(self, reason: str = "") -> CampaignSummary:
        """Start no new call, hang up the open ones, end as canceled; answers the summary."""
        self._cancel(reason or "canceled by request")
        await workflow.wait_condition(lambda: self._summary is not None)
        assert self._summary is not None
        return self._summary

    @cancel.validator
    def _validate_cancel(self, reason: str = "") -> None:
        self._reject_when_over("cancel")

    def _reject_when_over(self, action: str) -> None:
        if self._summary is not None:
            raise ApplicationError(
                f"campaign already finished ({self._finished}/{self._total} calls); "
                f"cannot {action}",
                type="CampaignFinished",
            )
        if self._cancel_reason is not None:
            raise ApplicationError(
                f"campaign is being canceled ({self._cancel_reason}); cannot {action}",
                type="CampaignCanceled",
            )

    # ----- main line ------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: CampaignRequest) -> CampaignSummary:
        workflow.upsert_search_attributes([CAMPAIGN_ID.value_set(request.campaign_id)])
        workflow.logger.info(
            "campaign run started",
            extra={
                "campaign_id": request.campaign_id,
                "run": self._run_number,
                "next_index": self._next_index,
                "total": self._total,
            },
        )
        self._show()
        try:
            await self._start_calls()
            await workflow.wait_condition(lambda: not self._in_flight)
        except asyncio.CancelledError:
            # A Temporal cancel (the UI's button, `temporal workflow cancel`) means the same
            # as the cancel update: hang up and report, rather than leave calls behind.
            self._cancel("workflow cancel requested")
            await workflow.wait_condition(lambda: not self._in_flight)

        if self._cancel_reason is None and self._next_index < self._total:
            # A cancel may still come while updates finish; it wins over continuing.
            await workflow.wait_condition(
                lambda: self._cancel_reason is not None or workflow.all_handlers_finished()
            )
            if self._cancel_reason is None:
                self._continue_as_new()
        return await self._finish()

    async def _start_calls(self) -> None:
        """Start calls as slots free up, until the list or this run's share is done."""
        while self._next_index < self._total:
            # No timeout: a paused campaign waits for a person, and open calls have their
            # own deadlines, so every call in flight ends by itself.
            await workflow.wait_condition(lambda: self._stop_starting() or self._may_start())
            if self._stop_starting():
                return
            self._start(self._next_index)

    def _may_start(self) -> bool:
        return not self._paused and len(self._in_flight) < self._request.max_in_flight

    def _stop_starting(self) -> bool:
        if self._cancel_reason is not None:
            return True
        if self._started_this_run >= self._request.calls_per_run:
            return True
        # Only once this run has moved the campaign on: a run that began over the server's
        # limit (a large input) would otherwise continue as new forever.
        return self._started_this_run > 0 and workflow.info().is_continue_as_new_suggested()

    def _start(self, index: int) -> None:
        call = self._request.calls[index]
        child_id = campaign_call_id(self._request.campaign_id, index, call)
        self._in_flight[index] = asyncio.create_task(
            self._place(index, call, child_id), name=f"campaign call {index}"
        )
        self._next_index += 1
        self._started_this_run += 1
        self._show()

    async def _place(self, index: int, call: CallRequest, child_id: str) -> None:
        status: OutcomeStatus
        detail: str | None = None
        try:
            outcome = await call_as_child(
                call,
                workflow_id=child_id,
                search_attributes=[SearchAttributePair(CAMPAIGN_ID, self._request.campaign_id)],
            )
            status = outcome.status
            detail = outcome.disconnection_reason or outcome.detail
        except (ChildWorkflowError, ActivityError) as err:
            # The call workflow itself failed, was terminated, or was canceled before it
            # could report: the entry still counts, so the totals always add up.
            canceled = is_cancelled_exception(err)
            status = OutcomeStatus.CANCELED if canceled else OutcomeStatus.FAILED
            detail = str(err.cause or err)
        except asyncio.CancelledError:
            # Our cancel reached the child before it had started: it never dialed.
            status, detail = OutcomeStatus.CANCELED, self._cancel_reason
        finally:
            del self._in_flight[index]
        self._record(index, child_id, status, detail)

    def _record(self, index: int, child_id: str, status: OutcomeStatus, detail: str | None) -> None:
        self._counts[status] += 1
        self._finished += 1
        workflow.logger.info(
            "campaign call finished",
            extra={
                "campaign_id": self._request.campaign_id,
                "index": index,
                "child_workflow_id": child_id,
                "outcome": status.value,
            },
        )
        if status == OutcomeStatus.ACCOUNT_ERROR and not self._paused:
            self._pause(f"account_error on {child_id}: {detail or 'account problem'}")
        self._show()

    def _pause(self, reason: str) -> None:
        self._paused = True
        self._pause_reason = reason
        workflow.logger.warning(
            "campaign paused", extra={"campaign_id": self._request.campaign_id, "reason": reason}
        )
        self._show()

    def _cancel(self, reason: str) -> None:
        if self._cancel_reason is not None:
            return
        self._cancel_reason = reason
        workflow.logger.info(
            "campaign canceled",
            extra={
                "campaign_id": self._request.campaign_id,
                "reason": reason,
                "in_flight": len(self._in_flight),
            },
        )
        # Canceling the task that awaits a child sends the child a cancel request and keeps
        # waiting for its outcome; the call workflow hangs up on it.
        for task in list(self._in_flight.values()):
            task.cancel()
        self._show()

    def _continue_as_new(self) -> None:
        progress = CampaignProgress(
            run=self._run_number + 1,
            next_index=self._next_index,
            finished=self._finished,
            counts=self._count_map(),
            paused=self._paused,
            pause_reason=self._pause_reason,
        )
        workflow.logger.info(
            "campaign continues as new",
            extra={
                "campaign_id": self._request.campaign_id,
                "run": self._run_number,
                "started_this_run": self._started_this_run,
                "next_index": self._next_index,
            },
        )
        workflow.continue_as_new(self._request.model_copy(update={"progress": progress}))

    async def _finish(self) -> CampaignSummary:
        self._summary = CampaignSummary(
            campaign_id=self._request.campaign_id,
            total=self._total,
            finished=self._finished,
            counts=self._count_map(),
            canceled=self._cancel_reason is not None,
            skipped=self._total - self._next_index,
            runs=self._run_number,
        )
        workflow.logger.info(
            "campaign finished",
            extra={
                "campaign_id": self._request.campaign_id,
                "finished": self._finished,
                "canceled": self._summary.canceled,
                "skipped": self._summary.skipped,
            },
        )
        self._show()
        # Let a pending cancel update answer before the run closes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._summary

    # ----- state ----------------------------------------------------------------------------

    def _count_map(self) -> OutcomeCounts:
        # Enum order, zeros left out: stable and short in queries, results and history.
        return {status: self._counts[status] for status in OutcomeStatus if self._counts[status]}

    def _show(self) -> None:
        if self._summary is not None:
            state = "canceled" if self._summary.canceled else "done"
        elif self._cancel_reason is not None:
            state = "canceling"
        elif self._paused:
            state = f"paused: {self._pause_reason}"
        else:
            state = "paused: no"
        workflow.set_current_details(
            f"{self._finished}/{self._total} finished, {len(self._in_flight)} in flight, "
            f"{state} (run {self._run_number})"
        )
