"""OpenTelemetry traces: one webhook's path, bridge → signal → workflow → activity → Retell.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (:func:`configure_tracing` in each
process's main): then the bridge's FastAPI app, Temporal's ``TracingInterceptor`` (client and
worker side, added where every client is made: ``adapters/temporal_client.py``) and the Retell
httpx client make spans, exported over OTLP/HTTP. Off, nothing is instrumented at all: no
interceptor, no middleware, no per-request work.

Retell's webhook carries no trace header, so its trace would start anew at the bridge. To
keep one trace per call, the create request puts the W3C ``traceparent`` of its span in the
call's metadata (key ``otel_traceparent``, only while tracing is on); Retell echoes metadata
in every webhook, and the bridge delivers the event inside a span that continues that trace
(linked to its own HTTP request span).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.api.common.v1 import Payload
from temporalio.client import Interceptor
from temporalio.converter import PayloadConverter

from adapters.settings import TracingSettings

# The metadata key that carries the create request's trace context through Retell.
TRACEPARENT_KEY = "otel_traceparent"
_TRACER_NAME = "outbound_calls"

_provider: TracerProvider | None = None


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Trace with ``provider`` from now on (None: stop). Tests pass one with an in-memory
    exporter; processes call :func:`configure_tracing` instead."""
    global _provider
    _provider = provider


def tracing_enabled() -> bool:
    return _provider is not None


def configure_tracing(service_name: str, settings: TracingSettings | None = None) -> bool:
    """Export spans over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; True if so."""
    endpoint = (settings or TracingSettings()).otel_exporter_otlp_endpoint
    if not endpoint:
        return False
    # Imported here: a process that does not trace never loads the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # OTEL_SERVICE_NAME, when set, wins over the process's own name.
    resource = Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name}
    )
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    use_tracer_provider(provider)
    return True


def temporal_interceptors() -> list[Interceptor]:
    """Temporal's tracing interceptor while tracing is on (client and worker side)."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer("temporalio"))]


def instrument_fastapi(app: FastAPI) -> None:
    """A server span for every request of ``app`` while tracing is on."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider)


def instrument_httpx(client: httpx.AsyncClient) -> None:
    """A client span (and a ``traceparent`` header) for every request ``client`` sends."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=_provider)


def with_trace_context(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """A create-phone-call body whose metadata carries the current trace (tracing on only)."""
    if _provider is None:
        return body
    carrier: dict[str, str] = {}
    inject(carrier)
    if "traceparent" not in carrier:
        return body
    metadata = {**(body.get("metadata") or {}), TRACEPARENT_KEY: carrier["traceparent"]}
    return {**body, "metadata": metadata}


@contextmanager
def webhook_span(event: str, metadata: Mapping[str, Any]) -> Iterator[None]:
    """Deliver a webhook inside a span of its call's trace (from the metadata's traceparent),
    linked to the bridge's HTTP request span."""
    if _provider is None:
        yield
        return
    request_span = trace.get_current_span().get_span_context()
    links = [trace.Link(request_span)] if request_span.is_valid else []
    traceparent = metadata.get(TRACEPARENT_KEY)
    parent = extract({"traceparent": traceparent}) if isinstance(traceparent, str) else None
    tracer = _provider.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(
        f"webhook {event}", context=parent, kind=trace.SpanKind.CONSUMER, links=links
    ):
        yield


# Where Temporal's TracingInterceptor carries the trace context in a request's header.
TEMPORAL_TRACE_HEADER = "_tracer-data"


@contextmanager
def signal_span(signal: str) -> Iterator[dict[str, Payload]]:
    """A client span for a signal sent without the client's interceptors, and the header that
    carries it, as Temporal's tracing interceptor would make them (nothing while off)."""
    if _provider is None:
        yield {}
        return
    tracer = _provider.get_tracer("temporalio")
    with tracer.start_as_current_span(f"SignalWorkflow:{signal}", kind=trace.SpanKind.CLIENT):
        carrier: dict[str, str] = {}
        inject(carrier)
        yield {TEMPORAL_TRACE_HEADER: PayloadConverter.default.to_payloads([carrier])[0]}
