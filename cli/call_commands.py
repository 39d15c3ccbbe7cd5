"""The call commands: ``start``, ``result``, ``status``, ``cancel`` and ``list``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from calls.scenario_names import SCENARIO_NAMES
from cli.calls import (
    attached_text,
    describe,
    exit_code_for,
    exit_code_for_status,
    find_call,
    finished_text,
    follow,
    outcome_document,
    outcome_of_closed,
    progress_line,
    search_fields,
    snapshot_document,
    snapshot_of,
    summary_line,
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
)
from cli.connection import ui_link
from cli.failures import CliError
from cli.output import Document, OutputFormat, emit, note
from outbound_calls_client.models import (
    DEFAULT_MAX_ATTEMPTS,
    MOST_ATTEMPTS,
    CallingWindow,
    CallPhaseName,
    CallRequest,
    DialReport,
    OutcomeStatus,
    RedialPolicy,
)
from outbound_calls_client.names import CALL_WORKFLOW, SCENARIO_METADATA_KEY
from outbound_calls_client.start import start_call, workflow_id_for
from outbound_calls_client.validation import validate_request
from workflows.outbound_call import OutboundCallWorkflow

app = typer.Typer()

CallName = Annotated[str, typer.Argument(help="the call's workflow id or its dedupe key")]


def _pairs(values: Sequence[str], option: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            bad_input(f"{option}: expected KEY=VALUE, got {item!r}")
        result[key] = value
    return result


def _check_scenario(value: str | None) -> str | None:
    if value is None:
        return None
    steps = [step.strip() for step in value.split(",")]
    unknown = [step for step in steps if step not in SCENARIO_NAMES]
    if unknown:
        raise typer.BadParameter(
            f"unknown scenario {unknown[0]!r}; known: {', '.join(sorted(SCENARIO_NAMES))} "
            "(a comma list plays one per dial: no_answer,answered)"
        )
    return ",".join(steps)


def _report_outcome(session: Session, found_id: str, outcome: Any, output: OutputFormat) -> int:
    """The end of a wait: one summary line and the UI link; the exit code says the outcome."""
    link = ui_link(session.settings, found_id)
    if output is OutputFormat.TABLE:
        print(summary_line(outcome))
        print(f"  {link}")
    else:
        emit(outcome_document(outcome), output)
        note(summary_line(outcome))
        note(link)
    return int(exit_code_for(outcome))


@app.command(
    epilog=help_text(
        "outbound-calls start --to +14155550123 --from +12125550199 --agent-id agent_x "
        "--dedupe-key reminder-8812 --var customer_name=Ada --wait",
        "outbound-calls start --to +14155550123 --from +12125550199 --no-calling-window "
        "--scenario no_answer --wait -o json",
        "outbound-calls start --to +14155550123 --from +12125550199 --wait-dialed -o json",
        "outbound-calls start --to +14155550123 --from-pool sales --wait",
    )
)
def start(
    to: Annotated[str, typer.Option("--to", help="callee, E.164 (+14155550123)")],
    from_number: Annotated[
        str | None, typer.Option("--from", help="your Retell number, E.164 (or --from-pool)")
    ] = None,
    from_pool: Annotated[
        str | None,
        typer.Option(help="a caller-ID pool (outbound-calls numbers): each dial's most local"),
    ] = None,
    agent_id: AgentIdOption = None,
    agent_version: Annotated[int | None, typer.Option(min=0)] = None,
    dedupe_key: Annotated[
        str | None, typer.Option(help="the same key again attaches to the same call")
    ] = None,
    metadata: Annotated[
        list[str] | None, typer.Option(metavar="KEY=VALUE", help="Retell metadata (repeat)")
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY=VALUE", help="a dynamic variable for the agent (repeat)"),
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            callback=_check_scenario,
            help="simulator only: how the call goes (answered, no_answer, busy, ...; see README)",
        ),
    ] = None,
    max_attempts: Annotated[
        int, typer.Option(min=1, max=MOST_ATTEMPTS, help="dials (1: no redial)")
    ] = DEFAULT_MAX_ATTEMPTS,
    no_calling_window: Annotated[
        bool,
        typer.Option(
            "--no-calling-window",
            help="dial at any hour (default: only 09:00-20:00 in the callee's time zone)",
        ),
    ] = False,
    task_queue: TaskQueueOption = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="follow the call; exit code says the outcome")
    ] = False,
    wait_dialed: Annotated[
        bool,
        typer.Option(
            "--wait-dialed",
            help="answer once Retell took the call (its call id) or refused it (why)",
        ),
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Start a call (or attach to the one with the same dedupe key); prints its workflow id."""
    if wait and wait_dialed:
        bad_input("--wait and --wait-dialed: give one of them")
    fields = _pairs(metadata or [], "--metadata")
    if scenario:
        fields[SCENARIO_METADATA_KEY] = scenario
    try:
        request = CallRequest(
            to_number=to,
            from_number=from_number,
            caller_id_pool=from_pool,
            agent_id=agent_id,
            agent_version=agent_version,
            metadata=fields,
            dynamic_variables=_pairs(var or [], "--var"),
            dedupe_key=dedupe_key,
            redial=RedialPolicy(max_attempts=max_attempts),
            calling_window=CallingWindow(enabled=not no_calling_window),
        )
    except ValidationError as exc:
        bad_input(validation_text(exc))

    async def step(session: Session) -> int:
        validate_request(request)  # numbers and calling window: bad input before connecting
        client = await session.client()
        queue = task_queue or session.settings.temporal_task_queue
        existing = await describe(client, workflow_id_for(request)) if dedupe_key else None
        if wait_dialed:
            dialed = await start_call(client, request, task_queue=queue, wait_for="dialed")
            if existing is not None:
                note(attached_text(dialed.handle.id, existing))
            return _report_dial(session, dialed.dial, existing is not None, output)
        handle = await start_call(client, request, task_queue=queue)
        link = ui_link(session.settings, handle.id)
        if existing is not None:
            note(attached_text(handle.id, existing))
        if not wait:
            row = {"workflow_id": handle.id, "attached": existing is not None, "ui_url": link}
            if output is OutputFormat.TABLE:
                print(handle.id)
                note(f"follow it: outbound-calls result {handle.id}   UI: {link}")
            else:
                emit(Document(data=row, rows=[row], columns=list(row)), output)
            return 0
        if existing is None:
            note(f"started {handle.id}; Ctrl-C stops following, not the call")
        return _report_outcome(session, handle.id, await follow(handle), output)

    run_step(step)


def _report_dial(session: Session, dial: DialReport, attached: bool, output: OutputFormat) -> int:
    """``--wait-dialed``: the call id (dialed), when it will be dialed, or why it was not;
    a call that ended without being dialed exits with its outcome's code."""
    row: dict[str, Any] = {
        "workflow_id": dial.workflow_id,
        "dial": dial.status,
        "call_id": dial.call_id,
        "waiting_until": dial.waiting_until.isoformat() if dial.waiting_until else None,
        "outcome": dial.outcome.value if dial.outcome else None,
        "detail": dial.detail,
        "attached": attached,
        "ui_url": ui_link(session.settings, dial.workflow_id),
    }
    if output is OutputFormat.TABLE:
        if dial.status == "dialed":
            print(f"{dial.workflow_id}: dialed, Retell call {dial.call_id}")
        elif dial.status == "scheduled":
            print(f"{dial.workflow_id}: waits for calling hours until {row['waiting_until']}")
        else:
            print(f"{dial.workflow_id}: not dialed ({row['outcome']}): {dial.detail or ''}")
        note(f"follow it: outbound-calls result {dial.workflow_id}   UI: {row['ui_url']}")
    else:
        emit(Document(data=row, rows=[row], columns=list(row)), output)
    if dial.status == "finished" and dial.outcome is not None:
        return int(exit_code_for_status(dial.outcome))
    return 0


@app.command(
    epilog=help_text(
        "outbound-calls result call-reminder-8812", "outbound-calls result reminder-8812 -o json"
    )
)
def result(name: CallName, output: OutputOption = OutputFormat.TABLE) -> None:
    """Follow a call to its outcome (re-attach after Ctrl-C); exit code says the outcome."""

    async def step(session: Session) -> int:
        found = await find_call(await session.client(), name)
        if found.running:
            note(f"following {found.handle.id}; Ctrl-C stops following, not the call")
            outcome = await follow(found.handle)
        else:
            outcome = await outcome_of_closed(found)
        return _report_outcome(session, found.handle.id, outcome, output)

    run_step(step)


@app.command(
    epilog=help_text(
        "outbound-calls status call-reminder-8812", "outbound-calls status reminder-8812 -o json"
    )
)
def status(name: CallName, output: OutputOption = OutputFormat.TABLE) -> None:
    """Where a call stands (the status query; a finished call's outcome)."""

    async def step(session: Session) -> int:
        snapshot = await snapshot_of(await find_call(await session.client(), name))
        if snapshot.phase != "finished":
            note(progress_line(snapshot))
        emit(snapshot_document(snapshot), output)
        return 0

    run_step(step)


@app.command(epilog=help_text('outbound-calls cancel reminder-8812 --reason "paid already"'))
def cancel(
    name: CallName,
    reason: Annotated[
        str, typer.Option(help="recorded in the call's history")
    ] = "canceled from the CLI",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Cancel a call: no more redials, hang up an open call; ends as canceled."""

    async def step(session: Session) -> int:
        found = await find_call(await session.client(), name)
        if not found.running:
            raise CliError(f"{found.handle.id}: already {finished_text(found.description)}")
        outcome = await found.handle.execute_update(OutboundCallWorkflow.cancel, reason)
        emit(outcome_document(outcome), output)
        return 0

    run_step(step)


_SEARCH_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
LIST_COLUMNS = (
    "workflow_id",
    "phase",
    "outcome",
    "to_number_masked",
    "attempt",
    "retell_call_id",
    "campaign_id",
    "started_at",
    "closed_at",
)


@app.command(
    name="list",
    epilog=help_text(
        "outbound-calls list --outcome no_answer",
        "outbound-calls list --status waiting_for_window --limit 200 -o csv > waiting.csv",
        "outbound-calls list --retell-call-id call_4f2a",
    ),
)
def list_calls(
    status: Annotated[CallPhaseName | None, typer.Option(help="the phase (CallStatus)")] = None,
    outcome: Annotated[OutcomeStatus | None, typer.Option(help="the outcome (CallOutcome)")] = None,
    campaign: Annotated[str | None, typer.Option(help="CampaignId")] = None,
    retell_call_id: Annotated[str | None, typer.Option(help="RetellCallId")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="at most this many calls")] = 50,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List calls, newest first, by phase, outcome, campaign or Retell call id."""
    clauses = [f'WorkflowType = "{CALL_WORKFLOW}"']
    for attribute, option, value in (
        ("CallStatus", "--status", status),
        ("CallOutcome", "--outcome", outcome.value if outcome else None),
        ("CampaignId", "--campaign", campaign),
        ("RetellCallId", "--retell-call-id", retell_call_id),
    ):
        if value is not None:
            if not _SEARCH_VALUE.match(value):
                bad_input(f"{option}: only letters, digits, '_' and '-'")
            clauses.append(f'{attribute} = "{value}"')

    async def step(session: Session) -> int:
        client = await session.client()
        rows: list[dict[str, Any]] = []
        more = False
        async for wf in client.list_workflows(" AND ".join(clauses), limit=limit + 1):
            if len(rows) == limit:
                more = True
                break
            fields = search_fields(wf.typed_search_attributes)
            closed = wf.status.name.lower() if wf.status else "-"
            rows.append(
                {
                    "workflow_id": wf.id,
                    "phase": fields.get("CallStatus"),
                    # A run that ended without an outcome (terminated, ...) says how it ended.
                    "outcome": fields.get("CallOutcome")
                    or (None if closed in ("running", "completed") else closed),
                    "to_number_masked": fields.get("ToNumberMasked"),
                    "attempt": fields.get("CallAttempt"),
                    "retell_call_id": fields.get("RetellCallId"),
                    "campaign_id": fields.get("CampaignId"),
                    "started_at": wf.start_time,
                    "closed_at": wf.close_time,
                }
            )
        emit(Document(data=rows, rows=rows, columns=LIST_COLUMNS), output)
        note(
            f"{len(rows)} call(s)" + (f"; more match: raise --limit (now {limit})" if more else "")
        )
        return 0

    run_step(step)
