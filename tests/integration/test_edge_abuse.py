"""The public edge probed as an attacker would: real processes on loopback, bounded loops.

One stack (Temporal dev server, simulator, bridge, worker: ``stack/processes.py``), a second
bridge replica and a codec server, each a real OS process writing its log to a file. The
last test reads every one of those logs (and the stderr of a start with bad settings) for
secrets and phone numbers in any common written form.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import os
import secrets
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import pytest
import structlog
from temporalio.client import Client

from adapters.codec_keys import PayloadKeys
from adapters.logs import configure_logging, get_logger
from adapters.outcome_urls import OutcomeUrlPolicy, OutcomeUrlRefused
from adapters.payload_codec import converter_for, with_data_converter
from calls.signatures import SIGNATURE_HEADER, sign_retell_body
from outbound_calls_client.models import OutcomeStatus
from outbound_calls_client.start import start_call
from stack.config import StackConfig
from stack.ports import free_port
from stack.processes import ProcessStack
from tests.helpers.call_harness import SIM_KEY, TO_NUMBER, call_id_of, call_request, eventually

pytestmark = pytest.mark.integration

PAYLOAD_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
CODEC_TOKEN = "codec-edge-token-" + uuid.uuid4().hex
HEADER_TIMEOUT_S = 3.0
BODY_TIMEOUT_S = 3.0
# TO_NUMBER (+14155550123) as people, forms and URLs write it.
NUMBER_FORMS = (
    "14155550123",
    "(415) 555-0123",
    "%2B14155550123",
    "+1 415-555-0123",
    "415-555-0123",
    "4155550123",
)
WEBHOOK = "/webhooks/retell"


@contextlib.asynccontextmanager
async def _process(
    argv: list[str], env: dict[str, str], log: Path, ready_url: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process (log to ``log``), once ``ready_url`` answers 200; stopped after."""
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=log.parent, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    try:
        async with httpx.AsyncClient(timeout=2, trust_env=False) as http:

            async def ready() -> bool:
                assert proc.returncode is None, f"{argv[2]} exited: see {log}"
                with contextlib.suppress(httpx.TransportError):
                    return (await http.get(ready_url)).status_code == 200
                return False

            await eventually(ready, timeout_s=60, what=f"{argv[2]} to serve")
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            async with asyncio.timeout(20):
                await proc.wait()


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ProcessStack]:
    config = StackConfig(
        env={
            "PAYLOAD_KEYS": f"edge:{PAYLOAD_KEY}",
            "BRIDGE_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
            "BRIDGE_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
            # Explicit: other tests and defaults may change; these probes assume 1 MiB.
            "BRIDGE_MAX_BODY_BYTES": str(1024 * 1024),
        }
    )
    async with ProcessStack(tmp_path_factory.mktemp("edge"), config).running() as running:
        yield running


@pytest.fixture(scope="module")
async def replica_url(stack: ProcessStack) -> AsyncIterator[str]:
    """A second bridge on the same Temporal: a replica with its own memory."""
    port = free_port()
    env = {**stack.environment(), "BRIDGE_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "bridge"]
    async with _process(argv, env, stack.data_dir / "bridge-replica.log", f"{url}/readyz"):
        yield url


@pytest.fixture(scope="module")
async def codec_url(stack: ProcessStack) -> AsyncIterator[str]:
    port = free_port()
    env = {
        **stack.environment(),
        "CODEC_SERVER_PORT": str(port),
        "CODEC_SERVER_TOKEN": CODEC_TOKEN,
    }
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "codec_server"]
    async with _process(argv, env, stack.data_dir / "codec_server.log", f"{url}/healthz"):
        yield url


def _client(stack: ProcessStack) -> Client:
    """The stack's client with the stack's payload key (every payload is encrypted)."""
    keys = PayloadKeys(current_id="edge", keys={"edge": base64.b64decode(PAYLOAD_KEY)})
    return with_data_converter(stack.client, converter_for(keys))


def _signed(body: str) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign_retell_body(SIM_KEY, body.encode()), "content-type": "json"}


# ----- replays -----------------------------------------------------------------------------


async def test_one_webhook_posted_2000_times_costs_no_history(
    stack: ProcessStack, replica_url: str
) -> None:
    handle = await start_call(
        _client(stack), call_request("webhooks_lost"), task_queue=stack.task_queue
    )
    bodies = await stack.sim.finished_events(await call_id_of(handle))
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        started = await http.post(
            f"{stack.bridge_url}{WEBHOOK}",
            content=bodies["call_started"],
            headers=_signed(bodies["call_started"]),
        )
        assert started.status_code == 204
        # One capture, replayed within its 5-minute window to both replicas at once.
        ended, headers = bodies["call_ended"], _signed(bodies["call_ended"])
        statuses: list[int] = []

        async def replay(sender: int) -> None:
            base = (stack.bridge_url, replica_url)[sender % 2]
            for _ in range(100):
                response = await http.post(f"{base}{WEBHOOK}", content=ended, headers=headers)
                statuses.append(response.status_code)

        await asyncio.gather(*(replay(i) for i in range(20)))
        assert len(statuses) == 2000
        assert set(statuses) == {204}
        analyzed = await http.post(
            f"{stack.bridge_url}{WEBHOOK}",
            content=bodies["call_analyzed"],
            headers=_signed(bodies["call_analyzed"]),
        )
        assert analyzed.status_code == 204
    async with asyncio.timeout(60):
        outcome = await handle.result()
    assert outcome.status == OutcomeStatus.COMPLETED
    assert outcome.disconnection_reason == "user_hangup"
    events = [event async for event in handle.fetch_history_events()]
    assert len(events) < 100


# ----- slow and large requests ---------------------------------------------------------------


async def _closed(reader: asyncio.StreamReader) -> bytes | None:
    """What the server sent before closing, or None while the connection is open."""
    try:
        async with asyncio.timeout(0.05):
            data = await reader.read()
    except TimeoutError:
        return None
    return data


async def test_headers_one_line_per_2s_are_cut_off_within_the_header_timeout(
    stack: ProcessStack,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.config.bridge_port)
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", stack.config.bridge_port)
    writer.write(f"POST {WEBHOOK} HTTP/1.1\r\nhost: bridge\r\n".encode())
    answer: bytes | None = None
    lines_sent = 0
    try:
        for lines_sent in range(1, 11):  # 20 s at most: far past the 3 s timeout
            await asyncio.sleep(2)
            answer = await _closed(reader)
            if answer is not None:
                break
            writer.write(f"x-slow-{lines_sent}: 1\r\n".encode())
            await writer.drain()
        idle_answer = await _closed(idle_reader)
    finally:
        writer.close()
        idle_writer.close()
    # Cut within the timeout: after the line sent at 2 s, before the one due at 4 s.
    assert answer is not None, f"still open after {lines_sent} lines"
    assert lines_sent <= 2
    assert answer.startswith(b"HTTP/1.1 408")
    # A socket that never sent a byte is cut off the same way.
    assert idle_answer is not None
    assert idle_answer.startswith(b"HTTP/1.1 408")


async def test_a_body_at_one_byte_per_2s_is_cut_off_within_the_body_timeout(
    stack: ProcessStack,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.config.bridge_port)
    # A plausible signature header: without one the bridge answers 401 before any body.
    signature = f"{SIGNATURE_HEADER}: {sign_retell_body(SIM_KEY, b'')}"
    head = f"POST {WEBHOOK} HTTP/1.1\r\nhost: bridge\r\n{signature}\r\ncontent-length: 100\r\n"
    writer.write(f"{head}\r\n".encode())
    answer: bytes | None = None
    bytes_sent = 0
    try:
        while bytes_sent < 10:
            await asyncio.sleep(2)
            answer = await _closed(reader)
            if answer is not None:
                break
            writer.write(b"{")
            await writer.drain()
            bytes_sent += 1
    finally:
        writer.close()
    assert answer is not None, f"still open after {bytes_sent} bytes"
    # Cut within the timeout: after the byte sent at 2 s, before the one due at 4 s.
    assert bytes_sent <= 1
    # Closed unanswered: the body was being waited for, not refused on the headers.
    assert answer == b"", answer[:60]


async def _send_huge_headers(port: int, total: int) -> tuple[bytes, int]:
    """Send ``total`` bytes of headers on an unsigned webhook; the answer and bytes sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    line = b"x-filler: " + b"a" * 1000 + b"\r\n"
    try:
        writer.write(f"POST {WEBHOOK} HTTP/1.1\r\nhost: bridge\r\n".encode())
        while sent < total:
            writer.write(line)
            await writer.drain()
            sent += len(line)
        writer.write(b"content-length: 2\r\n\r\n{}")
        await writer.drain()
    except ConnectionError:
        pass  # refused before the end: what we want
    try:
        async with asyncio.timeout(10):
            answer = await reader.read(4096)
    except ConnectionError:
        answer = b""
    writer.close()
    return answer, sent


async def test_a_mebibyte_of_headers_is_refused_before_any_401_and_costs_no_memory(
    stack: ProcessStack,
) -> None:
    bridge = psutil.Process(stack.pid("bridge"))
    before = bridge.memory_info().rss
    results = await asyncio.gather(
        *(_send_huge_headers(stack.config.bridge_port, 1024 * 1024) for _ in range(8))
    )
    grown = bridge.memory_info().rss - before
    for answer, sent in results:
        assert not answer.startswith(b"HTTP/1.1 401")
        # Refused (400 from the size cap), or cut off before the end was even sent.
        assert answer.startswith(b"HTTP/1.1 400") or sent < 1024 * 1024, answer[:60]
    assert grown < 4 * 1024 * 1024, f"bridge grew by {grown / 1e6:.1f} MB"


async def test_too_many_header_lines_are_431(stack: ProcessStack) -> None:
    headers = {f"x-h{i}": "1" for i in range(150)}
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        response = await http.post(f"{stack.bridge_url}{WEBHOOK}", content=b"{}", headers=headers)
    assert response.status_code == 431


async def test_docs_are_not_served(stack: ProcessStack, codec_url: str) -> None:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        for base in (stack.bridge_url, codec_url):
            for path in ("/docs", "/redoc", "/openapi.json"):
                assert (await http.get(f"{base}{path}")).status_code == 404, f"{base}{path}"


# ----- codec server ------------------------------------------------------------------------


async def test_codec_server_refuses_100000_payloads_and_still_answers(codec_url: str) -> None:
    headers = {
        "authorization": f"Bearer {CODEC_TOKEN}",
        "content-type": "application/json",
        "x-namespace": f"ns {NUMBER_FORMS[2]}",
    }
    flood = json.dumps({"payloads": [{}] * 100_000}).encode()
    normal = json.dumps(
        {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IjEi"}]}
    )
    async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
        refused = await http.post(f"{codec_url}/decode", content=flood, headers=headers)
        answered = await http.post(f"{codec_url}/encode", content=normal, headers=headers)
    assert refused.status_code == 413
    assert "payloads" in refused.json()["detail"]
    assert answered.status_code == 200
    assert len(answered.json()["payloads"]) == 1


def test_codec_server_refuses_a_wildcard_origin_at_start(tmp_path: Path) -> None:
    from codec_server.__main__ import main

    os.environ.pop("CODEC_SERVER_CORS_ORIGINS", None)
    env = {"PAYLOAD_KEYS": f"edge:{PAYLOAD_KEY}", "CODEC_SERVER_CORS_ORIGINS": "*"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.chdir(tmp_path)
        with pytest.raises(SystemExit, match="'\\*' is not allowed"):
            main([])


# ----- outcome destinations ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/outcomes",
        "http://10.1.2.3/outcomes",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:9/outcomes",  # a name resolving to loopback
        "http://[::1]:9/outcomes",
        "http://[::ffff:127.0.0.1]:9/outcomes",
    ],
)
async def test_internal_outcome_destinations_are_refused_unless_listed(url: str) -> None:
    with pytest.raises(OutcomeUrlRefused) as refused:
        await OutcomeUrlPolicy().resolve(url)
    assert "outcome_url" in str(refused.value)
    assert refused.value.rule == "public_address"
    host = httpx.URL(url).host
    allowed = await OutcomeUrlPolicy([host]).resolve(url)
    assert allowed.host == host.lower()


async def test_an_allow_list_refuses_every_other_host() -> None:
    policy = OutcomeUrlPolicy(["hooks.example.com"])
    with pytest.raises(OutcomeUrlRefused, match="not in OUTCOME_URL_ALLOWED_HOSTS"):
        await policy.resolve("https://8.8.8.8/outcomes")


async def test_a_call_to_an_internal_outcome_url_is_rejected_before_dialing(
    stack: ProcessStack,
) -> None:
    request = call_request(outcome_url="http://169.254.169.254/latest/meta-data/")
    handle = await start_call(_client(stack), request, task_queue=stack.task_queue)
    async with asyncio.timeout(60):
        outcome = await handle.result()
    assert outcome.status == OutcomeStatus.REJECTED
    assert outcome.attempts == ()
    assert "outcome_url" in (outcome.detail or "")
    assert "public_address" in (outcome.detail or "")


def test_a_secret_cut_short_is_still_redacted_and_long_values_are_cut_after() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, structlog.get_config())
    configure_logging(secrets=[PAYLOAD_KEY], stream=stream)
    try:
        get_logger("edge").warning(
            "probe",
            cut=f"key was {PAYLOAD_KEY[:20]}…",
            long="x" * 5000 + PAYLOAD_KEY,
            numbers=" / ".join(NUMBER_FORMS),
        )
    finally:
        root.handlers[:], level, config = saved
        root.setLevel(level)
        structlog.configure(**config)
    line = json.loads(stream.getvalue())
    assert PAYLOAD_KEY[:12] not in stream.getvalue()
    assert line["cut"] == "key was [redacted]…"
    assert len(line["long"]) < 2100
    assert [form for form in NUMBER_FORMS if form in line["numbers"]] == []


# ----- what every process wrote -------------------------------------------------------------


async def test_no_secret_and_no_number_in_any_output(
    stack: ProcessStack, replica_url: str, codec_url: str
) -> None:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        # A signed event of a type nobody follows: its name reaches the bridge's log line.
        for form in NUMBER_FORMS:
            body = json.dumps({"event": f"x {form}", "call": {"call_id": f"c {form}"}})
            for base in (stack.bridge_url, replica_url):
                response = await http.post(f"{base}{WEBHOOK}", content=body, headers=_signed(body))
                assert response.status_code == 204
        # A codec request whose key id is a payload key (pasted in the wrong place).
        wrong = {"encoding": "YmluYXJ5L2VuY3J5cHRlZA==", "encryption-key-id": PAYLOAD_KEY[:30]}
        await http.post(
            f"{codec_url}/decode",
            json={"payloads": [{"metadata": {k: _b64(v) for k, v in wrong.items()}}]},
            headers={"authorization": f"Bearer {CODEC_TOKEN}"},
        )
    # A start with a secret where a number belongs: the settings error must not show it.
    bad = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        env={**stack.environment(), "BRIDGE_PORT": PAYLOAD_KEY, "BRIDGE_MAX_HEADERS": TO_NUMBER},
        cwd=stack.data_dir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(60):
        bad_output = (await bad.communicate())[0].decode(errors="replace")
    assert bad.returncode != 0
    assert "BRIDGE_PORT" in bad_output.upper() or "bridge_port" in bad_output

    outputs = {"bad-settings start": bad_output}
    for log in sorted(stack.data_dir.glob("*.log")):
        if log.name != "temporal.log":  # the dev server's own log holds no request data
            outputs[log.name] = log.read_text(errors="replace")
    assert {"bridge.log", "bridge-replica.log", "worker.log", "codec_server.log"} <= set(outputs)
    key_bytes = base64.b64decode(PAYLOAD_KEY)
    forbidden = [
        PAYLOAD_KEY[:16],
        key_bytes.hex()[:16],
        base64.urlsafe_b64encode(key_bytes).decode()[:16],
        CODEC_TOKEN,
        TO_NUMBER,
        *NUMBER_FORMS,
    ]
    leaks = {name: [f for f in forbidden if f in text] for name, text in outputs.items()}
    assert {name: found for name, found in leaks.items() if found} == {}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_every_process_of_the_stack_is_still_up(stack: ProcessStack) -> None:
    for name in ("temporal", "simulator", "bridge", "worker"):
        assert stack.is_running(name), stack.log_tail(name)
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        assert (await http.get(f"{stack.bridge_url}/readyz")).status_code == 200
    assert psutil.pid_exists(stack.pid("bridge"))
