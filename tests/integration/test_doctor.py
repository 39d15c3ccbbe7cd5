"""``outbound-calls doctor`` as a user runs it, against the simulator, a real bridge and a
real Temporal dev server, all on loopback."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.dnc_postgres import PostgresDoNotCallList
from adapters.do_not_call import SqliteDoNotCallList
from adapters.registry import SourceFile
from adapters.settings import BridgeSettings, SimulatorSettings
from bridge import create_app
from simulator.server import running_simulator, serve_asgi_app
from tests.helpers.call_harness import SIM_KEY

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Deployment:
    temporal_address: str
    simulator_url: str
    bridge_url: str
    agents: dict[str, str]  # name -> agent_id


async def _agent(http: httpx.AsyncClient, webhook_url: str | None) -> str:
    body: dict[str, object] = {
        "voice_id": "11labs-Adrian",
        "response_engine": {"type": "retell-llm", "llm_id": "llm_doctor"},
    }
    if webhook_url is not None:
        body["webhook_url"] = webhook_url
    response = await http.post("/create-agent", json=body)
    response.raise_for_status()
    agent_id: str = response.json()["agent_id"]
    return agent_id


@pytest.fixture
async def deployment(dev_env: WorkflowEnvironment) -> AsyncIterator[Deployment]:
    bridge_app = create_app(BridgeSettings(retell_api_key=SIM_KEY), client=dev_env.client)
    async with (
        serve_asgi_app(bridge_app) as bridge,
        running_simulator(SimulatorSettings()) as sim,
        httpx.AsyncClient(
            base_url=sim.base_url, headers={"Authorization": f"Bearer {SIM_KEY}"}
        ) as http,
    ):
        ours = bridge.base_url + "/webhooks/retell"
        agents = {
            "good": await _agent(http, ours),
            "elsewhere": await _agent(http, "http://127.0.0.1:9/other-hook"),
            "unhooked": await _agent(http, None),
        }
        yield Deployment(
            dev_env.client.service_client.config.target_host, sim.base_url, bridge.base_url, agents
        )


async def doctor(tmp_path: Path, deployment: Deployment, **settings: str) -> tuple[int, str]:
    """Run ``python -m cli doctor`` in a clean environment (no .env, no inherited keys)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RETELL_", "TEMPORAL_", "BRIDGE_", "PAYLOAD_"))
    }
    env.update(
        TEMPORAL_ADDRESS=deployment.temporal_address,
        RETELL_BASE_URL=deployment.simulator_url,
        RETELL_API_KEY=SIM_KEY,
        BRIDGE_PUBLIC_URL=deployment.bridge_url,
        RETELL_AGENT_IDS=deployment.agents["good"],
    )
    env.update(settings)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "doctor",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


def _line(output: str, name: str) -> str:
    (found,) = [line for line in output.splitlines() if f" {name}: " in line]
    return found


async def test_a_healthy_deployment_passes_every_check(
    tmp_path: Path, deployment: Deployment
) -> None:
    code, output = await doctor(tmp_path, deployment)
    assert code == 0, output
    for name in ("Retell API key", f"agent {deployment.agents['good']}", "bridge", "Temporal"):
        assert _line(output, name).startswith("ok "), output
    assert _line(output, "payload keys").startswith("ok ")
    assert _line(output, "do-not-call registry").startswith("ok ")
    assert "FAIL" not in output


async def test_a_wrong_key_is_named_with_what_to_change(
    tmp_path: Path, deployment: Deployment
) -> None:
    code, output = await doctor(
        tmp_path, deployment, RETELL_API_KEY="wrong-key", RETELL_WEBHOOK_KEY=SIM_KEY
    )
    assert code == 1
    line = _line(output, "Retell API key")
    assert line.startswith("FAIL ")
    assert "RETELL_API_KEY" in line
    assert "Change: set RETELL_API_KEY" in line
    assert "wrong-key" not in output
    assert _line(output, "bridge").startswith("ok ")  # only what is wrong fails


async def test_missing_and_misrouted_agents_are_each_named(
    tmp_path: Path, deployment: Deployment
) -> None:
    agents = deployment.agents
    ids = [agents["good"], "agent_missing", agents["elsewhere"], agents["unhooked"]]
    code, output = await doctor(tmp_path, deployment, RETELL_AGENT_IDS=",".join(ids))
    assert code == 1
    want = deployment.bridge_url + "/webhooks/retell"
    assert _line(output, f"agent {agents['good']}").startswith("ok ")
    missing = _line(output, "agent agent_missing")
    assert missing.startswith("FAIL ")
    assert "does not exist" in missing
    elsewhere = _line(output, f"agent {agents['elsewhere']}")
    assert elsewhere.startswith("FAIL ")
    assert "http://127.0.0.1:9/other-hook" in elsewhere
    assert f"set the agent's webhook_url to {want}" in elsewhere
    unhooked = _line(output, f"agent {agents['unhooked']}")
    assert unhooked.startswith("FAIL ")
    assert "no webhook_url" in unhooked


async def test_a_bridge_with_another_key_or_no_bridge_at_all_fails(
    tmp_path: Path, deployment: Deployment
) -> None:
    code, output = await doctor(tmp_path, deployment, RETELL_WEBHOOK_KEY="another-key")
    assert code == 1
    assert "RETELL_WEBHOOK_KEY" in _line(output, "bridge")
    code, output = await doctor(tmp_path, deployment, BRIDGE_PUBLIC_URL="http://127.0.0.1:9")
    assert code == 1
    bridge = _line(output, "bridge")
    assert bridge.startswith("FAIL ")
    assert "cannot reach" in bridge
    assert "another-key" not in output


async def test_unusable_payload_keys_are_a_finding_not_a_crash(
    tmp_path: Path, deployment: Deployment
) -> None:
    code, output = await doctor(tmp_path, deployment, PAYLOAD_KEYS="k1:not-base64!")
    assert code == 1
    keys = _line(output, "payload keys")
    assert keys.startswith("FAIL ")
    assert "PAYLOAD_KEYS" in keys
    assert _line(output, "Temporal").startswith("ok ")


FILE = SourceFile("national.txt", "0" * 64)
STALE = "UPDATE registry_sources SET imported_at = {} WHERE name = 'national-2026-10'"


async def test_a_registry_source_older_than_31_days_fails_naming_it_and_the_fix(
    tmp_path: Path, deployment: Deployment
) -> None:
    db = tmp_path / "dnc.sqlite3"
    store = SqliteDoNotCallList(db)
    await store.import_source("national-2026-10", iter(["+14155550101"]), FILE)
    await store.import_source("state-fl", iter(["+14155550102", "+14155550103"]), FILE)
    code, output = await doctor(tmp_path, deployment, DO_NOT_CALL_DB=str(db))
    assert code == 0, output
    assert _line(output, "registry source state-fl").startswith("ok "), output
    assert "2 numbers, imported 0 days ago" in _line(output, "registry source state-fl")

    forty_days_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    with sqlite3.connect(db) as written:
        written.execute(STALE.format("?"), (forty_days_ago,))
    code, output = await doctor(tmp_path, deployment, DO_NOT_CALL_DB=str(db))
    assert code == 1
    line = _line(output, "registry source national-2026-10")
    assert line.startswith("FAIL"), output
    assert "imported 40 days ago" in line
    assert "more than 31 days" in line
    assert "outbound-calls dnc import FILE --source national-2026-10" in line
    assert _line(output, "registry source state-fl").startswith("ok ")


async def test_the_shared_list_s_sources_are_checked_too(
    tmp_path: Path, deployment: Deployment, dnc_database_url: str
) -> None:
    async with PostgresDoNotCallList.connect(dnc_database_url) as store:
        await store.import_source("national-2026-10", iter(["+14155550101"]), FILE)
    with psycopg.connect(dnc_database_url) as written:
        written.execute(STALE.format("now() - interval '32 days'"))
    code, output = await doctor(tmp_path, deployment, DNC_DATABASE_URL=dnc_database_url)
    assert code == 1
    assert "imported 32 days ago" in _line(output, "registry source national-2026-10")
