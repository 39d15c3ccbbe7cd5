"""The long steps of the campaign commands, each with a Rich progress bar on stderr: checking
a contacts file (its rows, or what a campaign would do with each), following a campaign, and
exporting its results as CSV."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowHandle

from adapters.contacts_file import contacts_at, scan_path
from calls.contacts_file import ReadLimits
from cli.calls import search_fields
from cli.campaign_check import CampaignCheck
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


def _bad_row(bad: BadRow) -> dict[str, Any]:
    return {
        "row": bad.row,
        "status": "invalid_row",
        "detail": f"{bad.field}: {bad.message} (rule: {bad.rule})",
    }


async def _result_row(client: Client, wf: WorkflowExecution) -> dict[str, Any]:
    memo = await wf.memo()
    fields = search_fields(wf.typed_search_attributes)
    row: dict[str, Any] = {
        "row": memo.get(CAMPAIGN_ROW_MEMO_KEY),
        "to_number_masked": memo.get("to_number_masked") or fields.get("ToNumberMasked"),
        "dedupe_key": memo.get("dedupe_key"),
        "workflow_id": wf.id,
    }
    handle = client.get_workflow_handle(wf.id, run_id=wf.run_id, result_type=CallOutcome)
    status = wf.status
    if status == WorkflowExecutionStatus.RUNNING:
        # Visibility trails the run: a call reports to its campaign just before it closes,
        # so right after the campaign ends its calls may still be listed running.
        status = (await handle.describe()).status
    if status == WorkflowExecutionStatus.RUNNING:
        return {**row, "status": "in_progress", "detail": fields.get("CallStatus")}
    if status != WorkflowExecutionStatus.COMPLETED:
        name = status.name.lower() if status else "unknown"
        return {**row, "status": "failed", "detail": f"call workflow {name}"}
    outcome: CallOutcome = await handle.result()
    return {
        **row,
        "status": outcome.status.value,
        "call_id": outcome.call_id,
        "attempts": outcome.attempt_count,
        "disconnection_reason": outcome.disconnection_reason,
        "started_at": outcome.started_at,
        "ended_at": outcome.ended_at,
        "detail": outcome.detail,
        "from_number": await _dialed_from(client, handle, outcome),
    }


async def _dialed_from(
    client: Client, handle: WorkflowHandle[Any, CallOutcome], outcome: CallOutcome
) -> str | None:
    """The number the call's last attempt dialed from: the one picked from its pool, as the
    attempt records it, else the request's own (read from the run's first event, so only
    for calls that name a number: a pool's pick is on the attempt)."""
    if not outcome.attempts:
        return None  # never dialed (rejected before its first attempt)
    picked = outcome.attempts[-1].from_number
    if picked is not None:
        return picked
    async for event in handle.fetch_history_events(page_size=1):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        (request,) = await client.data_converter.decode(payloads, [CallRequest])
        if not isinstance(request, CallRequest) or request.from_number is None:
            return None
        try:
            return normalize_e164("from_number", request.from_number)
        except InvalidCallRequest:
            return request.from_number
    return None


async def export_results(
    client: Client, campaign_id: str, bad_rows: tuple[BadRow, ...], out: Path
) -> int:
    """Every call of the campaign (by its CampaignId), its outcome read through this
    client (so decrypted with its keys), and the bad rows; one CSV row each, by row."""
    query = f'WorkflowType = "{CALL_WORKFLOW}" AND CampaignId = "{campaign_id}"'
    expected = (await client.count_workflows(query)).count
    rows: list[dict[str, Any]] = [_bad_row(b) for b in bad_rows]
    limit = asyncio.Semaphore(READ_CONCURRENCY)
    with progress_bar() as bar:
        task = bar.add_task("reading outcomes", total=expected)

        async def one(wf: WorkflowExecution) -> None:
            async with limit:
                rows.append(await _result_row(client, wf))
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
    rows.sort(key=lambda r: (r.get("row") is None, r.get("row") or 0, r.get("workflow_id") or ""))
    with out.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(RESULT_COLUMNS)
        for row in rows:
            writer.writerow([_csv_cell(row.get(c)) for c in RESULT_COLUMNS])
    return len(rows)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return csv_safe(str(value))
