"""The long steps of the campaign commands, each with a Rich progress bar on stderr: checking
a contacts file (its rows, or what a campaign would do with each), following a campaign, and
exporting its results as CSV."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress_bar import ProgressBar
from rich.table import Table
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowHandle

from adapters.contacts_file import contacts_at, scan_path
from calls.contacts_file import ReadLimits
from cli.calls import search_fields
from cli.campaign_check import CampaignCheck
from cli.following import Following
from cli.output import csv_safe
from outbound_calls_client.campaign import CAMPAIGN_ROW_MEMO_KEY, CampaignSnapshot, CampaignSummary
from outbound_calls_client.contacts import BadRow, Contact, ContactsOpened, ContactSource
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallOutcome, CallRequest
from outbound_calls_client.names import CALL_WORKFLOW
from outbound_calls_client.phone import normalize_e164
from workflows.campaign import CampaignWorkflow

RESULT_COLUMNS = (
    "row",
    "to_number_masked",
    "dedupe_key",
    "status",
    "call_id",
    "attempts",
    "disconnection_reason",
    "started_at",
    "ended_at",
    "workflow_id",
    "detail",
    # Last, so that a script reading the columns by position before it reads them still.
    "from_number",
)
# Calls whose outcomes are read at once: enough to export 100,000 in minutes, few enough
# not to flood the frontend.
READ_CONCURRENCY = 32
FOLLOW_EVERY_S = 1.0
# Rows read from the file at once by a dry run (their store lookups run together).
CHECK_BATCH = 500


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A bar on stderr (stdout stays the document); plain, not animated, when piped."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as bar:
        yield bar


async def check_contacts(path: Path, source: ContactSource) -> ContactsOpened:
    """The workers' own first pass, run here: bad rows show before anything starts."""
    with progress_bar() as bar:
        task = bar.add_task(f"checking {path.name}", total=None)
        index = await asyncio.to_thread(scan_path, path, source)
        bar.update(task, total=index.records, completed=index.records)
    return index.opened


async def dry_run(
    path: Path, source: ContactSource, limits: ReadLimits, check: CampaignCheck
) -> None:
    """Every row of the file through ``check``, in file order, a batch at a time (read in a
    thread: the file is never held whole)."""
    rows = contacts_at(path, source, limits)

    def batch() -> list[Contact | BadRow]:
        return list(islice(rows, CHECK_BATCH))

    try:
        with progress_bar() as bar:
            task = bar.add_task(f"checking {path.name}", total=None)
            while found := await asyncio.to_thread(batch):
                await check.rows(found)
                bar.advance(task, len(found))
    finally:
        rows.close()


async def follow_campaign(handle: WorkflowHandle[Any, CampaignSummary]) -> CampaignSummary:
    """A bar of finished calls until the campaign ends; Ctrl-C stops following only."""
    with progress_bar() as bar:
        task = bar.add_task(f"{handle.id}", total=None)
        result = asyncio.ensure_future(handle.result())
        try:
            while not result.done():
                snapshot: CampaignSnapshot = await handle.query(CampaignWorkflow.progress)
                done = snapshot.finished + snapshot.invalid_rows
                bar.update(task, total=snapshot.total or None, completed=done)
                await asyncio.wait({result}, timeout=FOLLOW_EVERY_S)
            summary = result.result()
            bar.update(task, total=summary.total, completed=summary.total - summary.skipped)
            return summary
        finally:
            result.cancel()


class WatchStopped(Exception):
    """Ctrl-C while watching a campaign: the campaign itself goes on."""


def progress_text(snapshot: CampaignSnapshot) -> str:
    """One line of where a campaign stands, for a log or a pipe."""
    counts = ", ".join(f"{k}={v}" for k, v in sorted(snapshot.counts.items()))
    line = (
        f"{snapshot.finished} of {snapshot.total} finished, {snapshot.in_flight} in flight, "
        f"reached {snapshot.reached}"
    )
    if counts:
        line += f"; {counts}"
    if snapshot.invalid_rows:
        line += f"; {snapshot.invalid_rows} bad row(s)"
    if snapshot.paused:
        line += f"; paused: {snapshot.pause_reason or 'no reason given'}"
    if snapshot.scheduled_for is not None:
        line += f"; starts {snapshot.scheduled_for.isoformat(timespec='seconds')}"
    return line


def _watch_view(workflow_id: str, snapshot: CampaignSnapshot | None) -> Table:
    table = Table(title=workflow_id, show_header=False, title_justify="left", box=None)
    table.add_column(style="bold")
    table.add_column()
    if snapshot is None:
        table.add_row("waiting", "for the first answer to the progress query")
        return table
    done = snapshot.finished + snapshot.invalid_rows
    bar = ProgressBar(total=snapshot.total or None, completed=done, width=40)
    table.add_row("finished", bar)
    table.add_row("", f"{snapshot.finished} of {snapshot.total} contacts")
    table.add_row("in flight", str(snapshot.in_flight))
    table.add_row("reached", str(snapshot.reached))
    for status, count in sorted(snapshot.counts.items()):
        table.add_row(f"  {status}", str(count))
    if snapshot.invalid_rows:
        table.add_row("bad rows", str(snapshot.invalid_rows))
    if snapshot.paused:
        table.add_row("paused", snapshot.pause_reason or "yes")
    if snapshot.scheduled_for is not None:
        table.add_row("starts", snapshot.scheduled_for.isoformat(timespec="seconds"))
    return table


async def watch_campaign(handle: WorkflowHandle[Any, CampaignSummary]) -> CampaignSummary:
    """Live progress on stderr until the campaign ends: a Rich view on a terminal, a line
    per change when piped. Ctrl-C raises :class:`WatchStopped`; the campaign goes on."""
    console = Console(stderr=True, highlight=False)
    last = ""
    with (
        Following(handle.result()) as following,
        Live(
            _watch_view(handle.id, None), console=console, transient=False,
            auto_refresh=False, redirect_stdout=False, redirect_stderr=False,
        ) if console.is_terminal else nullcontext() as live,
    ):  # fmt: skip
        while not following.done:
            snapshot: CampaignSnapshot = await handle.query(CampaignWorkflow.progress)
            if live is not None:
                live.update(_watch_view(handle.id, snapshot), refresh=True)
            elif (line := progress_text(snapshot)) != last:
                console.print(f"{handle.id}: {line}", markup=False)
                last = line
            if await following.wait(FOLLOW_EVERY_S):
                raise WatchStopped(handle.id)
        return following.result()


@dataclass(frozen=True)
class ResultRecord:
    """One contact of a result: its CSV row (RESULT_COLUMNS), and what the row was read from
    (the call's outcome; its request when asked for), which the report's figures use."""

    row: dict[str, Any]
    outcome: CallOutcome | None = None
    request: CallRequest | None = None


def _bad_row(bad: BadRow) -> ResultRecord:
    return ResultRecord(
        {
            "row": bad.row,
            "status": "invalid_row",
            "detail": f"{bad.field}: {bad.message} (rule: {bad.rule})",
        }
    )


async def _result_row(client: Client, wf: WorkflowExecution, with_request: bool) -> ResultRecord:
    memo = await wf.memo()
    fields = search_fields(wf.typed_search_attributes)
    row: dict[str, Any] = {
        "row": memo.get(CAMPAIGN_ROW_MEMO_KEY),
        "to_number_masked": memo.get("to_number_masked") or fields.get("ToNumberMasked"),
        "dedupe_key": memo.get("dedupe_key"),
        "workflow_id": wf.id,
    }
    handle = client.get_workflow_handle(wf.id, run_id=wf.run_id, result_type=CallOutcome)
    request = await _request_of(client, handle) if with_request else None
    status = wf.status
    if status == WorkflowExecutionStatus.RUNNING:
        # Visibility trails the run: a call reports to its campaign just before it closes,
        # so right after the campaign ends its calls may still be listed running.
        status = (await handle.describe()).status
    if status == WorkflowExecutionStatus.RUNNING:
        row = {**row, "status": "in_progress", "detail": fields.get("CallStatus")}
        return ResultRecord(row, request=request)
    if status != WorkflowExecutionStatus.COMPLETED:
        name = status.name.lower() if status else "unknown"
        return ResultRecord({**row, "status": "failed", "detail": f"call workflow {name}"})
    outcome: CallOutcome = await handle.result()
    row = {
        **row,
        "status": outcome.status.value,
        "call_id": outcome.call_id,
        "attempts": outcome.attempt_count,
        "disconnection_reason": outcome.disconnection_reason,
        "started_at": outcome.started_at,
        "ended_at": outcome.ended_at,
        "detail": outcome.detail,
        "from_number": await _dialed_from(client, handle, outcome, request),
    }
    return ResultRecord(row, outcome, request)


async def _request_of(
    client: Client, handle: WorkflowHandle[Any, CallOutcome]
) -> CallRequest | None:
    """The call's request, from the run's first event (decrypted with this client's keys)."""
    async for event in handle.fetch_history_events(page_size=1):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        (request,) = await client.data_converter.decode(payloads, [CallRequest])
        return request if isinstance(request, CallRequest) else None
    return None


async def _dialed_from(
    client: Client,
    handle: WorkflowHandle[Any, CallOutcome],
    outcome: CallOutcome,
    request: CallRequest | None,
) -> str | None:
    """The number the call's last attempt dialed from: the one picked from its pool, as the
    attempt records it, else the request's own (read from the run's first event unless
    already read, so only for calls that name a number: a pool's pick is on the attempt)."""
    if not outcome.attempts:
        return None  # never dialed (rejected before its first attempt)
    picked = outcome.attempts[-1].from_number
    if picked is not None:
        return picked
    if request is None:
        request = await _request_of(client, handle)
    if request is None or request.from_number is None:
        return None
    try:
        return normalize_e164("from_number", request.from_number)
    except InvalidCallRequest:
        return request.from_number


def campaign_calls(campaign_id: str) -> str:
    """The visibility query of a campaign's calls."""
    return f'WorkflowType = "{CALL_WORKFLOW}" AND CampaignId = "{campaign_id}"'


async def read_results(
    client: Client,
    query: str,
    bad_rows: tuple[BadRow, ...] = (),
    *,
    with_requests: bool = False,
) -> list[ResultRecord]:
    """Every call the visibility ``query`` lists, its outcome read through this client (so
    decrypted with its keys), and the bad rows; one record each, by row. ``with_requests``:
    each call's request too (one more read per call; the report needs the callee's zone)."""
    expected = (await client.count_workflows(query)).count
    records: list[ResultRecord] = [_bad_row(b) for b in bad_rows]
    limit = asyncio.Semaphore(READ_CONCURRENCY)
    with progress_bar() as bar:
        task = bar.add_task("reading outcomes", total=expected)

        async def one(wf: WorkflowExecution) -> None:
            async with limit:
                records.append(await _result_row(client, wf, with_requests))
            bar.advance(task)

        pending: set[asyncio.Task[None]] = set()
        async for wf in client.list_workflows(query):
            pending.add(asyncio.ensure_future(one(wf)))
            if len(pending) >= READ_CONCURRENCY * 4:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for finished in done:
                    finished.result()  # a failed read fails the export
        if pending:
            await asyncio.gather(*pending)
    records.sort(key=_by_row)
    return records


def _by_row(record: ResultRecord) -> tuple[bool, int, str]:
    row = record.row
    return (row.get("row") is None, row.get("row") or 0, row.get("workflow_id") or "")


def write_results_csv(records: list[ResultRecord], out: Path) -> None:
    with out.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(RESULT_COLUMNS)
        for record in records:
            writer.writerow([_csv_cell(record.row.get(c)) for c in RESULT_COLUMNS])


async def export_results(
    client: Client, campaign_id: str, bad_rows: tuple[BadRow, ...], out: Path
) -> int:
    """Every call of the campaign (by its CampaignId) and the bad rows: one CSV row each."""
    records = await read_results(client, campaign_calls(campaign_id), bad_rows)
    write_results_csv(records, out)
    return len(records)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return csv_safe(str(value))
