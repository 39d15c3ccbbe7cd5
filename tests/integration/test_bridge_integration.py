"""The bridge end to end: real HTTP into uvicorn, a real Temporal dev server, a real worker.

Retell is the simulator, told to lose every webhook (scenario ``webhooks_lost``) so that the
test alone decides what reaches the bridge and when: it reads the bodies the simulator
would have sent from ``/_sim/calls/{id}/webhooks``, signs them with the webhook key and posts
them to the bridge, exactly as Retell's delivery (and its retries) would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from uvicorn.config import Config

from adapters.settings import BridgeSettings
from bridge import WEBHOOK_PATH, create_app
from calls.signatures import SIGNATURE_HEADER, sign_retell_body
from outbound_calls_client.models import CallSnapshot, OutcomeStatus
from outbound_calls_client.search_attributes import ALL_SEARCH_ATTRIBUTES
from outbound_calls_client.start import start_call
from stack.binaries import server_binary
from stack.ports import free_port
from tests.helpers.call_harness import (
    SimulatorAdmin,
    call_id_of,
    call_request,
    call_worker,
    eventually,
    snapshot,
)

pytestmark = pytest.mark.integration

KEY = "key_bridge_integration"
REPO = Path(__file__).resolve().parents[2]


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Ctrl-C belongs to pytest, not to a server inside its event loop.
        yield


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 with an OS-chosen port, lifespan included; yields its URL."""
    config = Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("uvicorn stopped before serving")
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def _address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


def bridge_settings(temporal_address: str, **overrides: Any) -> BridgeSettings:
    fields: dict[str, Any] = {
        "temporal_address": temporal_address,
        "retell_webhook_key": SecretStr(KEY),
        "bridge_signal_timeout_s": 1.0,
    }
    fields.update(overrides)
    return BridgeSettings(**fields)


async def post_webhook(http: httpx.AsyncClient, body: str) -> httpx.Response:
    raw = body.encode()
    headers = {SIGNATURE_HEADER: sign_retell_body(KEY, raw), "content-type": "application/json"}
    return await http.post(WEBHOOK_PATH, content=raw, headers=headers)


async def _phase(handle: Any, phase: str) -> CallSnapshot:
    async def probe() -> CallSnapshot | None:
        state = await snapshot(handle)
        return state if state.phase == phase else None

    return await eventually(probe, what=f"phase {phase}")


async def test_signed_webhooks_drive_the_call_and_repeats_are_one_transition(
    dev_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    # No client injected: the app connects in its lifespan, as `python -m bridge` does.
    app = create_app(bridge_settings(_address(dev_env)))
    async with (
        call_worker(dev_env.client, sim.base_url) as queue,
        served(app) as url,
        httpx.AsyncClient(base_url=url, timeout=5) as http,
    ):
        handle = await start_call(dev_env.client, call_request("webhooks_lost"), task_queue=queue)
        bodies = await sim.finished_events(await call_id_of(handle))

        assert (await post_webhook(http, bodies["call_started"])).status_code == 204
        await _phase(handle, "in_call")

        for _ in range(3):  # Retell's retries of one delivery
            assert (await post_webhook(http, bodies["call_ended"])).status_code == 204
        state = await _phase(handle, "awaiting_analysis")
        # The bridge answered the repeats itself: they never reached the workflow.
        assert state.duplicate_events == 0
        assert len(state.events_seen) == 2

        assert (await post_webhook(http, bodies["call_analyzed"])).status_code == 204
        outcome = await handle.result()
        assert (await snapshot(handle)).duplicate_events == 0
    assert outcome.status == OutcomeStatus.COMPLETED
    assert outcome.disconnection_reason == "user_hangup"
    assert outcome.call_analysis is not None
    # Nothing was polled: the webhooks through the bridge carried the whole call.
    assert await sim.requests("/get-call") == []


async def test_an_hour_long_calls_signed_call_ended_is_accepted_and_folded_in(
    dev_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    """Word-level transcripts of an hour make call_ended several MiB: the default body
    limit takes it (the old 1 MiB one answered 413, and Retell drops it after 3 tries)."""
    app = create_app(bridge_settings(_address(dev_env)))
    metadata = {"simulator_scenario": "webhooks_lost", "simulator_duration_s": "3600"}
    async with (
        call_worker(dev_env.client, sim.base_url) as queue,
        served(app) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        handle = await start_call(dev_env.client, call_request(metadata=metadata), task_queue=queue)
        bodies = await sim.finished_events(await call_id_of(handle))
        ended = bodies["call_ended"]
        assert len(ended.encode()) > 2 * 1024 * 1024
        assert len(json.loads(ended)["call"]["transcript_object"]) > 100

        assert (await post_webhook(http, bodies["call_started"])).status_code == 204
        assert (await post_webhook(http, ended)).status_code == 204
        state = await _phase(handle, "awaiting_analysis")
        assert any(e.endswith(":call_ended") for e in state.events_seen)
        assert (await post_webhook(http, bodies["call_analyzed"])).status_code == 204
        outcome = await handle.result()
    assert outcome.status == OutcomeStatus.COMPLETED
    assert outcome.disconnection_reason == "user_hangup"
    # Folded in from the webhook, not from a poll.
    assert await sim.requests("/get-call") == []


async def _start_dev_server(port: int, database: Path) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        port=port,
        dev_server_existing_path=server_binary("temporal"),
        dev_server_database_filename=str(database),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )


async def test_temporal_down_is_503_and_the_retried_delivery_lands_once_it_is_back(
    sim: SimulatorAdmin, tmp_path: Path
) -> None:
    port = free_port()
    database = tmp_path / "temporal.sqlite"
    server = await _start_dev_server(port, database)
    settings = bridge_settings(f"127.0.0.1:{port}")
    timeout_s = settings.bridge_signal_timeout_s
    try:
        # One client for worker and caller, independent of the server process it outlives.
        client = await Client.connect(f"127.0.0.1:{port}", data_converter=pydantic_data_converter)
        async with (
            call_worker(client, sim.base_url) as queue,
            served(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as http,
        ):
            handle = await start_call(client, call_request("webhooks_lost"), task_queue=queue)
            bodies = await sim.finished_events(await call_id_of(handle))
            assert (await post_webhook(http, bodies["call_started"])).status_code == 204
            await _phase(handle, "in_call")

            await server.shutdown()
            started = time.monotonic()
            refused = await post_webhook(http, bodies["call_ended"])
            assert refused.status_code == 503
            assert time.monotonic() - started < timeout_s + 2
            assert (await http.get("/readyz")).status_code == 503

            server = await _start_dev_server(port, database)  # same file: the call survived

            async def retried_delivery() -> bool:
                # Retell's retry of the same delivery, until Temporal takes it.
                return (await post_webhook(http, bodies["call_ended"])).status_code == 204

            await eventually(retried_delivery, what="the retried delivery to land")
            assert (await http.get("/readyz")).status_code == 200
            assert (await post_webhook(http, bodies["call_analyzed"])).status_code == 204
            outcome = await asyncio.wait_for(handle.result(), timeout=15)
        assert outcome.status == OutcomeStatus.COMPLETED
        assert outcome.call_analysis is not None
    finally:
        await server.shutdown()


async def test_python_dash_m_bridge_serves_with_json_logs_only(
    dev_env: WorkflowEnvironment,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": _address(dev_env),
        "RETELL_API_KEY": KEY,
        "BRIDGE_HOST": "0.0.0.0",  # the flag below must win
    }
    env.pop("RETELL_WEBHOOK_KEY", None)
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bridge", "--host", "127.0.0.1", "--port", str(port)),
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            async def ready() -> bool:
                with contextlib.suppress(httpx.TransportError):
                    return (await http.get("/readyz")).status_code == 200
                assert process.returncode is None, "the bridge exited"
                return False

            await eventually(ready, timeout_s=15, what="python -m bridge to be ready")
            body = json.dumps({"event": "transcript_updated", "call": {"call_id": "c_main"}})
            assert (await post_webhook(http, body)).status_code == 204
            forged = await http.post(WEBHOOK_PATH, content=body, headers={SIGNATURE_HEADER: "x"})
            assert forged.status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), timeout=15)
    output = (out + err).decode()
    # uvicorn drains, then re-raises SIGTERM so the exit status says what stopped it.
    assert process.returncode in (0, -signal.SIGTERM)
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert any(line["event"].startswith("Finished server process") for line in lines)
    webhook_lines = [line for line in lines if line.get("event") == "webhook"]
    assert [line["outcome"] for line in webhook_lines] == ["ignored", "rejected"]
    assert KEY not in output
    assert "HTTP/1.1" not in output  # no uvicorn access log


def test_python_dash_m_bridge_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--host" in result.stdout
    assert "--port" in result.stdout
