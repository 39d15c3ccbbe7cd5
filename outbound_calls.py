"""``outbound-calls``: start, inspect and cancel calls; run each component.

Every command reads the same settings as the processes (environment or ``.env``).
Exit codes: 0 done, 1 the system refused or failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from calls.codec_keys import PayloadKeyError
from calls.errors import InvalidCallRequest
from calls.logs import configure_logging, secret_values
from calls.models import CallingWindow, CallOutcome, CallRequest, CallSnapshot, RedialPolicy
from calls.payload_codec import PayloadDecryptionError
from calls.phone import mask_numbers_in
from calls.search_attributes import CALL_OUTCOME, register_search_attributes
from calls.settings import ClientSettings, TemporalSettings
from calls.start import start_call
from calls.temporal_client import connect_temporal


class CommandError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _pairs(values: Sequence[str], option: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"{option}: expected KEY=VALUE, got {item!r}", code=2)
        result[key] = value
    return result


async def _client() -> Client:
    # ClientSettings: Temporal's settings and the payload keys (PAYLOAD_KEYS, ...), so that
    # what the CLI sends is encrypted and what it reads is decrypted like every process.
    settings = ClientSettings()
    try:
        return await connect_temporal(settings)
    except RuntimeError as exc:
        raise CommandError(f"cannot reach Temporal at {settings.temporal_address}: {exc}") from None


def _handle(client: Client, workflow_id: str) -> WorkflowHandle[Any, CallOutcome]:
    return client.get_workflow_handle(workflow_id, result_type=CallOutcome)


async def _print_progress(handle: WorkflowHandle[Any, CallOutcome]) -> CallOutcome:
    result = asyncio.ensure_future(handle.result())
    last = ""
    while not result.done():
        try:
            snapshot: CallSnapshot = await handle.query(
                "status", result_type=CallSnapshot, rpc_timeout=timedelta(seconds=5)
            )
        except RPCError:
            line = "no answer to the status query: is a worker polling the task queue?"
        else:
            line = f"{snapshot.phase} (attempt {snapshot.attempt}, call {snapshot.call_id or '-'})"
        if line != last:
            print(line, file=sys.stderr)
            last = line
        await asyncio.wait({result}, timeout=1.0)
    return result.result()


async def cmd_start(args: argparse.Namespace) -> int:
    metadata = _pairs(args.metadata, "--metadata")
    if args.scenario:
        metadata["simulator_scenario"] = args.scenario
    try:
        request = CallRequest(
            to_number=args.to,
            from_number=args.from_number,
            agent_id=args.agent_id,
            agent_version=args.agent_version,
            metadata=metadata,
            dynamic_variables=_pairs(args.var, "--var"),
            dedupe_key=args.dedupe_key,
            redial=RedialPolicy(max_attempts=args.max_attempts),
            calling_window=CallingWindow(enabled=not args.no_calling_window),
        )
    except ValidationError as exc:
        raise CommandError(_validation_text(exc), code=2) from None
    client = await _client()
    try:
        handle = await start_call(
            client, request, task_queue=args.task_queue or TemporalSettings().temporal_task_queue
        )
    except InvalidCallRequest as exc:
        raise CommandError(str(exc), code=2) from None
    print(handle.id)
    if not args.wait:
        return 0
    outcome = await _print_progress(handle)
    print(outcome.model_dump_json(indent=2))
    return 0


def _validation_text(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )


async def cmd_status(args: argparse.Namespace) -> int:
    handle = _handle(await _client(), args.workflow_id)
    snapshot: CallSnapshot = await handle.query("status", result_type=CallSnapshot)
    print(snapshot.model_dump_json(indent=2))
    return 0


async def cmd_cancel(args: argparse.Namespace) -> int:
    handle = _handle(await _client(), args.workflow_id)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CommandError(f"{args.workflow_id}: no such call") from None
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        closed = description.status.name if description.status else "closed"
        outcome_attr = description.typed_search_attributes.get(CALL_OUTCOME)
        raise CommandError(f"{args.workflow_id}: already finished ({outcome_attr or closed})")
    try:
        outcome: CallOutcome = await handle.execute_update(
            "cancel", args.reason, result_type=CallOutcome
        )
    except WorkflowUpdateFailedError as exc:
        raise CommandError(f"{args.workflow_id}: {exc.cause or exc}") from None
    print(outcome.model_dump_json(indent=2))
    return 0


async def cmd_list(args: argparse.Namespace) -> int:
    clauses = ['WorkflowType = "OutboundCallWorkflow"']
    for attribute, value in (
        ("CallStatus", args.status),
        ("CallOutcome", args.outcome),
        ("CampaignId", args.campaign),
        ("RetellCallId", args.retell_call_id),
    ):
        if value:
            if not value.replace("_", "").replace("-", "").isalnum():
                raise CommandError(f"{attribute}: only letters, digits, '_' and '-'", code=2)
            clauses.append(f'{attribute} = "{value}"')
    client = await _client()
    count = 0
    async for wf in client.list_workflows(" AND ".join(clauses), limit=args.limit):
        attrs = wf.typed_search_attributes
        fields = {key.name: value for key, value in ((p.key, p.value) for p in attrs)}
        print(
            f"{wf.id}\t{wf.status.name if wf.status else '-'}\t"
            f"{fields.get('CallStatus', '-')}\t{fields.get('CallOutcome', '-')}\t"
            f"{fields.get('ToNumberMasked', '-')}\t{fields.get('RetellCallId', '-')}"
        )
        count += 1
    print(f"{count} call(s)", file=sys.stderr)
    return 0


async def cmd_register(args: argparse.Namespace) -> int:
    added = await register_search_attributes(await _client())
    print("added: " + (", ".join(added) if added else "none (all present)"))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Its own entry (like the components): a broken payload key is one of its findings,
    not a reason to stop before checking."""
    from calls.doctor import Deployment, run_checks
    from calls.settings import DoctorSettings

    settings = DoctorSettings()
    try:
        secrets = secret_values(settings)
    except PayloadKeyError:
        secrets = []  # reported by the payload-keys check
    configure_logging(level="ERROR", secrets=secrets)
    deployment = Deployment(settings, tuple(args.agent_id), args.bridge_url)
    results = asyncio.run(run_checks(deployment))
    for result in results:
        print(mask_numbers_in(result.line()))
    return 0 if all(r.ok for r in results) else 1


def _run_component(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        rest: list[str] = list(args.rest)
        if name == "worker":
            import worker

            worker.main(rest)
        elif name == "bridge":
            from bridge.__main__ import main as bridge_main

            bridge_main(rest)
        elif name == "simulator":
            from simulator.__main__ import main as simulator_main

            simulator_main(rest)
        else:
            import devstack

            return devstack.main(rest)
        return 0

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outbound-calls", description="Durable outbound AI calls: Retell AI + Temporal."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="start a call (prints its workflow id)")
    start.add_argument("--to", required=True, help="callee, E.164 (+14155550123)")
    start.add_argument("--from", dest="from_number", required=True, help="your Retell number")
    start.add_argument("--agent-id")
    start.add_argument("--agent-version", type=int)
    start.add_argument("--dedupe-key", help="the same key again attaches to the same call")
    start.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")
    start.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dynamic variable for the agent's prompt",
    )
    start.add_argument("--scenario", help="simulator scenario (simulator only)")
    start.add_argument("--max-attempts", type=int, default=1, help="redials (default 1: none)")
    start.add_argument(
        "--no-calling-window",
        action="store_true",
        help="dial at any hour (default: only 09:00-20:00 in the callee's time zone)",
    )
    start.add_argument("--task-queue", help="default: TEMPORAL_TASK_QUEUE")
    start.add_argument("--wait", action="store_true", help="show progress, print the outcome")
    start.set_defaults(run=cmd_start)

    status = sub.add_parser("status", help="show a call's snapshot (query 'status')")
    status.add_argument("workflow_id")
    status.set_defaults(run=cmd_status)

    cancel = sub.add_parser("cancel", help="cancel a call: stop redials, hang up (update 'cancel')")
    cancel.add_argument("workflow_id")
    cancel.add_argument("--reason", default="canceled from the CLI")
    cancel.set_defaults(run=cmd_cancel)

    listing = sub.add_parser("list", help="list calls by status, outcome, campaign or call id")
    listing.add_argument("--status", help="CallStatus, e.g. in_call")
    listing.add_argument("--outcome", help="CallOutcome, e.g. no_answer")
    listing.add_argument("--campaign", help="CampaignId")
    listing.add_argument("--retell-call-id")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(run=cmd_list)

    register = sub.add_parser(
        "register-search-attributes", help="register our search attributes on the namespace"
    )
    register.set_defaults(run=cmd_register)

    doctor = sub.add_parser(
        "doctor", help="check Retell key, agents, bridge, Temporal and payload keys"
    )
    doctor.add_argument(
        "--agent-id",
        action="append",
        default=[],
        help="an agent to check (besides RETELL_AGENT_IDS)",
    )
    doctor.add_argument("--bridge-url", help="the bridge to test (default: BRIDGE_PUBLIC_URL)")
    doctor.set_defaults(sync=cmd_doctor)

    for name, text in (
        ("worker", "run the worker (python worker.py)"),
        ("bridge", "run the webhook bridge (python -m bridge)"),
        ("simulator", "run the Retell simulator (python -m simulator)"),
        ("dev", "run the whole dev stack and the tour (make run)"),
    ):
        component = sub.add_parser(name, help=text, add_help=False)
        component.add_argument("rest", nargs=argparse.REMAINDER)
        component.set_defaults(sync=_run_component(name))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "sync"):
        code: int = args.sync(args)  # each component configures its own logging
        return code
    try:
        # Library warnings (temporalio, httpx) as JSON lines on stderr, masked and redacted.
        configure_logging(level="WARNING", secrets=secret_values(ClientSettings()))
        result: int = asyncio.run(args.run(args))
        return result
    except CommandError as exc:
        print(f"error: {mask_numbers_in(str(exc))}", file=sys.stderr)
        return exc.code
    except PayloadKeyError as exc:
        print(f"error: payload encryption keys: {exc}", file=sys.stderr)
        return 2
    except PayloadDecryptionError as exc:
        print(f"error: cannot decrypt what Temporal answered: {exc}", file=sys.stderr)
        return 1
    except RPCError as exc:
        print(f"error: Temporal said: {mask_numbers_in(exc.message)}", file=sys.stderr)
        return 1


def console_main() -> None:
    """Entry point of the console script."""
    code = main()
    # temporalio's native runtime can crash while CPython finalizes (a Rust thread calls
    # back into a dying interpreter), turning a clean exit into SIGSEGV; after flushing
    # our output there is nothing left to finalize that matters, so leave at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console_main()
