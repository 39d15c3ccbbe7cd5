"""The ``campaign`` commands: check (a dry run), start, status (--watch), pause, resume,
cancel, results and report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from adapters.caller_id_store import open_caller_id_store
from adapters.contact_log_store import open_contact_log
from adapters.dnc_store import open_do_not_call_list
from adapters.outcome_urls import OutcomeUrlPolicy
from adapters.request_check import RequestCheck
from calls.contact_limits import parse_limits
from calls.contacts_file import ContactsFileError, ReadLimits
from cli.calls import describe
from cli.campaign_check import (
    REASON_COLUMNS,
    CampaignCheck,
    report_data,
    report_notes,
)
from cli.campaigns import (
    WatchStopped,
    campaign_calls,
    check_contacts,
    dry_run,
    export_results,
    follow_campaign,
    watch_campaign,
)
from cli.command import (
    AgentIdOption,
    OutputOption,
    Session,
    TaskQueueOption,
    bad_input,
    help_text,
    run_step,
    validation_text,
    worker_settings,
)
from cli.connection import ui_link
from cli.failures import CliError, ExitCode
from cli.output import Document, OutputFormat, emit, note
from cli.report_commands import OutOption, PngOption, ShowNumbersOption, written_note
from cli.report_page import PageInfo
from cli.reports import write_report
from outbound_calls_client.bounds import check_caller_id_source
from outbound_calls_client.campaign import (
    CampaignRequest,
    CampaignSnapshot,
    CampaignSummary,
    campaign_workflow_id,
)
from outbound_calls_client.campaign_bounds import check_campaign_bounds
from outbound_calls_client.contacts import CallTemplate, ContactSource, detect_format
from outbound_calls_client.models import (
    DEFAULT_MAX_ATTEMPTS,
    MOST_ATTEMPTS,
    CallingWindow,
    RedialPolicy,
)
from outbound_calls_client.names import CAMPAIGN_WORKFLOW
from outbound_calls_client.phone import normalize_e164
from outbound_calls_client.start import start_campaign
from workflows.campaign import CampaignWorkflow

app = typer.Typer(
    help="Follow and steer a campaign (CampaignWorkflow).",
    no_args_is_help=True,
    epilog=help_text(
        "outbound-calls campaign check --contacts /data/contacts.csv --from +12125550199",
        "outbound-calls campaign start spring-reminders --contacts /data/contacts.csv "
        "--from +12125550199 --agent-id agent_x --wait",
        "outbound-calls campaign status spring-reminders",
        "outbound-calls campaign pause spring-reminders --reason 'new script' -o json",
        "outbound-calls campaign results spring-reminders --out results.csv",
        "outbound-calls campaign report spring-reminders --out report.html",
    ),
)


CAMPAIGN_COLUMNS = (
    "campaign_id",
    "total",
    "started",
    "finished",
    "in_flight",
    "counts",
    "reached",
    "paused",
    "pause_reason",
    "canceled",
    "done",
    "skipped",
    "runs",
    "invalid_rows",
    "scheduled_for",
)
CampaignName = Annotated[str, typer.Argument(help="the campaign id (or its workflow id)")]


def _campaign_document(model: CampaignSnapshot | CampaignSummary) -> Document:
    # reached: completed + returned_call, read from the counts (docs/campaigns.md).
    data = {**model.model_dump(mode="json"), "reached": model.reached}
    row = dict(data)
    row["counts"] = ",".join(f"{k}={v}" for k, v in sorted(data["counts"].items())) or None
    return Document(data=data, rows=[row], columns=CAMPAIGN_COLUMNS, record=True)


async def _campaign(session: Session, name: str) -> tuple[Any, bool]:
    workflow_id = name if name.startswith("campaign-") else campaign_workflow_id(name)
    client = await session.client()
    description = await describe(client, workflow_id)
    if description is None:
        raise CliError(f"no campaign {workflow_id} in this namespace")
    if description.workflow_type != CAMPAIGN_WORKFLOW:
        raise CliError(f"{workflow_id} is a {description.workflow_type}, not a campaign")
    handle = client.get_workflow_handle(workflow_id, result_type=CampaignSummary)
    return handle, description.status is not None and description.status.name == "RUNNING"


def _campaign_step(
    name: str, output: OutputFormat, action: Callable[[Any], Awaitable[Any]]
) -> None:
    async def step(session: Session) -> int:
        handle, running = await _campaign(session, name)
        if not running:
            summary = await handle.result()
            note(f"{handle.id} has finished")
            emit(_campaign_document(summary), output)
            return 0 if action is _progress else int(ExitCode.COULD_NOT)
        emit(_campaign_document(await action(handle)), output)
        return 0

    run_step(step)


async def _progress(handle: Any) -> CampaignSnapshot:
    snapshot: CampaignSnapshot = await handle.query(CampaignWorkflow.progress)
    return snapshot


def _start_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("expected ISO-8601, e.g. 2025-06-01T09:00:00+02:00") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("needs a time zone offset, e.g. 2025-06-01T09:00:00+02:00")
    return moment


CHECK_CODES = (
    "Exit codes:\n0 checked (refused and held rows are the report, not an error)\n"
    "1 could not check (a store could not be read)\n"
    "2 bad input (an option, a setting, a file that cannot be read as contacts)"
)


@app.command(
    "check",
    epilog=help_text(
        "outbound-calls campaign check --contacts /data/contacts.csv --from +12125550199",
        "outbound-calls campaign check --contacts /data/contacts.csv --from-pool sales -o json",
        codes=CHECK_CODES,
    ),
)
def campaign_check(
    contacts: Annotated[
        str,
        typer.Option(
            help="the contacts file as campaign start takes it (CSV or JSON Lines), a local path"
        ),
    ],
    from_number: Annotated[
        str | None, typer.Option("--from", help="your Retell number, E.164 (or --from-pool)")
    ] = None,
    from_pool: Annotated[
        str | None,
        typer.Option(help="a caller-ID pool; a row's from_number or caller_id_pool wins"),
    ] = None,
    no_calling_window: Annotated[
        bool, typer.Option("--no-calling-window", help="as campaign start's: dial at any hour")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """A dry run: what a campaign would do with this file now, placing no call and starting
    no workflow. Each row would be called now, refused (bad row, request, do-not-call list
    or registry source, empty pool, contact limit past max_hold_s) or held (calling hours,
    regional rule, caller-ID pool without a usable number, contact limit); counted per
    reason, with the rows. Reads the stores the workers read (their settings)."""
    if contacts.startswith(("http://", "https://")):
        bad_input("--contacts: campaign check reads a local file (download it first)")
    local = Path(contacts)
    if not local.is_file():
        bad_input(f"--contacts: {contacts} is not a file")
    try:
        check_caller_id_source(from_number, from_pool)
        if from_number is not None:
            normalize_e164("from_number", from_number)
        source = ContactSource(
            location=str(local.resolve()),
            format=detect_format(contacts),
            template=CallTemplate(
                from_number=from_number,
                caller_id_pool=from_pool,
                calling_window=CallingWindow(enabled=not no_calling_window),
            ),
        )
    except ValidationError as exc:
        bad_input(validation_text(exc))
    except ValueError as exc:  # InvalidCallRequest names the field and the rule
        bad_input(str(exc))

    async def step(session: Session) -> int:
        settings = worker_settings()
        limits = parse_limits(settings.contact_limits)
        try:
            # The contact log keys numbers by the workers' keyed hash.
            hash_key = settings.number_hash_secret() if limits else None
        except RuntimeError:
            raise CliError(
                "CONTACT_LIMITS is on: set NUMBER_HASH_KEY (or RETELL_WEBHOOK_KEY, "
                "RETELL_API_KEY) as the workers have it, to read their contact log",
                ExitCode.BAD_INPUT,
            ) from None
        validation = RequestCheck(
            OutcomeUrlPolicy(settings.outcome_url_hosts),
            callback_time_field=settings.callback_time_field,
            number_hash_key=hash_key,
        )
        now = datetime.now(UTC)
        async with AsyncExitStack() as stores:
            check = CampaignCheck(
                now=now,
                validation=validation,
                do_not_call=await stores.enter_async_context(open_do_not_call_list(settings)),
                caller_ids=await stores.enter_async_context(open_caller_id_store(settings)),
                contact_log=(
                    await stores.enter_async_context(open_contact_log(settings)) if limits else None
                ),
                limits=limits,
            )
            read = ReadLimits(settings.contacts_max_bytes, settings.contacts_max_line_bytes)
            try:
                await dry_run(local, source, read, check)
            except ContactsFileError as exc:
                raise CliError(f"{contacts}: {exc}", ExitCode.BAD_INPUT) from None
            except OSError as exc:
                raise CliError(f"{contacts}: {exc.strerror or exc}", ExitCode.BAD_INPUT) from None
        limits_text = settings.contact_limits
        data = report_data(
            check.report, file=source.location, checked_at=now, contact_limits=limits_text
        )
        reasons = data["reasons"]
        assert isinstance(reasons, list)
        emit(Document(data=data, rows=reasons, columns=REASON_COLUMNS), output)
        for line in report_notes(check.report):
            note(line)
        return 0

    run_step(step)


@app.command(
    "start",
    epilog=help_text(
        "outbound-calls campaign start spring-reminders --contacts /data/contacts.csv "
        "--from +12125550199 --agent-id agent_x --max-in-flight 20",
        "outbound-calls campaign start spring-reminders --contacts "
        "https://files.example.com/contacts.jsonl --from +12125550199 --agent-id agent_x "
        "--start-at 2025-06-02T09:00:00-04:00 --wait",
        "outbound-calls campaign start spring-reminders --contacts /data/contacts.csv "
        "--from-pool sales --agent-id agent_x",
    ),
)
def campaign_start(
    name: Annotated[str, typer.Argument(help="the campaign id (letters, digits, _ and -)")],
    contacts: Annotated[
        str,
        typer.Option(
            help="CSV (to_number, dedupe_key, from_number or caller_id_pool, metadata.<key>, "
            "other columns are dynamic variables) or JSON Lines; a path every worker can "
            "read, or an http(s) URL"
        ),
    ],
    from_number: Annotated[
        str | None, typer.Option("--from", help="your Retell number, E.164 (or --from-pool)")
    ] = None,
    from_pool: Annotated[
        str | None,
        typer.Option(
            help="a caller-ID pool (outbound-calls numbers): each dial's most local; "
            "a row's from_number or caller_id_pool wins"
        ),
    ] = None,
    agent_id: AgentIdOption = None,
    max_in_flight: Annotated[int, typer.Option(min=1, max=500, help="calls open at once")] = 10,
    start_at: Annotated[
        str | None, typer.Option(help="ISO-8601 with offset; the campaign waits until then")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="refuse the whole file if any row is bad")
    ] = False,
    max_attempts: Annotated[
        int, typer.Option(min=1, max=MOST_ATTEMPTS, help="dials per contact")
    ] = DEFAULT_MAX_ATTEMPTS,
    no_calling_window: Annotated[
        bool, typer.Option("--no-calling-window", help="dial at any hour")
    ] = False,
    task_queue: TaskQueueOption = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="follow with a progress bar until it ends")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Start a campaign from a contacts file (or attach to the one with this id)."""
    moment = _start_at(start_at)
    location = contacts
    local = None if contacts.startswith(("http://", "https://")) else Path(contacts)
    if local is not None:
        # Workers read the same path: pass it absolute (a shared volume mounted alike).
        location = str(local.resolve())
    try:
        source = ContactSource(
            location=location,
            format=detect_format(location),
            strict=strict,
            template=CallTemplate(
                from_number=from_number,
                caller_id_pool=from_pool,
                agent_id=agent_id,
                redial=RedialPolicy(max_attempts=max_attempts),
                calling_window=CallingWindow(enabled=not no_calling_window),
            ),
        )
        request = CampaignRequest(
            campaign_id=name, contacts=source, max_in_flight=max_in_flight, start_at=moment
        )
        check_campaign_bounds(request)  # exactly one of --from and --from-pool
        if from_number is not None:
            normalize_e164("from_number", from_number)
    except ValidationError as exc:
        bad_input(validation_text(exc))
    except ValueError as exc:  # InvalidCallRequest names the field and the rule
        bad_input(str(exc))

    async def step(session: Session) -> int:
        if local is not None and local.is_file():
            try:
                opened = await check_contacts(local, source)
            except ContactsFileError as exc:
                raise CliError(f"{contacts}: {exc}", ExitCode.BAD_INPUT) from None
            for bad in opened.bad_row_list[:20]:
                note(f"row {bad.row}: {bad.field}: {bad.message} (rule: {bad.rule})")
            note(f"{opened.records} contacts, {opened.bad_rows} bad row(s)")
            if strict and opened.bad_rows:
                raise CliError("--strict: bad rows; nothing started", ExitCode.BAD_INPUT)
        elif local is not None:
            note(f"{contacts} is not readable here; the workers must read it at {location}")
        client = await session.client()
        queue = task_queue or session.settings.temporal_task_queue
        handle = await start_campaign(client, request, task_queue=queue)
        note(f"campaign {handle.id}   UI: {ui_link(session.settings, handle.id)}")
        if not wait:
            emit(_campaign_document(await _progress(handle)), output)
            return 0
        summary = await follow_campaign(handle)
        emit(_campaign_document(summary), output)
        return int(ExitCode.CANCELED if summary.canceled else ExitCode.COMPLETED)

    run_step(step)


@app.command(
    "results",
    epilog=help_text("outbound-calls campaign results spring-reminders --out results.csv"),
)
def campaign_results(
    name: CampaignName,
    out: Annotated[Path, typer.Option("--out", help="the CSV file to write")],
) -> None:
    """Per contact: row, masked number, dedupe key, outcome, call id, attempts, reason,
    times and the number dialed from, as CSV (read through this client: decrypted with its
    payload keys)."""

    async def step(session: Session) -> int:
        handle, running = await _campaign(session, name)
        state: CampaignSnapshot | CampaignSummary = (
            await _progress(handle) if running else await handle.result()
        )
        written = await export_results(
            await session.client(), state.campaign_id, state.bad_rows, out
        )
        note(
            f"{written} row(s) written to {out}" + (" (campaign still running)" if running else "")
        )
        note(f"reached {state.reached} of {state.finished} finished (completed + returned_call)")
        if state.invalid_rows > len(state.bad_rows):
            note(
                f"{state.invalid_rows} bad rows in all; the first {len(state.bad_rows)} are listed"
            )
        return 0

    run_step(step)


@app.command(
    "status",
    epilog=help_text(
        "outbound-calls campaign status spring-reminders -o json",
        "outbound-calls campaign status spring-reminders --watch",
    ),
)
def campaign_status(
    name: CampaignName,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="live progress on stderr until the campaign ends (Ctrl-C stops)"
        ),
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Where a campaign stands (progress query; a finished one's summary); --watch follows
    it live until it ends, then prints its summary."""
    if not watch:
        _campaign_step(name, output, _progress)

    async def step(session: Session) -> int:
        handle, running = await _campaign(session, name)
        if running:
            try:
                summary = await watch_campaign(handle)
            except WatchStopped:
                note(f"stopped watching {handle.id}; the campaign goes on")
                return int(ExitCode.INTERRUPTED)
        else:
            summary = await handle.result()
        note(f"{handle.id} has finished")
        emit(_campaign_document(summary), output)
        return 0

    run_step(step)


@app.command(
    "report",
    epilog=help_text(
        "outbound-calls campaign report spring-reminders --out report.html",
        "outbound-calls campaign report spring-reminders --out report.html --png charts/",
    ),
)
def campaign_report(
    name: CampaignName,
    out: OutOption,
    png: PngOption = None,
    show_numbers: ShowNumbersOption = False,
) -> None:
    """One self-contained HTML page (charts inline, opens offline) of the campaign: contacts,
    dialed, reached, answer rate, returned calls, do-not-call learned, talk minutes; dials
    over time, answer rate by the callee's local hour and by caller number (rested numbers
    marked), attempts per contact, talk time; the numbers' health. From the same records as
    campaign results; a running campaign's report says it is partial."""

    async def step(session: Session) -> int:
        handle, running = await _campaign(session, name)
        state: CampaignSnapshot | CampaignSummary = (
            await _progress(handle) if running else await handle.result()
        )
        now = datetime.now(UTC)
        notes: tuple[str, ...] = ()
        if state.invalid_rows > len(state.bad_rows):
            notes = (
                f"{state.invalid_rows} bad rows in all; the first {len(state.bad_rows)} "
                "are counted here",
            )
        partial = None
        if running:
            partial = (
                f"the campaign is still running ({state.finished} of {state.total} contacts "
                f"finished when this report was made)"
            )
        info = PageInfo(
            title=f"Campaign {state.campaign_id}",
            subject=f"campaign {state.campaign_id} ({handle.id}), {state.total} contacts",
            made_at=now,
            partial=partial,
            notes=notes,
        )
        written = await write_report(
            await session.client(),
            campaign_calls(state.campaign_id),
            info,
            out,
            bad_rows=state.bad_rows,
            png_dir=png,
            show_numbers=show_numbers,
            now=now,
        )
        written_note(written.page, written.pngs)
        if running:
            note("the campaign is still running: the report is partial")
        return 0

    run_step(step)


@app.command(
    "pause",
    epilog=help_text('outbound-calls campaign pause spring-reminders --reason "new script"'),
)
def campaign_pause(
    name: CampaignName,
    reason: Annotated[str, typer.Option()] = "paused from the CLI",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Start no new call until resumed (calls in flight go on)."""
    _campaign_step(name, output, lambda h: h.execute_update(CampaignWorkflow.pause, reason))


@app.command("resume", epilog=help_text("outbound-calls campaign resume spring-reminders"))
def campaign_resume(name: CampaignName, output: OutputOption = OutputFormat.TABLE) -> None:
    """Start calls again after a pause."""
    _campaign_step(name, output, lambda h: h.execute_update(CampaignWorkflow.resume))


@app.command(
    "cancel",
    epilog=help_text('outbound-calls campaign cancel spring-reminders --reason "wrong list"'),
)
def campaign_cancel(
    name: CampaignName,
    reason: Annotated[str, typer.Option()] = "canceled from the CLI",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Start no new call and hang up the open ones; ends the campaign as canceled."""
    _campaign_step(name, output, lambda h: h.execute_update(CampaignWorkflow.cancel, reason))
