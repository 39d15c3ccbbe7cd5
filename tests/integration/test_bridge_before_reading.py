"""The bridge refuses on the headers before it reads a body: a real ``python -m bridge`` on
loopback, probed over raw sockets.

A request declares a large body and sends none (or only part of it): an answer that comes
back at once shows the body was never waited for. How many bodies are read before their
signature is checked is bounded; the bridge's memory and its log lines show the rest were
never read. During a rotation both webhook keys verify.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from temporalio.testing import WorkflowEnvironment

from calls.signatures import SIGNATURE_HEADER, sign_retell_body
from outbound_calls_client.names import WEBHOOK_PATH
from stack.ports import free_port
from stack.waits import eventually

pytestmark = pytest.mark.integration

NEW_KEY = "key_webhook_new_0001"
OLD_KEY = "key_webhook_old_0001"
MAX_UNVERIFIED_READS = 4
DECLARED = 32 * 1024 * 1024  # the default BRIDGE_MAX_BODY_BYTES: not refused for its size
MIB = 1024 * 1024
# An event no workflow follows: 204 once verified, without needing a workflow.
IGNORED_EVENT = json.dumps({"event": "transcript_updated", "call": {"call_id": "c_edge"}})


@dataclass(frozen=True)
class Bridge:
    port: int
    pid: int
    log: Path

    def outcomes(self) -> list[str]:
        lines = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [line["outcome"] for line in lines if line.get("event") == "webhook"]


@pytest.fixture(scope="module")
async def bridge(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Bridge]:
    port = free_port()
    log = tmp_path_factory.mktemp("bridge-edge") / "bridge.log"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "RETELL_WEBHOOK_KEY": NEW_KEY,
        "RETELL_WEBHOOK_KEY_PREVIOUS": OLD_KEY,
        "BRIDGE_MAX_UNVERIFIED_READS": str(MAX_UNVERIFIED_READS),
        "BRIDGE_PORT": str(port),
    }
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    try:
        async with httpx.AsyncClient(timeout=2, trust_env=False) as http:

            async def ready() -> bool:
                assert process.returncode is None, f"the bridge exited: see {log}"
                with contextlib.suppress(httpx.TransportError):
                    return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
                return False

            await eventually(ready, timeout_s=60, what="python -m bridge to be ready")
        yield Bridge(port, process.pid, log)
    finally:
        process.terminate()
        async with asyncio.timeout(20):
            await process.wait()


def _head(signature: str | None, length: int = DECLARED) -> bytes:
    lines = [
        f"POST {WEBHOOK_PATH} HTTP/1.1",
        "host: bridge",
        "content-type: application/json",
        f"content-length: {length}",
    ]
    if signature is not None:
        lines.append(f"{SIGNATURE_HEADER}: {signature}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _plausible() -> str:
    """A header a forger can write: the right shape, the current time, a made-up digest."""
    return f"v={int(time.time() * 1000)},d={'ab' * 32}"


async def _answer_to_headers_only(port: int, signature: str | None) -> tuple[bytes, float]:
    """Send the head of a large request and no body; what came back and how fast."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    try:
        writer.write(_head(signature))
        await writer.drain()
        async with asyncio.timeout(3):
            answer = await reader.read()  # to the end: the bridge closes after refusing
    except TimeoutError:
        answer = b""
    finally:
        writer.close()
    return answer, time.perf_counter() - started


@pytest.mark.parametrize(
    "case", ["no header", "malformed", "digest not hex", "5 min 1 s old", "5 min 1 s ahead"]
)
async def test_no_plausible_signature_is_401_before_the_body_is_read(
    bridge: Bridge, case: str
) -> None:
    now = int(time.time() * 1000)
    signature = {
        "no header": None,
        "malformed": "t=1,v1=abc",
        "digest not hex": f"v={now},d={'zz' * 32}",
        "5 min 1 s old": f"v={now - 301_000},d={'ab' * 32}",
        "5 min 1 s ahead": f"v={now + 301_000},d={'ab' * 32}",
    }[case]
    answer, elapsed = await _answer_to_headers_only(bridge.port, signature)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:80]
    assert b'{"detail":"invalid webhook signature"}' in answer
    assert elapsed < 1.0


async def _hold(port: int, sent: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A forged upload that sends ``sent`` bytes of its body and then waits."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    with contextlib.suppress(ConnectionError):
        writer.write(_head(_plausible()) + b" " * sent)
        await writer.drain()
    return reader, writer


async def test_past_the_unverified_reads_a_request_is_503_unread_until_one_ends(
    bridge: Bridge,
) -> None:
    holders = [await _hold(bridge.port, 64 * 1024) for _ in range(MAX_UNVERIFIED_READS)]
    try:
        await asyncio.sleep(0.5)
        answer, elapsed = await _answer_to_headers_only(bridge.port, _plausible())
        assert answer.startswith(b"HTTP/1.1 503"), answer[:80]
        assert b"retry-after: 1" in answer.lower()
        assert elapsed < 1.0
        async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
            url = f"http://127.0.0.1:{bridge.port}{WEBHOOK_PATH}"
            headers = {SIGNATURE_HEADER: sign_retell_body(NEW_KEY, IGNORED_EVENT.encode())}
            # Even a genuine webhook waits its turn: Retell retries a 503.
            assert (await http.post(url, content=IGNORED_EVENT, headers=headers)).status_code == 503
            for _, writer in holders[:1]:
                writer.close()

            async def accepted() -> bool:
                answer = await http.post(url, content=IGNORED_EVENT, headers=headers)
                return answer.status_code == 204

            await eventually(accepted, timeout_s=5, what="a place to free up")
    finally:
        for _, writer in holders:
            writer.close()


async def test_200_forged_uploads_at_once_cost_only_the_bounded_reads(bridge: Bridge) -> None:
    process = psutil.Process(bridge.pid)
    busy_before = bridge.outcomes().count("busy")
    before = process.memory_info().rss
    uploads = await asyncio.gather(*(_hold(bridge.port, MIB) for _ in range(200)))
    try:
        await asyncio.sleep(1.0)
        grown = process.memory_info().rss - before
        # Read in full: 200 MiB. Bounded: the reads allowed at once, plus buffers.
        assert grown < (MAX_UNVERIFIED_READS + 20) * MIB, f"grew by {grown / MIB:.0f} MiB"
    finally:
        for _, writer in uploads:
            writer.close()
    busy = bridge.outcomes().count("busy") - busy_before
    assert busy >= 200 - MAX_UNVERIFIED_READS


@pytest.mark.parametrize(("key", "status"), [(NEW_KEY, 204), (OLD_KEY, 204), ("key_other", 401)])
async def test_during_a_rotation_the_new_and_the_previous_key_verify(
    bridge: Bridge, key: str, status: int
) -> None:
    headers = {SIGNATURE_HEADER: sign_retell_body(key, IGNORED_EVENT.encode())}
    async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
        answer = await http.post(
            f"http://127.0.0.1:{bridge.port}{WEBHOOK_PATH}", content=IGNORED_EVENT, headers=headers
        )
    assert answer.status_code == status
