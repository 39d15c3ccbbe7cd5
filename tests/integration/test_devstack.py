"""The main job end to end: ``devstack.py`` as a user runs it, every process real."""

from __future__ import annotations

import asyncio
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.caller_ids import SqliteCallerIdStore
from adapters.dev_server_record import read_record
from devstack import (
    DEMO_FROM,
    DEMO_POOL,
    DEMO_POOL_NUMBERS,
    LOCAL_CALLER_ID,
    RETURNED_CALL,
    RETURNED_CALL_TO,
    TOUR,
)
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
    LOCAL_CALLER_ID: "completed",
    RETURNED_CALL: "returned_call",
}


async def test_main_job_prints_every_outcome(tmp_path: Path) -> None:
    assert set(EXPECTED) == {*TOUR, LOCAL_CALLER_ID, RETURNED_CALL}
    ports = {name: free_port() for name in ("temporal", "ui", "bridge", "simulator", "codec")}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RETELL_", "TEMPORAL_", "BRIDGE_", "SIMULATOR_"))
    }
    store = tmp_path / "stack" / "do_not_call.sqlite3"
    env.update(
        TEMPORAL_ADDRESS=f"127.0.0.1:{ports['temporal']}",
        TEMPORAL_UI_PORT=str(ports["ui"]),
        BRIDGE_PORT=str(ports["bridge"]),
        SIMULATOR_PORT=str(ports["simulator"]),
        CODEC_SERVER_PORT=str(ports["codec"]),
        # lost_response holds the first create answer for 30 s; do not wait 20 s for it here.
        RETELL_READ_TIMEOUT_S="3",
        RETELL_CREATE_TIMEOUT_S="3",
        # The worker's store (the tour's caller-ID pool goes there), not the checkout's.
        DO_NOT_CALL_DB=str(store),
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
    # The pool's call dialed from its San Francisco number, local to the 415 callee.
    assert (
        f"dialed from {DEMO_POOL_NUMBERS[0]}, the local one (same area code as the callee) "
        f"of pool {DEMO_POOL}\n"
    ) in output, output
    # The missed callee called back while the call waited to redial: no second attempt.
    returned = re.search(
        rf"^  {RETURNED_CALL}\s+returned_call reason=dial_no_answer\s+attempts=1 "
        rf"call_id=(call_\w+)\n\s+called {re.escape(DEMO_FROM)} back \(inbound (call_\w+)\): "
        r"redial stopped, 1 of 2 attempts\n",
        output,
        re.MULTILINE,
    )
    assert returned is not None, output
    assert returned[1] == returned[2]
    assert f"  {RETURNED_CALL:<20} … waiting to redial: the callee calls {DEMO_FROM} back" in output
    pool = await SqliteCallerIdStore(store).numbers(DEMO_POOL, datetime.now(UTC))
    assert {n.number: n.used_today for n in pool} == {
        DEMO_POOL_NUMBERS[0]: 1,
        DEMO_POOL_NUMBERS[1]: 0,
        DEMO_POOL_NUMBERS[2]: 0,
    }
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
        assert RETURNED_CALL_TO not in text, log
        assert "simulator-key" not in text, log
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert lines, log
        errors = [line for line in lines if line.get("level") in ("error", "critical")]
        assert errors == [], (log, errors)
