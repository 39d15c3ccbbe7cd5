"""The webhook bridge in-process (httpx's ASGI transport) against a real Temporal dev server.

Signals go to a probe workflow that records what it receives, so "signalled" and "not
signalled" are read from Temporal itself rather than from a fake. Rejections target a
workflow id that does not exist: had a check been skipped, the answer would be 204
(workflow closed) instead of the rejection, so the status code alone shows the check ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import structlog
from pydantic import SecretStr
from retell.lib import webhook_auth
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.logs import configure_logging
from adapters.settings import BridgeSettings
from bridge import WEBHOOK_PATH, create_app
from calls.signatures import SIGNATURE_HEADER, sign_retell_body
from outbound_calls_client.names import CALL_EVENT_SIGNAL, WORKFLOW_ID_METADATA_KEY
from outbound_calls_client.phone import mask_number
from outbound_calls_client.retell_wire import CallEvent
from stack.ports import free_port
from stack.waits import eventually
from tests.helpers.bridge_workflows import BridgeProbeWorkflow

KEY = "key_bridge_test"
TO_NUMBER = "+14155550123"
MISSING_WORKFLOW = "no-such-workflow"
# The deadline the tests of an unreachable or silent Temporal measure; the others keep the
# default, so that a busy machine's slow signal is not taken for a Temporal that is down.
SIGNAL_TIMEOUT_S = 0.5

T = TypeVar("T")
Probe = WorkflowHandle[BridgeProbeWorkflow, int]


def bridge_settings(**overrides: Any) -> BridgeSettings:
    fields: dict[str, Any] = {"retell_webhook_key": SecretStr(KEY)}
    fields.update(overrides)
    return BridgeSettings(**fields)


def webhook(event: str, call_id: str, workflow_id: str | None = None, **call: Any) -> bytes:
    """A compact body as Retell sends it."""
    metadata = {WORKFLOW_ID_METADATA_KEY: workflow_id} if workflow_id else {}
    document = {"event": event, "call": {"call_id": call_id, "metadata": metadata, **call}}
    return json.dumps(document, separators=(",", ":")).encode()


def signed(body: bytes, *, key: str = KEY, timestamp_ms: int | None = None) -> dict[str, str]:
    return {
        SIGNATURE_HEADER: sign_retell_body(key, body, timestamp_ms),
        "content-type": "application/json",
    }


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def bridge_http(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge")


# ----- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def probe_queue(dev_env: WorkflowEnvironment) -> AsyncIterator[str]:
    queue = new_id("bridge-probe")
    async with Worker(dev_env.client, task_queue=queue, workflows=[BridgeProbeWorkflow]):
        yield queue


@pytest.fixture
async def bridge(dev_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    async with bridge_http(create_app(bridge_settings(), client=dev_env.client)) as http:
        yield http


@pytest.fixture
async def start_probe(
    dev_env: WorkflowEnvironment, probe_queue: str
) -> AsyncIterator[Callable[..., Awaitable[Probe]]]:
    started: list[Probe] = []

    async def start(retell_call_id: str | None = None) -> Probe:
        handle = await dev_env.client.start_workflow(
            BridgeProbeWorkflow.run,
            retell_call_id,
            id=new_id("probe"),
            task_queue=probe_queue,
        )
        started.append(handle)
        return handle

    yield start
    for handle in started:
        with contextlib.suppress(RPCError):  # some tests finish theirs already
            await handle.signal(BridgeProbeWorkflow.finish)


async def received(probe: Probe, *, expect: int = 1) -> list[str]:
    """``call_id:event`` of what the probe got, once it has at least ``expect`` of them."""

    async def names() -> list[str]:
        events = await probe.query(BridgeProbeWorkflow.events)
        found = [f"{e.call.call_id}:{e.event}" for e in events]
        return found if len(found) >= expect else []

    return await eventually(names)


@pytest.fixture
def bridge_log() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The bridge's JSON lines, through the production logging setup (then restored)."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_structlog = structlog.get_config()
    configure_logging(secrets=[KEY], stream=stream)

    def lines() -> list[dict[str, Any]]:
        parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
        return [line for line in parsed if line.get("logger") == "bridge"]

    yield lines
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    structlog.configure(**saved_structlog)


# ----- signatures -------------------------------------------------------------------------


async def test_body_signed_by_retell_sdk_is_signalled(
    bridge: httpx.AsyncClient, start_probe: Callable[..., Awaitable[Probe]]
) -> None:
    probe = await start_probe()
    body = webhook("call_started", "call_sdk", probe.id).decode()
    header = webhook_auth.symmetric["sign"](body, KEY)
    response = await bridge.post(WEBHOOK_PATH, content=body, headers={SIGNATURE_HEADER: header})
    assert response.status_code == 204
    assert await received(probe) == ["call_sdk:call_started"]


def test_our_signature_verifies_in_retell_sdk() -> None:
    body = webhook("call_ended", "call_1")
    assert webhook_auth.verify(body.decode(), KEY, sign_retell_body(KEY, body))
    assert not webhook_auth.verify(body.decode(), "other", sign_retell_body(KEY, body))


def _bad_signature(case: str) -> tuple[bytes, dict[str, str]]:
    body = webhook("call_ended", "call_bad", MISSING_WORKFLOW)
    now = int(time.time() * 1000)
    match case:
        case "no header":
            return body, {}
        case "garbage header":
            return body, {SIGNATURE_HEADER: "garbage"}
        case "wrong key":
            return body, signed(body, key="not-the-key")
        case "old timestamp":
            return body, signed(body, timestamp_ms=now - 5 * 60_000 - 5_000)
        case "future timestamp":
            return body, signed(body, timestamp_ms=now + 5 * 60_000 + 5_000)
        case "one byte changed":
            return body.replace(b"call_bad", b"call_baD"), signed(body)
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "no header",
        "garbage header",
        "wrong key",
        "old timestamp",
        "future timestamp",
        "one byte changed",
    ],
)
async def test_bad_signature_is_401_with_one_generic_message(
    bridge: httpx.AsyncClient, case: str
) -> None:
    body, headers = _bad_signature(case)
    response = await bridge.post(WEBHOOK_PATH, content=body, headers=headers)
    assert response.status_code == 401
    # The same words whatever failed: a forger learns nothing about which check it was.
    assert response.json() == {"detail": "invalid webhook signature"}


async def test_signature_covers_raw_bytes_not_reserialised_json(
    bridge: httpx.AsyncClient, start_probe: Callable[..., Awaitable[Probe]]
) -> None:
    probe = await start_probe()
    metadata = json.dumps({WORKFLOW_ID_METADATA_KEY: probe.id})
    raw = (
        f'{{\n  "call" : {{ "metadata" : {metadata},\t"call_id":"call_raw" }} ,'
        '\n  "event"   : "call_started"  }\n'
    ).encode()
    # The test means something only if re-serialising changes the bytes.
    assert json.dumps(json.loads(raw)).encode() != raw
    assert json.dumps(json.loads(raw), separators=(",", ":")).encode() != raw
    response = await bridge.post(WEBHOOK_PATH, content=raw, headers=signed(raw))
    assert response.status_code == 204
    assert await received(probe) == ["call_raw:call_started"]


# ----- size -------------------------------------------------------------------------------


class CountingBody:
    """A request body that counts how much of it the server pulled."""

    def __init__(self, chunks: int, size: int) -> None:
        self.chunks, self.size, self.pulled = chunks, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b" " * self.size


async def test_declared_oversize_body_is_413_without_reading_it(
    dev_env: WorkflowEnvironment,
) -> None:
    app = create_app(bridge_settings(bridge_max_body_bytes=1000), client=dev_env.client)
    body = CountingBody(chunks=10, size=500)
    async with bridge_http(app) as http:
        response = await http.post(WEBHOOK_PATH, content=body, headers={"content-length": "5000"})
    assert response.status_code == 413
    assert response.json() == {"detail": "body larger than 1000 bytes"}
    assert body.pulled == 0


async def test_streamed_oversize_body_is_413_once_past_the_limit(
    dev_env: WorkflowEnvironment,
) -> None:
    app = create_app(bridge_settings(bridge_max_body_bytes=1000), client=dev_env.client)
    body = CountingBody(chunks=10, size=500)  # chunked: no Content-Length to trust
    # A plausible signature header: without one the body is not read at all.
    headers = {SIGNATURE_HEADER: sign_retell_body(KEY, b"")}
    async with bridge_http(app) as http:
        response = await http.post(WEBHOOK_PATH, content=body, headers=headers)
    assert response.status_code == 413
    assert body.pulled == 3  # 1500 bytes > 1000: stop there, not after 5000


async def test_a_body_without_a_plausible_signature_is_401_unread(
    dev_env: WorkflowEnvironment,
) -> None:
    app = create_app(bridge_settings(), client=dev_env.client)
    for headers in ({}, {SIGNATURE_HEADER: f"v={int(time.time() * 1000) - 301_000},d={'0' * 64}"}):
        body = CountingBody(chunks=10, size=500)
        async with bridge_http(app) as http:
            response = await http.post(WEBHOOK_PATH, content=body, headers=headers)
        assert response.status_code == 401
        assert body.pulled == 0


async def test_body_of_exactly_the_limit_is_accepted(dev_env: WorkflowEnvironment) -> None:
    body = webhook("call_ended", "call_limit", MISSING_WORKFLOW)
    for limit, status in ((len(body), 204), (len(body) - 1, 413)):
        app = create_app(bridge_settings(bridge_max_body_bytes=limit), client=dev_env.client)
        async with bridge_http(app) as http:
            response = await http.post(WEBHOOK_PATH, content=body, headers=signed(body))
        assert response.status_code == status, limit


# ----- shape ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"event": "call_ended", "call": ', "body is not JSON: Expecting value"),
        (b"\xff\xfe{}", "body is not JSON"),
        (b'{"event":"call_ended","call":{"call_id":"c","duration_ms":NaN}}', "body is not JSON"),
        (b"[]", "body must be a JSON object with fields 'event' and 'call'"),
        (b'{"call": {"call_id": "c"}}', "field 'event' is required"),
        (b'{"event": 7, "call": {"call_id": "c"}}', "field 'event' must be a string"),
        (b'{"event": "call_ended"}', "field 'call' is required"),
        (b'{"event": "call_ended", "call": []}', "field 'call' must be an object"),
        (b'{"event": "call_ended", "call": {}}', "field 'call.call_id' is required"),
        (b'{"event": "call_ended", "call": {"call_id": ""}}', "field 'call.call_id' must not"),
        (
            b'{"event": "call_ended", "call": {"call_id": "c", "start_timestamp": "soon"}}',
            "field 'call.start_timestamp': ",
        ),
    ],
)
async def test_signed_body_that_is_not_an_event_is_400_naming_the_problem(
    bridge: httpx.AsyncClient, body: bytes, problem: str
) -> None:
    response = await bridge.post(WEBHOOK_PATH, content=body, headers=signed(body))
    assert response.status_code == 400
    assert response.json()["detail"].startswith(problem)


async def test_unknown_event_type_is_204_and_not_signalled(
    bridge: httpx.AsyncClient,
    start_probe: Callable[..., Awaitable[Probe]],
    bridge_log: Callable[[], list[dict[str, Any]]],
) -> None:
    probe = await start_probe()
    for body in (
        webhook("transcript_updated", "call_opt", probe.id),
        webhook("transfer_started", "call_opt", probe.id),
        b'{"event": "chat_started", "chat": {"chat_id": "chat_1"}}',
    ):
        response = await bridge.post(WEBHOOK_PATH, content=body, headers=signed(body))
        assert response.status_code == 204
    # Signals are applied in order: once this one is in, the ignored ones would be too.
    followed = webhook("call_started", "call_opt", probe.id)
    assert (await bridge.post(WEBHOOK_PATH, content=followed, headers=signed(followed))).is_success
    assert await received(probe) == ["call_opt:call_started"]
    outcomes = [(line["retell_event"], line["outcome"]) for line in bridge_log()]
    assert outcomes == [
        ("transcript_updated", "ignored"),
        ("transfer_started", "ignored"),
        ("chat_started", "ignored"),
        ("call_started", "signalled"),
    ]


# ----- routing ----------------------------------------------------------------------------


async def test_unroutable_event_is_204(
    bridge: httpx.AsyncClient, bridge_log: Callable[[], list[dict[str, Any]]]
) -> None:
    # No metadata, and no workflow carries this call id; then a call id that must never be
    # spliced into a visibility query (unsanitised, it matches every workflow).
    for call_id in (new_id("call_nobody"), 'x" OR WorkflowId != "'):
        body = webhook("call_ended", call_id)
        response = await bridge.post(WEBHOOK_PATH, content=body, headers=signed(body))
        assert response.status_code == 204
    assert [line["outcome"] for line in bridge_log()] == ["unroutable", "unroutable"]


async def test_routes_by_retell_call_id_search_attribute(
    dev_env: WorkflowEnvironment,
    bridge: httpx.AsyncClient,
    start_probe: Callable[..., Awaitable[Probe]],
    bridge_log: Callable[[], list[dict[str, Any]]],
) -> None:
    call_id = new_id("call_sa").replace("-", "_")
    probe = await start_probe(call_id)

    async def indexed() -> bool:
        count = await dev_env.client.count_workflows(f'RetellCallId = "{call_id}"')
        return count.count == 1

    assert await eventually(indexed)
    body = webhook("call_ended", call_id)  # no workflow id in metadata
    response = await bridge.post(WEBHOOK_PATH, content=body, headers=signed(body))
    assert response.status_code == 204
    assert await received(probe) == [f"{call_id}:call_ended"]
    (line,) = bridge_log()
    assert (line["outcome"], line["routed_by"], line["workflow_id"]) == (
        "signalled",
        "search_attribute",
        probe.id,
    )


async def test_closed_or_unknown_workflow_is_204(
    bridge: httpx.AsyncClient,
    start_probe: Callable[..., Awaitable[Probe]],
    bridge_log: Callable[[], list[dict[str, Any]]],
) -> None:
    probe = await start_probe()
    await probe.signal(BridgeProbeWorkflow.finish)
    assert await probe.result() == 0
    for workflow_id in (probe.id, MISSING_WORKFLOW):
        body = webhook("call_analyzed", "call_late", workflow_id)
        response = await bridge.post(WEBHOOK_PATH, content=body, headers=signed(body))
        assert response.status_code == 204
    assert [line["outcome"] for line in bridge_log()] == ["workflow_closed", "workflow_closed"]


async def test_repeated_delivery_is_answered_without_a_second_signal(
    bridge: httpx.AsyncClient,
    start_probe: Callable[..., Awaitable[Probe]],
    bridge_log: Callable[[], list[dict[str, Any]]],
) -> None:
    probe = await start_probe()
    body = webhook("call_ended", "call_twice", probe.id)
    for _ in range(2):
        response = await bridge.post(WEBHOOK_PATH, content=body, headers=signed(body))
        assert response.status_code == 204
    assert [line["outcome"] for line in bridge_log()] == ["signalled", "duplicate"]
    assert await received(probe, expect=1) == ["call_twice:call_ended"]


async def test_replicas_repeating_a_delivery_add_one_signal_to_the_history(
    dev_env: WorkflowEnvironment, start_probe: Callable[..., Awaitable[Probe]]
) -> None:
    # Three bridges, each with its own (empty) memory of recent deliveries: only the
    # request id derived from (workflow, call, event) lets Temporal drop the repeats.
    probe = await start_probe()
    body = webhook("call_ended", "call_replicas", probe.id)
    for _ in range(3):
        async with bridge_http(create_app(bridge_settings(), client=dev_env.client)) as replica:
            response = await replica.post(WEBHOOK_PATH, content=body, headers=signed(body))
            assert response.status_code == 204
    await probe.signal(BridgeProbeWorkflow.finish)
    await probe.result()
    signals = [
        event
        async for event in probe.fetch_history_events()
        if event.HasField("workflow_execution_signaled_event_attributes")
        and event.workflow_execution_signaled_event_attributes.signal_name == CALL_EVENT_SIGNAL
    ]
    assert len(signals) == 1


# ----- Temporal unavailable ---------------------------------------------------------------


async def _client_at(address: str) -> Client:
    return await Client.connect(address, lazy=True, data_converter=pydantic_data_converter)


async def test_temporal_refusing_connections_is_503_at_once(
    bridge_log: Callable[[], list[dict[str, Any]]],
) -> None:
    client = await _client_at(f"127.0.0.1:{free_port()}")
    body = webhook("call_ended", "call_down", "some-workflow")
    settings = bridge_settings(bridge_signal_timeout_s=SIGNAL_TIMEOUT_S)
    async with bridge_http(create_app(settings, client=client)) as http:
        started = time.monotonic()
        response = await http.post(WEBHOOK_PATH, content=body, headers=signed(body))
        elapsed = time.monotonic() - started
        assert (await http.get("/healthz")).status_code == 200  # alive, just not ready
        assert (await http.get("/readyz")).status_code == 503
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert elapsed < SIGNAL_TIMEOUT_S + 1
    line = bridge_log()[0]
    assert (line["outcome"], line["status"]) == ("unavailable", 503)
    assert "cannot reach Temporal" in line["reason"]


async def test_temporal_that_never_answers_is_503_within_the_timeout(
    bridge_log: Callable[[], list[dict[str, Any]]],
) -> None:
    # Accepts TCP connections and says nothing: the client waits, our deadline does not.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        client = await _client_at(f"127.0.0.1:{port}")
        body = webhook("call_ended", "call_slow", "some-workflow")
        async with (
            bridge_http(
                create_app(bridge_settings(bridge_signal_timeout_s=SIGNAL_TIMEOUT_S), client=client)
            ) as http,
            asyncio.timeout(SIGNAL_TIMEOUT_S + 5),  # the transport itself never gives up
        ):
            started = time.monotonic()
            response = await http.post(WEBHOOK_PATH, content=body, headers=signed(body))
            elapsed = time.monotonic() - started
            ready = await http.get("/readyz")
    assert response.status_code == 503
    assert SIGNAL_TIMEOUT_S * 0.9 <= elapsed < SIGNAL_TIMEOUT_S + 1
    assert ready.status_code == 503
    assert bridge_log()[0]["reason"] == f"Temporal did not answer within {SIGNAL_TIMEOUT_S:g}s"


async def test_missing_namespace_is_503_not_workflow_closed(
    dev_env: WorkflowEnvironment, bridge_log: Callable[[], list[dict[str, Any]]]
) -> None:
    # Temporal answers NOT_FOUND for a missing namespace too; acknowledging that as "workflow
    # closed" would drop every event of a misconfigured bridge without anyone retrying.
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace="no-such-namespace",
        data_converter=pydantic_data_converter,
    )
    body = webhook("call_ended", "call_ns", "some-workflow")
    async with bridge_http(create_app(bridge_settings(), client=client)) as http:
        response = await http.post(WEBHOOK_PATH, content=body, headers=signed(body))
        ready = await http.get("/readyz")
    assert (response.status_code, ready.status_code) == (503, 503)
    assert bridge_log()[0]["reason"].startswith("namespace: ")


# ----- health, logs, OpenAPI --------------------------------------------------------------


async def test_health_and_readiness(bridge: httpx.AsyncClient) -> None:
    health = await bridge.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await bridge.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_one_log_line_per_request_without_number_key_or_body(
    bridge: httpx.AsyncClient,
    start_probe: Callable[..., Awaitable[Probe]],
    bridge_log: Callable[[], list[dict[str, Any]]],
) -> None:
    probe = await start_probe()
    body = webhook(
        "call_ended",
        "call_logged",
        probe.id,
        to_number=TO_NUMBER,
        transcript="Agent: Hello Ada. User: my card number is private",
    )
    response = await bridge.post(WEBHOOK_PATH, content=body, headers=signed(body))
    assert response.status_code == 204
    bad = await bridge.post(WEBHOOK_PATH, content=body, headers={SIGNATURE_HEADER: "v=1,d=2"})
    assert bad.status_code == 401

    lines = bridge_log()
    assert len(lines) == 2
    ok, rejected = lines
    assert {k: ok[k] for k in ("workflow_id", "call_id", "retell_event", "outcome", "status")} == {
        "workflow_id": probe.id,
        "call_id": "call_logged",
        "retell_event": "call_ended",
        "outcome": "signalled",
        "status": 204,
    }
    assert ok["to_number"] == mask_number(TO_NUMBER)
    assert isinstance(ok["elapsed_ms"], float)
    assert (rejected["outcome"], rejected["status"]) == ("rejected", 401)
    assert rejected["reason"] == "malformed signature header"
    text = json.dumps(lines)
    for secret in (TO_NUMBER, KEY, "card number", body.decode()):
        assert secret not in text


async def test_docs_are_off_unless_asked_for(bridge: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await bridge.get(path)).status_code == 404


async def test_openapi_describes_the_webhook_endpoint(dev_env: WorkflowEnvironment) -> None:
    app = create_app(bridge_settings(bridge_docs=True), client=dev_env.client)
    async with bridge_http(app) as bridge:
        document = (await bridge.get("/openapi.json")).json()
    operation = document["paths"][WEBHOOK_PATH]["post"]
    assert set(operation["responses"]) == {"204", "400", "401", "413", "503"}
    assert operation["parameters"][0]["name"] == SIGNATURE_HEADER
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    followed, other = schema["oneOf"]
    assert followed["required"] == ["event", "call"]
    assert followed["properties"]["event"]["enum"] == [
        "call_started",
        "call_ended",
        "call_analyzed",
    ]
    call = followed["properties"]["call"]
    assert call["required"] == ["call_id"]
    assert "$ref" not in json.dumps(call)  # inlined: pydantic's #/$defs would dangle here
    assert other["properties"]["event"]["not"]["enum"] == followed["properties"]["event"]["enum"]
    # The documented shape of a followed event is what the parser accepts.
    sample = {"event": "call_ended", "call": {"call_id": "c", "call_analysis": None}}
    assert set(sample["call"]) <= set(call["properties"])
    CallEvent.model_validate(sample)
