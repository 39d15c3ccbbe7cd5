"""What Retell keeps for inbound calls stays free: the pools grant MAX_CONCURRENT_CALLS less
RESERVED_INBOUND_CALLS, or less Retell's reserved_inbound_concurrency (docs/cap.md, "Kept for
inbound"). Real processes: the dev server, ``python worker.py``, the simulator and the bridge.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.settings import SimulatorSettings
from outbound_calls_client.models import OutcomeStatus
from outbound_calls_client.start import start_call
from simulator.server import running_simulator
from tests.helpers.call_harness import (
    SIM_KEY,
    SimulatorAdmin,
    call_request,
    process_env,
    start_worker_process,
    stop_worker_processes,
)
from tests.integration.test_call_slots import max_open_calls
from tests.integration.test_call_slots import webhooks_to as webhooks_to

pytestmark = pytest.mark.integration

CAP = "3"
CALLS = 6


async def _peak_open_calls(
    dev_env: WorkflowEnvironment,
    webhooks_to: str,
    tmp_path: Path,
    *,
    retell_reserve: int,
    **worker_settings: str,
) -> int:
    """Twice the cap of calls through one worker process with MAX_CONCURRENT_CALLS 3: the
    most the simulator had open at once."""
    queue = f"inbound-{uuid.uuid4().hex[:8]}"
    simulator = SimulatorSettings(
        simulator_time_scale=0.1,
        simulator_webhook_url=webhooks_to,
        simulator_reserved_inbound_concurrency=retell_reserve,
    )
    async with running_simulator(simulator) as running:
        sim = SimulatorAdmin(running.base_url)
        try:
            env = process_env(
                dev_env.client,
                RETELL_BASE_URL=running.base_url,
                RETELL_API_KEY=SIM_KEY,
                DO_NOT_CALL_DB=str(tmp_path / "dnc.sqlite3"),
                TEMPORAL_TASK_QUEUE=queue,
                MAX_CONCURRENT_CALLS=CAP,
                **worker_settings,
            )
            worker = await start_worker_process(env)
            try:
                handles = await asyncio.gather(
                    *(
                        start_call(
                            dev_env.client,
                            call_request(to_number=f"+1212555{4000 + i:04d}"),
                            task_queue=queue,
                        )
                        for i in range(CALLS)
                    )
                )
                outcomes = await asyncio.wait_for(
                    asyncio.gather(*(h.result() for h in handles)), timeout=120
                )
            finally:
                await stop_worker_processes(worker)
            assert [o.status for o in outcomes] == [OutcomeStatus.COMPLETED] * CALLS
            assert len(await sim.calls()) == CALLS
            return await max_open_calls(sim)
        finally:
            await sim.aclose()


@pytest.mark.parametrize(
    ("retell_reserve", "setting"),
    [
        pytest.param(0, {"RESERVED_INBOUND_CALLS": "1"}, id="the setting keeps 1"),
        pytest.param(1, {}, id="Retell keeps 1"),
        # Retell keeps 2 (one outbound slot would be left), the setting 1: the setting wins.
        pytest.param(2, {"RESERVED_INBOUND_CALLS": "1"}, id="the setting wins over Retell"),
    ],
)
async def test_a_cap_of_three_with_one_kept_for_inbound_opens_two_calls_at_most(
    dev_env: WorkflowEnvironment,
    webhooks_to: str,
    tmp_path: Path,
    retell_reserve: int,
    setting: dict[str, str],
) -> None:
    peak = await _peak_open_calls(
        dev_env, webhooks_to, tmp_path, retell_reserve=retell_reserve, **setting
    )
    assert peak == 2


async def _exit_of(env: dict[str, str]) -> tuple[int | None, str]:
    worker = await start_worker_process(env, capture=True)
    try:
        output, _ = await asyncio.wait_for(worker.communicate(), timeout=60)
    finally:
        if worker.returncode is None:
            await stop_worker_processes(worker)
    return worker.returncode, output.decode()


@pytest.mark.parametrize(
    ("retell_reserve", "setting", "named"),
    [
        (0, {"RESERVED_INBOUND_CALLS": "3"}, "RESERVED_INBOUND_CALLS (3)"),
        (4, {}, "Retell's reserved_inbound_concurrency (4)"),
    ],
)
async def test_a_reserve_that_leaves_no_outbound_call_stops_the_start(
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    retell_reserve: int,
    setting: dict[str, str],
    named: str,
) -> None:
    simulator = SimulatorSettings(simulator_reserved_inbound_concurrency=retell_reserve)
    async with running_simulator(simulator) as running:
        env = process_env(
            dev_env.client,
            RETELL_BASE_URL=running.base_url,
            RETELL_API_KEY=SIM_KEY,
            DO_NOT_CALL_DB=str(tmp_path / "dnc.sqlite3"),
            TEMPORAL_TASK_QUEUE=f"inbound-{uuid.uuid4().hex[:8]}",
            MAX_CONCURRENT_CALLS=CAP,
            **setting,
        )
        code, output = await _exit_of(env)
    assert code == 1, output
    assert "worker not started: MAX_CONCURRENT_CALLS (3) leaves no outbound call" in output
    assert named in output
    assert "RESERVED_INBOUND_CALLS" in output  # the way out, named either way
    assert "worker started" not in output


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_worker_that_cannot_read_retells_reserve_starts_with_the_whole_cap(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = process_env(
        dev_env.client,
        RETELL_BASE_URL=f"http://127.0.0.1:{_closed_port()}",
        RETELL_API_KEY=SIM_KEY,
        DO_NOT_CALL_DB=str(tmp_path / "dnc.sqlite3"),
        TEMPORAL_TASK_QUEUE=f"inbound-{uuid.uuid4().hex[:8]}",
        MAX_CONCURRENT_CALLS=CAP,
    )
    worker = await start_worker_process(env, capture=True)
    out = worker.stdout
    assert out is not None
    lines: list[dict[str, Any]] = []

    async def until_started() -> None:
        while not any(entry["event"] == "worker started" for entry in lines):
            line = await out.readline()
            assert line, "the worker exited before it started"
            if line.startswith(b"{"):
                lines.append(json.loads(line))

    try:
        await asyncio.wait_for(until_started(), timeout=30)
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.communicate(), timeout=30)
    events = {entry["event"]: entry for entry in lines}
    assert "reserved inbound calls not read from Retell" in events
    assert events["worker started"]["outbound_slots"] == 3
    assert events["worker started"]["reserved_inbound"] == 0
