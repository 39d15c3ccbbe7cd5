"""Traces: one call's spans, from the bridge's webhook request to the create's HTTP call."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from adapters.retell_client import RetellClient
from adapters.settings import BridgeSettings, TemporalSettings
from adapters.temporal_client import connect_temporal
from adapters.tracing import tracing_enabled, use_tracer_provider
from bridge.app import create_app
from outbound_calls_client.models import OutcomeStatus
from outbound_calls_client.start import start_call
from simulator.server import serve_asgi_app
from stack.ports import free_port
from tests.helpers.call_harness import SIM_KEY, call_request, call_worker, simulator_admin

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory, for this test only."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_tracer_provider(provider)
    try:
        yield exporter
    finally:
        use_tracer_provider(None)
        provider.shutdown()


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        found = by_id[parent.span_id]
        names.append(found.name)
        parent = found.parent
    return names


@pytest.mark.integration
async def test_one_trace_links_webhook_signal_workflow_and_the_create_request(
    dev_env: WorkflowEnvironment, spans: InMemorySpanExporter
) -> None:
    address = dev_env.client.service_client.config.target_host
    # A client of our own: connect_temporal adds the tracing interceptor while tracing is on.
    client = await connect_temporal(TemporalSettings(temporal_address=address))
    bridge = create_app(BridgeSettings(retell_api_key=SecretStr(SIM_KEY)), client=client)
    async with (
        serve_asgi_app(bridge) as served,
        simulator_admin(webhook_url=f"{served.base_url}/webhooks/retell") as sim,
        call_worker(client, sim.base_url) as queue,
    ):
        handle = await start_call(client, call_request("answered"), task_queue=queue)
        outcome = await asyncio.wait_for(handle.result(), timeout=60)
    assert outcome.status == OutcomeStatus.COMPLETED

    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    (create_http,) = [
        s
        for s in finished
        if s.kind.name == "CLIENT"
        and "/v2/create-phone-call"
        in str((s.attributes or {}).get("url.full") or (s.attributes or {}).get("http.url"))
    ]
    call_trace = create_http.context.trace_id
    assert "RunActivity:create_call" in ancestors(create_http, by_id)
    assert "StartWorkflow:OutboundCallWorkflow" in ancestors(create_http, by_id)
    in_trace = [s for s in finished if s.context.trace_id == call_trace]
    # Temporal's interceptor parents the workflow's own spans on the start: one trace.
    assert "RunWorkflow:OutboundCallWorkflow" in {s.name for s in in_trace}
    handled = [s for s in in_trace if s.name == "HandleSignal:call_event"]
    # Each webhook: the bridge's span, its signal, and the workflow handling it, in the
    # call's trace, under the create activity whose request carried the trace to Retell.
    assert len(handled) == 3
    for span in handled:
        # Temporal's interceptor parents a signal's handling on the workflow and links it
        # to the signal that was sent.
        (link,) = span.links
        signal = by_id[link.context.span_id]
        assert signal.name == "SignalWorkflow:call_event"
        assert signal.context.trace_id == call_trace
        chain = ancestors(signal, by_id)
        assert chain[0].startswith("webhook call_")
        assert "RunActivity:create_call" in chain
    # The bridge's HTTP request spans are linked from those webhook spans.
    request_spans = {
        s.context.span_id
        for s in finished
        if s.kind.name == "SERVER" and "/webhooks/retell" in s.name
    }
    webhook_spans = [s for s in in_trace if s.name.startswith("webhook call_")]
    assert {link.context.span_id for s in webhook_spans for link in s.links} <= request_spans
    assert len(request_spans) >= 3
    assert all(s.links for s in webhook_spans)


async def test_without_the_setting_nothing_is_instrumented(dev_env: WorkflowEnvironment) -> None:
    assert not tracing_enabled()
    address = dev_env.client.service_client.config.target_host
    client = await connect_temporal(TemporalSettings(temporal_address=address))
    assert client.config()["interceptors"] == []
    app = create_app(BridgeSettings(retell_api_key=SecretStr(SIM_KEY)), client=client)
    assert not any("OpenTelemetry" in str(m.cls) for m in app.user_middleware)

    seen: list[dict[str, object]] = []
    retell_stand_in = FastAPI()

    @retell_stand_in.post("/v2/create-phone-call")
    async def create(request: Request) -> Response:
        seen.append({"headers": dict(request.headers), "body": await request.json()})
        return Response('{"call_id": "c1"}', media_type="application/json")

    async with (
        serve_asgi_app(retell_stand_in) as served,
        RetellClient(served.base_url, "k") as retell,
    ):
        await retell.create_phone_call({"to_number": "+14155550123", "metadata": {"a": "b"}})
    (request,) = seen
    assert "traceparent" not in request["headers"]  # type: ignore[operator]
    assert request["body"] == {"to_number": "+14155550123", "metadata": {"a": "b"}}


@asynccontextmanager
async def otlp_receiver() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A stand-in OTLP/HTTP collector on loopback: records what is posted to /v1/traces."""
    received: list[bytes] = []
    app = FastAPI()

    @app.post("/v1/traces")
    async def traces(request: Request) -> Response:
        received.append(await request.body())
        return Response(b"", media_type="application/x-protobuf")

    async with serve_asgi_app(app) as served:
        yield served.base_url, received


@pytest.mark.integration
async def test_bridge_process_exports_spans_to_the_otlp_endpoint(
    dev_env: WorkflowEnvironment,
) -> None:
    """``python -m bridge`` with OTEL_EXPORTER_OTLP_ENDPOINT sends its spans there."""
    from tests.integration.test_deploy import http_ok, wait_until

    async with otlp_receiver() as (endpoint, received):
        port = free_port()
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            # It runs in the checkout: no .env of a developer's there (tests/helpers/hermetic.py).
            "OUTBOUND_CALLS_ENV_FILE": "",
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "RETELL_API_KEY": SIM_KEY,
            "BRIDGE_PORT": str(port),
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", env=env, cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/healthz"

            async def up() -> bool:
                return await http_ok(url)

            async def exported() -> bool:
                return bool(received)

            await wait_until(up, "bridge")
            async with httpx.AsyncClient() as http:
                await http.get(url)
            await wait_until(exported, "spans exported")
        finally:
            proc.terminate()
            await proc.wait()
    assert any(b"outbound-calls-bridge" in body for body in received)
    assert any(b"/healthz" in body for body in received)
