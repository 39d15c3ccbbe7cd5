"""The main job end to end: ``devstack.py`` as a user runs it, every process real."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest

from adapters.dev_server_record import read_record
from devstack import TOUR
from stack.ports import free_port
from tests.helpers.cli_runner import CLI

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

EXPECTED = {
    "answered": "completed",
    "no_answer": "no_answer",
    "busy": "busy",
    "voicemail": "voicemail",
    "duplicate_webhooks": "completed",
    "out_of_order": "completed",
    "webhooks_lost": "completed",
    "rate_limited": "completed",
    "lost_response": "completed",
}


async def test_main_job_prints_every_outcome(tmp_path: Path) -> None:
    assert set(EXPECTED) == set(TOUR)
    ports = {name: free_port() for name in ("temporal", "ui", "bridge", "simulator", "codec")}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RETELL_", "TEMPORAL_", "BRIDGE_", "SIMULATOR_"))
    }
    env.update(
        TEMPORAL_ADDRESS=f"127.0.0.1:{ports['temporal']}",
        TEMPORAL_UI_PORT=str(ports["ui"]),
        BRIDGE_PORT=str(ports["bridge"]),
        SIMULATOR_PORT=str(ports["simulator"]),
        CODEC_SERVER_PORT=str(ports["codec"]),
        # lost_response holds the first create answer for 30 s; do not wait 20 s for it here.
        RETELL_READ_TIMEOUT_S="3",
        RETELL_CREATE_TIMEOUT_S="3",
    )
    # Through the CLI, as `outbound-calls dev --once` (its options pass to devstack.py).
    proc = await asyncio.create_subprocess_exec(
        CLI,
        "dev",
        "--once",
        "--data-dir",
        str(tmp_path / "stack"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output_bytes, _ = await asyncio.wait_for(proc.communicate(), timeout=180)
    output = output_bytes.decode()
    assert proc.returncode == 0, output
    outcomes = dict(re.findall(r"^  (\w+)\s+(\w+)\s+reason=", output, re.MULTILINE))
    assert outcomes == EXPECTED, output
    assert f"Temporal UI: http://localhost:{ports['ui']}/namespaces/default/workflows" in output
    # The line a second shell pastes: this stack's address, key file and UI.
    key_file = tmp_path / "stack" / "payload-keys.json"
    assert (
        f"  export TEMPORAL_ADDRESS=127.0.0.1:{ports['temporal']} PAYLOAD_KEY_FILE={key_file} "
        f"TEMPORAL_UI_URL=http://localhost:{ports['ui']}\n"
    ) in output
    for name in ("worker", "bridge", "simulator", "temporal"):
        assert f"stopped {name}" in output
    # Next to its key file, the server it is for: the CLI uses the file for that one only.
    server = read_record(key_file)
    assert server is not None
    assert (server.address, server.namespace) == (f"127.0.0.1:{ports['temporal']}", "default")
    assert server.namespace_id
    assert server.cluster_id
    assert (tmp_path / "stack" / "temporal.db").exists()
    # Every process's log is JSON lines without a raw number or the key, and no errors
    # (retried activity failures are warnings).
    for log in ("worker", "bridge", "simulator"):
        text = (tmp_path / "stack" / f"{log}.log").read_text()
        assert "+14155550123" not in text, log
        assert "simulator-key" not in text, log
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert lines, log
        errors = [line for line in lines if line.get("level") in ("error", "critical")]
        assert errors == [], (log, errors)
