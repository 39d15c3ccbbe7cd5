"""``outbound-calls``: start, follow, inspect and cancel calls; the do-not-call list;
campaigns; and each component of the system.

Built on Typer (Click) and Rich. Each command is a small function: it checks its input,
then hands ``run`` an async step that receives a :class:`Session` (settings, a lazy
Temporal client). ``run`` turns every failure into one line and an exit code
(``cli/failures.py``), so a new command is a few lines, for example::

    @app.command(epilog=help_text("outbound-calls register-search-attributes"))
    def register_search_attributes_command() -> None:
        async def step(session: Session) -> int:
            await register_search_attributes(await session.client())
            return 0

        run(step)

Output: ``-o table`` (people; Rich on a terminal, plain when piped), ``-o json`` and
``-o csv`` (scripts: stdout holds the document only; notes and progress go to stderr).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer
from pydantic import ValidationError
from temporalio.client import Client

from adapters.dnc_store import ManagedDoNotCallList, open_do_not_call_list
from adapters.logs import configure_logging, get_logger, secret_values
from adapters.namespace_setup import register_nexus_endpoint, register_search_attributes
from adapters.process_exit import run_then_exit
from adapters.settings import ClientSettings, WorkerSettings
from cli.calls import (
    Interrupted,
    attached_text,
    describe,
    exit_code_for,
    exit_code_for_status,
    find_call,
    finished_text,
    follow,
    interrupted_text,
    outcome_document,
    outcome_of_closed,
    progress_line,
    search_fields,
    snapshot_document,
    snapshot_of,
    summary_line,
)
from cli.campaigns import check_contacts, export_results, follow_campaign
from cli.connection import check_keys, client_settings, connect, settings_error, ui_link
from cli.failures import EXIT_CODE_TABLE, CliError, ExitCode, explain, one_line
from cli.output import Document, OutputFormat, emit, note
from outbound_calls_client.campaign import (
    CampaignRequest,
    CampaignSnapshot,
    CampaignSummary,
    campaign_workflow_id,
)
from outbound_calls_client.contacts import (
    CallTemplate,
    ContactsFileError,
    ContactSource,
    detect_format,
)
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
from outbound_calls_client.names import (
    CALL_WORKFLOW,
    CAMPAIGN_WORKFLOW,
    DEFAULT_NEXUS_ENDPOINT,
    SCENARIO_METADATA_KEY,
)
from outbound_calls_client.phone import mask_number, mask_numbers_in, normalize_e164
from outbound_calls_client.start import start_call, start_campaign, workflow_id_for
from outbound_calls_client.validation import validate_request
from simulator.scenarios import SCENARIOS
from workflows.campaign import CampaignWorkflow
from workflows.outbound_call import OutboundCallWorkflow

PROG = "outbound-calls"
DISTRIBUTION = "durable-outbound-calls"

SETTINGS_TEXT = (
    "Settings (environment or .env): TEMPORAL_ADDRESS (localhost:7233), TEMPORAL_NAMESPACE "
    "(default), TEMPORAL_TASK_QUEUE (outbound-calls), PAYLOAD_KEY_FILE or PAYLOAD_KEYS (run "
    "from the checkout, the dev stack's .devstack/payload-keys.json is found by itself), "
    "TEMPORAL_UI_URL (links), TEMPORAL_API_KEY and TEMPORAL_TLS_* (a real cluster)."
)


def help_text(*examples: str, codes: str = EXIT_CODE_TABLE) -> str:
    """A command's epilog: its examples (one a line), the exit codes, the main settings."""
    lines = ["Examples:", *(f"  $ {e}" for e in examples), *codes.splitlines(), SETTINGS_TEXT]
    # Typer joins single line breaks; a blank line keeps each example on its own line.
    return "\n\n".join(line.replace("[", r"\[") for line in lines)


app = typer.Typer(
    name=PROG,
    help="Durable outbound AI calls: Retell AI calls placed and followed by Temporal.",
    epilog=help_text(
        "outbound-calls start --to +14155550123 --from +12125550199 --no-calling-window --wait",
        "outbound-calls list --outcome no_answer -o csv",
        "outbound-calls dev --once",
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
campaign_app = typer.Typer(
    help="Follow and steer a campaign (CampaignWorkflow).",
    no_args_is_help=True,
    epilog=help_text(
        "outbound-calls campaign start spring-reminders --contacts /data/contacts.csv "
        "--from +12125550199 --agent-id agent_x --wait",
        "outbound-calls campaign status spring-reminders",
        "outbound-calls campaign pause spring-reminders --reason 'new script' -o json",
        "outbound-calls campaign results spring-reminders --out results.csv",
    ),
)
dnc_app = typer.Typer(
    help="The do-not-call list (DO_NOT_CALL_DB): list, add, remove.",
    no_args_is_help=True,
    epilog=help_text("outbound-calls dnc list", "outbound-calls dnc add +14155550123"),
)
app.add_typer(campaign_app, name="campaign")
app.add_typer(dnc_app, name="dnc")


# ----- running a command ---------------------------------------------------------------------


@dataclass
class Session:
    """What a command's async step gets: settings, and a client made on first use (so that
    everything checked before it costs no connection)."""

    settings: ClientSettings
    _client: Client | None = field(default=None, repr=False)

    async def client(self) -> Client:
        if self._client is None:
            self._client = await connect(self.settings)
        return self._client


def run(step: Callable[[Session], Coroutine[Any, Any, int]]) -> NoReturn:
    """Run ``step`` and exit with its code; any failure becomes one line on stderr."""
    address = os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")
    code: int
    try:
        settings = client_settings()
        address = settings.temporal_address
        check_keys(settings)
        # Library warnings (temporalio, httpx) as JSON lines on stderr, masked and redacted.
        configure_logging(level="WARNING", secrets=secret_values(settings))
        code = asyncio.run(step(Session(settings)))
    except Interrupted as exc:
        note(interrupted_text(str(exc)))
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader left (`| head`): it has what it wanted; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except KeyboardInterrupt:
        note("interrupted")
        code = ExitCode.INTERRUPTED
    except Exception as exc:
        if os.environ.get("OUTBOUND_CALLS_DEBUG"):
            traceback.print_exc()
        error = explain(exc, temporal_address=address)
        note(f"error: {one_line(error)}")
        code = error.code
    raise typer.Exit(int(code))


def bad_input(message: str) -> NoReturn:
    note(f"error: {message}")
    raise typer.Exit(ExitCode.BAD_INPUT)


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        help="table for people; json or csv for scripts (stdout then holds only the document)",
    ),
]
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
    unknown = [step for step in steps if step not in SCENARIOS]
    if unknown:
        raise typer.BadParameter(
            f"unknown scenario {unknown[0]!r}; known: {', '.join(sorted(SCENARIOS))} "
            "(a comma list plays one per dial: no_answer,answered)"
        )
    return ",".join(steps)


def _validation_text(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )


# ----- calls ---------------------------------------------------------------------------------


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
    )
)
def start(
    to: Annotated[str, typer.Option("--to", help="callee, E.164 (+14155550123)")],
    from_number: Annotated[str, typer.Option("--from", help="your Retell number, E.164")],
    agent_id: Annotated[str | None, typer.Option(help="Retell agent (override_agent_id)")] = None,
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
    task_queue: Annotated[str | None, typer.Option(help="default: TEMPORAL_TASK_QUEUE")] = None,
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
            agent_id=agent_id,
            agent_version=agent_version,
            metadata=fields,
            dynamic_variables=_pairs(var or [], "--var"),
            dedupe_key=dedupe_key,
            redial=RedialPolicy(max_attempts=max_attempts),
            calling_window=CallingWindow(enabled=not no_calling_window),
        )
    except ValidationError as exc:
        bad_input(_validation_text(exc))

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

    run(step)


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

    run(step)


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

    run(step)


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

    run(step)


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

    run(step)


@app.command(
    name="register-search-attributes",
    epilog=help_text("outbound-calls register-search-attributes"),
)
def register_search_attributes_command() -> None:
    """Register our search attributes on the namespace (once; self-hosted clusters)."""

    async def step(session: Session) -> int:
        added = await register_search_attributes(await session.client())
        print("added: " + (", ".join(added) if added else "none (all present)"))
        return 0

    run(step)


@app.command(
    name="register-nexus-endpoint",
    epilog=help_text(
        "outbound-calls register-nexus-endpoint",
        "outbound-calls register-nexus-endpoint --name outbound-calls --task-queue outbound-calls",
    ),
)
def register_nexus_endpoint_command(
    name: Annotated[str, typer.Option(help="the endpoint's name")] = DEFAULT_NEXUS_ENDPOINT,
    task_queue: Annotated[str | None, typer.Option(help="default: TEMPORAL_TASK_QUEUE")] = None,
) -> None:
    """Create the Nexus endpoint other namespaces call us through (self-hosted or dev
    server; on Temporal Cloud create it with tcld or the Cloud UI, see docs/nexus.md)."""

    async def step(session: Session) -> int:
        queue = task_queue or session.settings.temporal_task_queue
        created = await register_nexus_endpoint(await session.client(), task_queue=queue, name=name)
        target = f"namespace {session.settings.temporal_namespace}, task queue {queue}"
        print(f"endpoint {name} {'created' if created else 'exists already'}: {target}")
        return 0

    run(step)


@app.command(
    epilog=help_text(
        "outbound-calls doctor",
        "outbound-calls doctor --agent-id agent_123 --bridge-url https://calls.example.com",
        codes="Exit codes: 0 every check passed; 1 a check failed (each is named with the fix).",
    )
)
def doctor(
    agent_id: Annotated[
        list[str] | None,
        typer.Option("--agent-id", help="an agent to check (repeatable; also RETELL_AGENT_IDS)"),
    ] = None,
    bridge_url: Annotated[
        str | None,
        typer.Option(help="the bridge to test (default: BRIDGE_PUBLIC_URL)"),
    ] = None,
) -> None:
    """Check a deployment: Retell key, agents and their webhook URL, the bridge, Temporal and
    its search attributes, payload keys. One line per check."""
    # Its own entry rather than ``run``: a broken payload key is one of its findings, not a
    # reason to stop before checking the rest.
    from adapters.codec_keys import PayloadKeyError
    from adapters.doctor import Deployment, run_checks
    from adapters.settings import DoctorSettings

    settings = DoctorSettings()
    try:
        secrets = secret_values(settings)
    except PayloadKeyError:
        secrets = []  # reported by the payload-keys check
    configure_logging(level="ERROR", secrets=secrets)
    results = asyncio.run(run_checks(Deployment(settings, tuple(agent_id or ()), bridge_url)))
    for check in results:
        print(mask_numbers_in(check.line()))
    raise typer.Exit(0 if all(r.ok for r in results) else 1)


# ----- campaigns -----------------------------------------------------------------------------

CAMPAIGN_COLUMNS = (
    "campaign_id",
    "total",
    "started",
    "finished",
    "in_flight",
    "counts",
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
    data = model.model_dump(mode="json")
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

    run(step)


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


@campaign_app.command(
    "start",
    epilog=help_text(
        "outbound-calls campaign start spring-reminders --contacts /data/contacts.csv "
        "--from +12125550199 --agent-id agent_x --max-in-flight 20",
        "outbound-calls campaign start spring-reminders --contacts "
        "https://files.example.com/contacts.jsonl --from +12125550199 --agent-id agent_x "
        "--start-at 2025-06-02T09:00:00-04:00 --wait",
    ),
)
def campaign_start(
    name: Annotated[str, typer.Argument(help="the campaign id (letters, digits, _ and -)")],
    contacts: Annotated[
        str,
        typer.Option(
            help="CSV (to_number, dedupe_key, metadata.<key>, other columns are dynamic "
            "variables) or JSON Lines; a path every worker can read, or an http(s) URL"
        ),
    ],
    from_number: Annotated[str, typer.Option("--from", help="your Retell number, E.164")],
    agent_id: Annotated[str | None, typer.Option(help="Retell agent (override_agent_id)")] = None,
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
    task_queue: Annotated[str | None, typer.Option(help="default: TEMPORAL_TASK_QUEUE")] = None,
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
                agent_id=agent_id,
                redial=RedialPolicy(max_attempts=max_attempts),
                calling_window=CallingWindow(enabled=not no_calling_window),
            ),
        )
        request = CampaignRequest(
            campaign_id=name, contacts=source, max_in_flight=max_in_flight, start_at=moment
        )
        normalize_e164("from_number", from_number)
    except ValidationError as exc:
        bad_input(_validation_text(exc))
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

    run(step)


@campaign_app.command(
    "results",
    epilog=help_text("outbound-calls campaign results spring-reminders --out results.csv"),
)
def campaign_results(
    name: CampaignName,
    out: Annotated[Path, typer.Option("--out", help="the CSV file to write")],
) -> None:
    """Per contact: row, masked number, dedupe key, outcome, call id, attempts, reason and
    times, as CSV (read through this client: decrypted with its payload keys)."""

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
        if state.invalid_rows > len(state.bad_rows):
            note(
                f"{state.invalid_rows} bad rows in all; the first {len(state.bad_rows)} are listed"
            )
        return 0

    run(step)


@campaign_app.command(
    "status", epilog=help_text("outbound-calls campaign status spring-reminders -o json")
)
def campaign_status(name: CampaignName, output: OutputOption = OutputFormat.TABLE) -> None:
    """Where a campaign stands (progress query; a finished one's summary)."""
    _campaign_step(name, output, _progress)


@campaign_app.command(
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


@campaign_app.command("resume", epilog=help_text("outbound-calls campaign resume spring-reminders"))
def campaign_resume(name: CampaignName, output: OutputOption = OutputFormat.TABLE) -> None:
    """Start calls again after a pause."""
    _campaign_step(name, output, lambda h: h.execute_update(CampaignWorkflow.resume))


@campaign_app.command(
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


# ----- the do-not-call list ------------------------------------------------------------------

DNC_CODES = "Exit codes:\n0 done\n1 could not do it (e.g. not on the list)\n2 bad input"
Number = Annotated[str, typer.Argument(help="the number, E.164 (+14155550123)")]


def _dnc_store() -> AbstractAsyncContextManager[ManagedDoNotCallList]:
    """The workers' list: DNC_DATABASE_URL (shared) when set, else DO_NOT_CALL_DB."""
    try:
        settings = WorkerSettings()
    except ValidationError as exc:
        raise settings_error(exc) from None
    return open_do_not_call_list(settings)


def _number(raw: str) -> str:
    try:
        return normalize_e164("number", raw)
    except ValueError as exc:
        bad_input(str(exc))


@dnc_app.command("list", epilog=help_text("outbound-calls dnc list -o csv", codes=DNC_CODES))
def dnc_list(output: OutputOption = OutputFormat.TABLE) -> None:
    """Every number on the list (masked), with why and when it was added."""

    async def step(session: Session) -> int:
        async with _dnc_store() as store:
            listed = await store.entries()
        rows = [
            {"number": mask_number(e.number), "reason": e.reason, "added_at": e.added_at}
            for e in listed
        ]
        emit(Document(data=rows, rows=rows, columns=("number", "reason", "added_at")), output)
        note(f"{len(rows)} number(s) on the do-not-call list")
        return 0

    run(step)


@dnc_app.command(
    "add",
    epilog=help_text(
        'outbound-calls dnc add +14155550123 --reason "asked by email"', codes=DNC_CODES
    ),
)
def dnc_add(
    number: Number,
    reason: Annotated[str, typer.Option(help="why (kept with the entry)")] = "added from the CLI",
) -> None:
    """Never dial this number again (checked before every attempt of every call)."""
    e164 = _number(number)

    async def step(session: Session) -> int:
        async with _dnc_store() as store:
            await store.add(e164, reason)
        note(f"{mask_number(e164)} is on the do-not-call list")
        return 0

    run(step)


@dnc_app.command(
    "remove",
    epilog=help_text(
        'outbound-calls dnc remove +14155550123 --reason "consent renewed, ticket 123"',
        codes=DNC_CODES,
    ),
)
def dnc_remove(
    number: Number,
    reason: Annotated[
        str | None, typer.Option(help="why (required; asked for on a terminal; kept and logged)")
    ] = None,
) -> None:
    """Take a number off the list; the removal and its reason are recorded and logged."""
    e164 = _number(number)
    if not reason:
        if not sys.stdin.isatty():
            bad_input("--reason: say why the number may be called again")
        reason = typer.prompt("Why may this number be called again?").strip()
        if not reason:
            bad_input("--reason: say why the number may be called again")
    why: str = reason

    async def step(session: Session) -> int:
        async with _dnc_store() as store:
            removed = await store.remove(e164, why)
        if not removed:
            raise CliError(f"{mask_number(e164)} is not on the do-not-call list")
        get_logger("outbound_calls.dnc").warning(
            "do_not_call_removed", number=mask_number(e164), reason=why
        )
        note(f"{mask_number(e164)} removed from the do-not-call list (reason recorded)")
        return 0

    run(step)


# ----- components ----------------------------------------------------------------------------

_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _component(name: str, text: str, example: str) -> None:
    def command(ctx: typer.Context) -> None:
        raise typer.Exit(run_component(name, list(ctx.args)))

    command.__doc__ = text
    app.command(
        name,
        context_settings=_PASS_THROUGH,
        add_help_option=False,
        epilog=f"Every option goes to the component: $ {example}",
    )(command)


def run_component(name: str, argv: list[str]) -> int:
    """One component in this process, with its own options (each configures its logging)."""
    try:
        if name == "worker":
            import worker

            worker.main(argv)
        elif name == "bridge":
            from bridge.__main__ import main as bridge_main

            bridge_main(argv)
        elif name == "simulator":
            from simulator.__main__ import main as simulator_main

            simulator_main(argv)
        else:
            import devstack

            return devstack.main(argv)
    except SystemExit as exc:  # argparse's --help and errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return 0
    return 0


_component(
    "worker",
    "Run the worker (python worker.py); options pass through.",
    "outbound-calls worker --help",
)
_component(
    "bridge",
    "Run the webhook bridge (python -m bridge); options pass through.",
    "outbound-calls bridge --port 8000",
)
_component(
    "simulator",
    "Run the Retell simulator (python -m simulator); options pass through.",
    "outbound-calls simulator --help",
)
_component(
    "dev",
    "Run the whole dev stack and the tour (make run); options pass through.",
    "outbound-calls dev --once",
)


# ----- entry points --------------------------------------------------------------------------


def _version(value: bool) -> None:
    if value:
        try:
            print(f"{PROG} {version(DISTRIBUTION)}")
        except PackageNotFoundError:
            print(f"{PROG} (not installed)")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Durable outbound AI calls: Retell AI calls placed and followed by Temporal."""


def parse_command_line(argv: Sequence[str]) -> str:
    """Parse ``argv`` as the CLI would, running nothing; answers the command's name.

    Raises ``click.UsageError`` for an unknown command or option (a deploy file's check).
    """
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    root_ctx = typer.Context(group, info_name=PROG)
    name, *rest = argv
    command = group.get_command(root_ctx, name)
    if command is None:
        raise click.UsageError(f"no command {name!r}")
    command.make_context(name, rest, parent=root_ctx)
    return name


def main(argv: Sequence[str] | None = None) -> int:
    try:
        app(args=list(argv) if argv is not None else None, prog_name=PROG)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def console_main() -> None:
    """Entry point of the console script."""
    run_then_exit(main)


if __name__ == "__main__":
    console_main()
