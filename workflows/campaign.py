"""CampaignWorkflow: call everyone on a list or in a contacts file, a bounded number at a
time, durably, at any size.

Start a campaign with ``outbound_calls_client.start_campaign`` (any number of times: the
workflow id is ``campaign-<campaign_id>``, so a second start attaches to the first campaign)::

    from outbound_calls_client.start import start_campaign
    from outbound_calls_client.campaign import CampaignRequest
    from outbound_calls_client.contacts import CallTemplate, ContactSource

    handle = await start_campaign(
        client,
        CampaignRequest(
            campaign_id="spring-reminders",
            contacts=ContactSource(
                location="/data/contacts.csv",
                template=CallTemplate(from_number="+12125550199", agent_id="agent_x"),
            ),
            max_in_flight=20,
        ),
    )
    await handle.query(CampaignWorkflow.progress)  # CampaignSnapshot
    await handle.execute_update(CampaignWorkflow.pause, "new script coming")
    await handle.execute_update(CampaignWorkflow.resume)
    summary = await handle.result()  # CampaignSummary: counts per outcome
    # or end it early, hanging up open calls:
    await handle.execute_update(CampaignWorkflow.cancel, "wrong list")

How it stays bounded at 100,000 contacts:

- The list never enters the workflow: ``open_contacts`` reads the file once (checksum,
  record count, bad rows) and ``read_contacts_page`` reads one page at a time, refusing a
  file whose checksum changed. The workflow keeps a position.
- Calls are started by an activity, a batch at a time, as ``OutboundCallWorkflow``s tagged
  ``CampaignId``, not as children: no call's outcome (nor its transcript) enters the
  campaign's history, and a continue-as-new neither waits for nor cancels them. Each call
  has ``report_to`` set to the campaign, and signals ``call_finished`` with a small
  ``CallReport`` to whichever run is current.
- The open calls (id: row, at most ``max_in_flight``) are carried across continue-as-new.
  A report removes its call from that set and counts it; a report for a call not in the set
  (a repeat) is ignored, so every outcome counts exactly once. Every ``reconcile_every_s``
  the open calls are looked at, so one that closed without reporting (terminated, say) is
  counted too and nothing waits forever.
- After ``calls_per_run`` starts, a long history or the server's suggestion, the run
  continues as new at once, without draining.

A call's id is ``call-<dedupe_key>``, or ``call-campaign:<campaign_id>:<row>`` (row: the
contact's line in the file; for ``calls``, its index), a space no other starter may use
(outbound_calls_client.call_ids; runs begun before that patch use ``call-<campaign_id>-<row>``),
started with ``REJECT_DUPLICATE``: a retry, a restarted campaign or another starter never
dials the same contact twice.

An ``account_error`` outcome pauses the campaign: that kind of problem (no credit, a
telephony permission) fails every later call too, so someone must look before ``resume``.
A cancel (the update, or a Temporal cancel) stops starting, cancels every open call (each
hangs up and reports ``canceled``), waits for their reports and ends with the summary.
"""

from __future__ import annotations

from collections import Counter, deque
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.campaign_calls import CampaignCallActivities
    from activities.contacts import ContactActivities
    from outbound_calls_client.call_ids import (
        campaign_row_call_id,
        legacy_campaign_row_call_id,
    )
    from outbound_calls_client.campaign import (
        CallBatch,
        CampaignCall,
        CampaignProgress,
        CampaignRequest,
        CampaignSnapshot,
        CampaignSummary,
        OutcomeCounts,
    )
    from outbound_calls_client.contacts import PageRequest
    from outbound_calls_client.models import CallReport, CallRequest, OutcomeStatus
    from outbound_calls_client.names import (
        CALL_FINISHED_SIGNAL,
        CAMPAIGN_WORKFLOW,
        PAUSE_UPDATE,
        PROGRESS_QUERY,
        RESUME_UPDATE,
        call_workflow_id,
    )
    from outbound_calls_client.search_attributes import CAMPAIGN_ID

from workflows.cancel_shield import run_shielded
from workflows.waits import wait_until

# Calls started by one activity: a window fills in a few round trips, not one per call.
START_BATCH = 50
# Continue as new well before Temporal's warnings at 10,240 events.
EVENTS_BEFORE_CONTINUE = 8_000
ACTIVITY_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
FILE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=10)
# The contact activities beat every 5 s (activities/heartbeats.py): a worker that dies
# mid-read is retried after this, not after the read's whole start-to-close timeout. The
# same commands as before: a timeout is an option of the command, not one Temporal's replay
# compares, so no patch (the 1.0 campaign histories replay unchanged).
FILE_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
BAD_ROWS_IN_ERROR = 20
# A pause or cancel reason is carried over continue-as-new and shown in the UI: short. A
# validator refuses it before the update is accepted, so nothing of it reaches the history
# (and replay, which skips validators, is unchanged).
MAX_REASON_CHARS = 1000
# Rows without a key get ids no other starter may use (outbound_calls_client.call_ids). Asked
# once, first thing in a run: a run that began before the patch keeps its old ids throughout,
# and its next run (continue-as-new) takes the new ones.
CAMPAIGN_CALL_IDS_PATCH = "campaign-call-ids-reserved"


def campaign_call_id(
    campaign_id: str, row: int, call: CallRequest, *, reserved_space: bool = True
) -> str:
    """The call workflow id of one contact: from its dedupe key, else from its row, in the
    campaigns' reserved space (``reserved_space=False``: the id runs before that patch used,
    which any starter could take first)."""
    if call.dedupe_key is not None:
        return call_workflow_id(call.dedupe_key)
    if reserved_space:
        return campaign_row_call_id(campaign_id, row)
    return legacy_campaign_row_call_id(campaign_id, row)


@workflow.defn(name=CAMPAIGN_WORKFLOW)
class CampaignWorkflow:
    @workflow.init
    def __init__(self, request: CampaignRequest) -> None:
        # Handlers may run before run(): all state they touch is set here.
        progress = request.progress or CampaignProgress()
        self._request = request
        self._run_number = progress.run
        self._next_index = progress.next_index
        self._read_to = progress.next_index
        self._started = progress.started
        self._finished = progress.finished
        self._counts: Counter[OutcomeStatus] = Counter(progress.counts)
        self._paused = progress.paused
        self._pause_reason = progress.pause_reason
        self._total: int | None = progress.total
        if self._total is None and request.contacts is None:
            self._total = len(request.calls)
        self._checksum = progress.checksum
        self._reserved_ids = False  # run() asks its patch before any id is made
        self._invalid_rows = progress.invalid_rows
        self._bad_rows = progress.bad_rows
        self._in_flight: dict[str, int] = dict(progress.in_flight)
        self._buffer: deque[tuple[int, CampaignCall]] = deque()
        self._started_this_run = 0
        self._cancel_reason: str | None = None
        self._cancels_sent = False
        self._refusal: str | None = None
        self._look_soon = False
        self._next_look = workflow.now() + timedelta(seconds=request.reconcile_every_s)
        self._scheduled_for = request.start_at if request.progress is None else None
        self._summary: CampaignSummary | None = None

    # ----- handlers -------------------------------------------------------------------------

    @workflow.signal(name=CALL_FINISHED_SIGNAL)
    def call_finished(self, report: CallReport) -> None:
        """A call's end (its ``report_to``), or the reconciliation's finding: counted once."""
        row = self._in_flight.pop(report.workflow_id, None)
        if row is None:
            return  # counted already (a repeat, or the reconciliation came first)
        self._counts[report.status] += 1
        self._finished += 1
        workflow.logger.info(
            "campaign call finished",
            extra={
                "campaign_id": self._request.campaign_id,
                "row": row,
                "call_workflow_id": report.workflow_id,
                "outcome": report.status.value,
            },
        )
        if report.status == OutcomeStatus.ACCOUNT_ERROR and not self._paused:
            reason = report.disconnection_reason or "account problem"
            self._pause(f"account_error on {report.workflow_id}: {reason}")
        self._show()

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> CampaignSnapshot:
        return CampaignSnapshot(
            campaign_id=self._request.campaign_id,
            run=self._run_number,
            total=self._total or 0,
            started=self._started,
            finished=self._finished,
            in_flight=len(self._in_flight),
            counts=self._count_map(),
            paused=self._paused,
            pause_reason=self._pause_reason,
            canceled=self._cancel_reason is not None,
            done=self._summary is not None,
            invalid_rows=self._invalid_rows,
            bad_rows=self._bad_rows,
            scheduled_for=self._scheduled_for,
        )

    @workflow.update(name=PAUSE_UPDATE)
    def pause(self, reason: str = "") -> CampaignSnapshot:
        """Start no new call until ``resume``; calls already open run to their end."""
        self._pause(reason or "paused by request")
        return self.progress()

    @pause.validator
    def _validate_pause(self, reason: str = "") -> None:
        self._reject_when_over("pause")
        _check_reason(reason)
        if self._paused:
            raise ApplicationError(
                f"campaign is already paused ({self._pause_reason}); resume it first",
                type="CampaignAlreadyPaused",
            )
        if self._total is not None and self._next_index >= self._total and not self._buffer:
            raise ApplicationError(
                f"all {self._total} contacts have been started; nothing is left to pause",
                type="NothingToPause",
            )

    @workflow.update(name=RESUME_UPDATE)
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

    # Named after the method, as in outbound_calls_client.names (tests/unit/test_names.py):
    # with ``name=`` the SDK's typing would give callers a coroutine, not the answer, for an
    # async update.
    @workflow.update
    async def cancel(self, reason: str = "") -> CampaignSummary:
        """Start no new call, hang up the open ones, end as canceled; answers the summary."""
        self._cancel(reason or "canceled by request")
        await workflow.wait_condition(lambda: self._summary is not None)
        assert self._summary is not None
        return self._summary

    @cancel.validator
    def _validate_cancel(self, reason: str = "") -> None:
        self._reject_when_over("cancel")
        _check_reason(reason)

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
        self._reserved_ids = workflow.patched(CAMPAIGN_CALL_IDS_PATCH)
        workflow.upsert_search_attributes([CAMPAIGN_ID.value_set(request.campaign_id)])
        workflow.logger.info(
            "campaign run started",
            extra={
                "campaign_id": request.campaign_id,
                "run": self._run_number,
                "next_index": self._next_index,
                "in_flight": len(self._in_flight),
            },
        )
        self._show()
        # The campaign runs in a task of its own, which a Temporal cancel (the UI's button,
        # `temporal workflow cancel`) does not reach: it becomes the same request as the
        # cancel update, so open calls are hung up and counted rather than left behind.
        return await run_shielded(
            self._campaign(), lambda: self._cancel("workflow cancel requested")
        )

    async def _campaign(self) -> CampaignSummary:
        if self._request.progress is None:
            await self._wait_for_start()
            if self._total is None and self._cancel_reason is None:
                await self._open_contacts()
        while True:
            if self._cancel_reason is not None and not self._cancels_sent:
                await self._cancel_open_calls()
            if self._over():
                break
            if self._cancel_reason is None and self._run_is_full():
                # A cancel may still come while updates finish; it wins over continuing.
                await workflow.wait_condition(
                    lambda: self._cancel_reason is not None or workflow.all_handlers_finished()
                )
                if self._cancel_reason is None:
                    self._continue_as_new()
                continue
            if self._may_start():
                await self._fill_buffer()
                if self._buffer and self._may_start():
                    await self._start_batch()
                continue
            await self._wait()
        if self._refusal is not None:
            raise ApplicationError(self._refusal, type="ContactsFileChanged", non_retryable=True)
        return await self._finish()

    async def _wait_for_start(self) -> None:
        start_at = self._request.start_at
        if start_at is None or workflow.now() >= start_at:
            self._scheduled_for = None
            return
        self._show()
        # A durable timer: no worker is busy meanwhile; a cancel ends the wait.
        await wait_until(
            lambda: self._cancel_reason is not None, start_at - workflow.now(), "scheduled start"
        )
        self._scheduled_for = None
        self._next_look = workflow.now() + timedelta(seconds=self._request.reconcile_every_s)
        self._show()

    async def _open_contacts(self) -> None:
        source = self._request.contacts
        assert source is not None
        opened = await workflow.execute_activity_method(
            ContactActivities.open_contacts,
            source,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=FILE_HEARTBEAT_TIMEOUT,
            retry_policy=FILE_RETRY,
            summary=f"read {source.location}",
        )
        if source.strict and opened.bad_rows:
            listed = "; ".join(
                f"row {b.row} {b.field} ({b.rule})" for b in opened.bad_row_list[:BAD_ROWS_IN_ERROR]
            )
            more = opened.bad_rows - min(opened.bad_rows, BAD_ROWS_IN_ERROR)
            raise ApplicationError(
                f"strict mode: {opened.bad_rows} bad row(s) in {source.location}: {listed}"
                + (f"; and {more} more" if more else ""),
                type="BadContacts",
                non_retryable=True,
            )
        self._checksum = opened.checksum
        self._total = opened.records
        self._invalid_rows = opened.bad_rows
        self._bad_rows = opened.bad_row_list
        self._show()

    def _has_more(self) -> bool:
        return bool(self._buffer) or self._read_to < (self._total or 0)

    def _may_start(self) -> bool:
        return (
            self._cancel_reason is None
            and self._refusal is None
            and not self._paused
            and len(self._in_flight) < self._request.max_in_flight
            and self._started_this_run < self._request.calls_per_run
            and self._has_more()
        )

    def _over(self) -> bool:
        stopped = self._cancel_reason is not None or self._refusal is not None
        return (stopped or not self._has_more()) and not self._in_flight

    def _run_is_full(self) -> bool:
        if self._started_this_run >= self._request.calls_per_run:
            return True
        length = workflow.info().get_current_history_length()
        # A fresh run is short: the suggestion then cannot make it continue forever.
        suggested = length > 100 and workflow.info().is_continue_as_new_suggested()
        return length > EVENTS_BEFORE_CONTINUE or suggested

    async def _fill_buffer(self) -> None:
        if self._buffer:
            return
        first = self._read_to
        count = self._request.page_size
        campaign_id = self._request.campaign_id
        if self._request.contacts is None:
            chunk = self._request.calls[first : first + count]
            entries = [(first + i, first + i, call) for i, call in enumerate(chunk)]
            self._read_to = min(first + count, len(self._request.calls))
        else:
            assert self._checksum is not None
            try:
                found = await workflow.execute_activity_method(
                    ContactActivities.read_contacts_page,
                    PageRequest(
                        source=self._request.contacts,
                        checksum=self._checksum,
                        first=first,
                        count=count,
                    ),
                    start_to_close_timeout=timedelta(minutes=5),
                    heartbeat_timeout=FILE_HEARTBEAT_TIMEOUT,
                    retry_policy=FILE_RETRY,
                    summary=f"contacts {first}..{first + count - 1}",
                )
            except ActivityError as err:
                if is_cancelled_exception(err):
                    raise  # a cancel is not the file's refusal
                cause = err.cause
                self._refusal = cause.message if isinstance(cause, ApplicationError) else str(err)
                workflow.logger.error(
                    "contacts refused; no more calls are started",
                    extra={"campaign_id": campaign_id, "error": self._refusal},
                )
                self._show()
                return
            entries = [(c.position, c.row, c.request) for c in found.contacts]
            self._read_to = found.next_position
        me = workflow.info().workflow_id
        for position, row, request in entries:
            wid = campaign_call_id(campaign_id, row, request, reserved_space=self._reserved_ids)
            call = CampaignCall(
                workflow_id=wid, row=row, request=request.model_copy(update={"report_to": me})
            )
            self._buffer.append((position, call))
        if not self._buffer:
            self._next_index = self._read_to  # a page of bad rows only

    async def _start_batch(self) -> None:
        room = min(
            self._request.max_in_flight - len(self._in_flight),
            self._request.calls_per_run - self._started_this_run,
            START_BATCH,
        )
        batch: list[CampaignCall] = []
        while self._buffer and len(batch) < room:
            batch.append(self._buffer.popleft()[1])
        for call in batch:
            # In the set before the start: its report may come before the activity answers.
            self._in_flight[call.workflow_id] = call.row
        self._started += len(batch)
        self._started_this_run += len(batch)
        self._next_index = self._buffer[0][0] if self._buffer else self._read_to
        self._show()
        existing = await workflow.execute_activity_method(
            CampaignCallActivities.start_campaign_calls,
            CallBatch(
                campaign_id=self._request.campaign_id,
                task_queue=workflow.info().task_queue,
                calls=tuple(batch),
            ),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=ACTIVITY_RETRY,
            summary=f"start {len(batch)} calls (rows {batch[0].row}..{batch[-1].row})",
        )
        if existing:
            # Started before (a retried activity, or someone else's call with that key):
            # the report may come, or not (another waiter): look soon.
            self._look_soon = True

    async def _wait(self) -> None:
        """Until something changes, or the open calls are due a look."""
        if self._look_soon:
            self._look_soon = False
            self._next_look = min(self._next_look, workflow.now() + timedelta(seconds=30))
        timeout = max(self._next_look - workflow.now(), timedelta(seconds=1))
        changed = await wait_until(
            lambda: (
                (self._cancel_reason is not None and not self._cancels_sent)
                or self._over()
                or self._may_start()
                or (self._cancel_reason is None and self._run_is_full())
            ),
            timeout,
            "next look at open calls",
        )
        if not changed:
            await self._reconcile()

    async def _reconcile(self) -> None:
        self._next_look = workflow.now() + timedelta(seconds=self._request.reconcile_every_s)
        if not self._in_flight:
            return
        reports = await workflow.execute_activity_method(
            CampaignCallActivities.closed_campaign_calls,
            sorted(self._in_flight),
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=ACTIVITY_RETRY,
            summary=f"look at {len(self._in_flight)} open calls",
        )
        for report in reports:
            self.call_finished(report)

    async def _cancel_open_calls(self) -> None:
        self._cancels_sent = True
        self._buffer.clear()
        if not self._in_flight:
            return
        missing = await workflow.execute_activity_method(
            CampaignCallActivities.cancel_campaign_calls,
            sorted(self._in_flight),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=ACTIVITY_RETRY,
            summary=f"cancel {len(self._in_flight)} open calls",
        )
        for wid in missing:
            self.call_finished(CallReport(workflow_id=wid, status=OutcomeStatus.CANCELED))

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
        self._show()

    def _continue_as_new(self) -> None:
        progress = CampaignProgress(
            run=self._run_number + 1,
            next_index=self._next_index,
            started=self._started,
            finished=self._finished,
            counts=self._count_map(),
            paused=self._paused,
            pause_reason=self._pause_reason,
            total=self._total,
            checksum=self._checksum,
            invalid_rows=self._invalid_rows,
            bad_rows=self._bad_rows,
            in_flight=self._in_flight,
        )
        workflow.logger.info(
            "campaign continues as new",
            extra={
                "campaign_id": self._request.campaign_id,
                "run": self._run_number,
                "started_this_run": self._started_this_run,
                "in_flight": len(self._in_flight),
            },
        )
        workflow.continue_as_new(self._request.model_copy(update={"progress": progress}))

    async def _finish(self) -> CampaignSummary:
        total = self._total or 0
        self._summary = CampaignSummary(
            campaign_id=self._request.campaign_id,
            total=total,
            finished=self._finished,
            counts=self._count_map(),
            canceled=self._cancel_reason is not None,
            skipped=total - self._invalid_rows - self._started,
            runs=self._run_number,
            invalid_rows=self._invalid_rows,
            bad_rows=self._bad_rows,
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
        elif self._refusal is not None:
            state = f"refused: {self._refusal}"
        elif self._scheduled_for is not None:
            state = f"scheduled for {self._scheduled_for.isoformat()}"
        elif self._paused:
            state = f"paused: {self._pause_reason}"
        else:
            state = "paused: no"
        total = "?" if self._total is None else str(self._total)
        workflow.set_current_details(
            f"{self._finished}/{total} finished, {len(self._in_flight)} in flight, "
            f"{self._invalid_rows} bad rows, {state} (run {self._run_number})"
        )


def _check_reason(reason: str) -> None:
    if len(reason) > MAX_REASON_CHARS:
        raise ApplicationError(
            f"reason: {len(reason)} characters; at most {MAX_REASON_CHARS} (rule: max_length)",
            type="InvalidReason",
        )
