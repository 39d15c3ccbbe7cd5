"""The bridge as an ASGI app: Retell's signed webhooks in, ``call_event`` signals out.

One Temporal client per process, opened in the lifespan (or injected by tests). A request
is answered 2xx only once Temporal has accepted its signal, or once it is clear that no
retry could ever deliver it; everything transient answers 503, so that Retell retries and
no event is lost. Each request writes exactly one JSON log line saying what became of it.

Checks run cheapest first and before anything is believed. On the headers alone: the declared
size, then the signature header's shape and time window; a request that fails either is
refused without a byte of its body read. Then the body is read, at most
``BRIDGE_MAX_UNVERIFIED_READS`` at once (a forger can make a plausible header, so this is
what bounds the memory unverified bodies hold), and the signature is checked over the raw
bytes; then the shape, routing and the signal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from adapters.http_server import docs_routes
from adapters.logs import get_logger
from adapters.settings import BridgeSettings
from adapters.temporal_client import connect_temporal
from adapters.tracing import instrument_fastapi
from bridge.inbound import InboundOutcome, ReturnedCalls, parse_inbound
from bridge.openapi import READINESS_RESPONSES, WEBHOOK_RESPONSES, Health, webhook_openapi_extra
from bridge.routing import Delivery, EventRouter, Outcome
from bridge.webhook import IgnoredEvent, MalformedWebhook, parse_webhook
from calls.signatures import (
    SIGNATURE_HEADER,
    InvalidSignature,
    parse_signature_header,
    verify_signed_body,
)
from outbound_calls_client.names import INBOUND_WEBHOOK_PATH, WEBHOOK_PATH
from outbound_calls_client.phone import mask_number

# One message for every signature failure: which check failed is for our log, not a forger.
UNAUTHORIZED_DETAIL = "invalid webhook signature"
UNAVAILABLE_DETAIL = "Temporal is unavailable; retry this delivery later"
BUSY_DETAIL = "too many webhooks being received at once; retry this delivery later"
READINESS_TIMEOUT_S = 2.0
# Retell retries on its own schedule; the header helps any other sender back off.
RETRY_AFTER_S = "1"

log = get_logger("bridge")


# A refusal sent before the body is read closes the connection: the unread body must not be
# waited for (or drained) to keep the connection alive.
_CLOSE = {"Connection": "close"}


class BodyTooLarge(Exception):
    pass


def check_declared_length(request: Request, limit: int) -> None:
    """Raise :class:`BodyTooLarge` when the headers already say the body is over ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"content-length {declared} exceeds {limit} bytes")


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing one over ``limit`` bytes as early as its size is known."""
    check_declared_length(request, limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(f"body exceeds {limit} bytes")
    return bytes(body)


@dataclass
class _RequestLine:
    """The one log line of a webhook request, filled in as the request goes."""

    started: float = field(default_factory=time.perf_counter)
    outcome: Outcome | None = None
    status: int | None = None
    workflow_id: str | None = None
    call_id: str | None = None
    retell_event: str | None = None
    to_number: str | None = None
    routed_by: str | None = None
    reason: str | None = None
    failed_unexpectedly: bool = False

    def emit(self) -> None:
        outcome = self.outcome or Outcome.UNAVAILABLE
        fields: dict[str, Any] = {
            "outcome": outcome.value,
            "status": self.status,
            "elapsed_ms": round((time.perf_counter() - self.started) * 1000, 1),
            "workflow_id": self.workflow_id,
            "call_id": self.call_id,
            # structlog's "event" is the message itself; Retell's event name gets its own key.
            "retell_event": self.retell_event,
        }
        for name in ("to_number", "routed_by", "reason"):
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        if self.failed_unexpectedly:
            log.exception("webhook", **fields)
        elif outcome is Outcome.UNAVAILABLE:
            log.error("webhook", **fields)
        elif outcome in (Outcome.REJECTED, Outcome.BUSY):
            log.warning("webhook", **fields)
        else:
            log.info("webhook", **fields)


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _answer(delivery: Delivery) -> Response:
    if delivery.outcome is Outcome.UNAVAILABLE:
        return _problem(503, UNAVAILABLE_DETAIL, {"Retry-After": RETRY_AFTER_S})
    return Response(status_code=204)


class _Temporal:
    """The process's Temporal client, set at construction (tests) or in the lifespan."""

    def __init__(self, client: Client | None, timeout_s: float, recent_capacity: int) -> None:
        self._timeout_s = timeout_s
        self._recent_capacity = recent_capacity
        self.client: Client | None = None
        self.router: EventRouter | None = None
        if client is not None:
            self.attach(client)

    def attach(self, client: Client) -> None:
        self.client = client
        self.router = EventRouter(
            client, timeout_s=self._timeout_s, recent_capacity=self._recent_capacity
        )

    def require(self) -> tuple[Client, EventRouter]:
        if self.client is None or self.router is None:
            raise RuntimeError("no Temporal client: the app's lifespan did not run")
        return self.client, self.router


class _UnverifiedReads:
    """How many bodies are being read before their signature is checked, up to a limit.

    No waiting for a place: a request past the limit is answered at once, unread, so a flood
    costs neither memory nor a queue. One event loop: a plain counter is enough.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._reading = 0

    def try_enter(self) -> bool:
        if self._reading >= self.limit:
            return False
        self._reading += 1
        return True

    def leave(self) -> None:
        self._reading -= 1


class _WebhookHandler:
    def __init__(self, settings: BridgeSettings, temporal: _Temporal) -> None:
        # Read once at start: a missing key fails the process, not the first webhook.
        self._keys = settings.webhook_keys()
        self._max_body = settings.bridge_max_body_bytes
        self._unverified = _UnverifiedReads(settings.bridge_max_unverified_reads)
        self._temporal = temporal

    async def __call__(self, request: Request) -> Response:
        line = _RequestLine()
        try:
            response = await self._handle(request, line)
        except Exception as err:
            # A bug or an unforeseen failure: still retryable from Retell's side. The
            # traceback rides on the request's one log line (emitted inside this except).
            line.outcome = Outcome.UNAVAILABLE
            line.reason = f"unexpected {type(err).__name__}: {err}"
            line.failed_unexpectedly = True
            response = _problem(503, UNAVAILABLE_DETAIL, {"Retry-After": RETRY_AFTER_S})
            line.status = response.status_code
            line.emit()
            return response
        except BaseException:
            # Cancelled (client gone, shutdown): still one line for the request.
            line.reason = line.reason or "request cancelled before an answer"
            line.emit()
            raise
        line.status = response.status_code
        line.emit()
        return response

    async def _verified_body(self, request: Request, line: _RequestLine) -> bytes | Response:
        """The body once its signature verified, or the refusal to answer instead."""
        try:
            check_declared_length(request, self._max_body)
        except BodyTooLarge as err:
            line.outcome, line.reason = Outcome.REJECTED, str(err)
            return _problem(413, f"body larger than {self._max_body} bytes", _CLOSE)
        try:
            signature = parse_signature_header(request.headers.get(SIGNATURE_HEADER))
        except InvalidSignature as err:
            line.outcome, line.reason = Outcome.REJECTED, err.reason
            return _problem(401, UNAUTHORIZED_DETAIL, _CLOSE)
        if not self._unverified.try_enter():
            line.outcome = Outcome.BUSY
            line.reason = f"{self._unverified.limit} unverified bodies already being read"
            return _problem(503, BUSY_DETAIL, {"Retry-After": RETRY_AFTER_S, **_CLOSE})
        try:
            body = await read_limited_body(request, self._max_body)
            verify_signed_body(self._keys, body, signature)
        except BodyTooLarge as err:
            line.outcome, line.reason = Outcome.REJECTED, str(err)
            return _problem(413, f"body larger than {self._max_body} bytes")
        except ClientDisconnect:
            # Gone, or cut off by the body deadline: nobody is left to read an answer.
            line.outcome, line.reason = Outcome.REJECTED, "client gone before the body was in"
            return _problem(400, "incomplete body")
        except InvalidSignature as err:
            line.outcome, line.reason = Outcome.REJECTED, err.reason
            return _problem(401, UNAUTHORIZED_DETAIL)
        finally:
            self._unverified.leave()
        return body

    async def _handle(self, request: Request, line: _RequestLine) -> Response:
        verified = await self._verified_body(request, line)
        if isinstance(verified, Response):
            return verified
        body = verified
        try:
            parsed = parse_webhook(body)
        except MalformedWebhook as err:
            line.outcome, line.reason = Outcome.REJECTED, str(err)
            return _problem(400, str(err))
        if isinstance(parsed, IgnoredEvent):
            line.outcome, line.retell_event = Outcome.IGNORED, parsed.name
            line.call_id = parsed.call_id
            line.reason = "event type not followed by call workflows"
            return Response(status_code=204)

        call = parsed.call
        line.retell_event, line.call_id = parsed.event, call.call_id
        line.workflow_id = call.workflow_id
        if call.to_number:
            line.to_number = mask_number(call.to_number)
        _, router = self._temporal.require()
        delivery = await router.deliver(parsed)
        line.outcome, line.reason = delivery.outcome, delivery.reason
        line.workflow_id, line.routed_by = delivery.workflow_id, delivery.routed_by
        return _answer(delivery)


# How an inbound answer reads on the request's one log line.
_INBOUND_LINE = {
    InboundOutcome.RETURNED_CALL: Outcome.SIGNALLED,
    InboundOutcome.RETURNED_CALL_CLOSED: Outcome.WORKFLOW_CLOSED,
    InboundOutcome.UNKNOWN_CALLER: Outcome.IGNORED,
    InboundOutcome.UNAVAILABLE: Outcome.UNAVAILABLE,
}


class _InboundHandler(_WebhookHandler):
    """Retell's inbound webhook, checked as the call webhooks are (headers before body)."""

    def __init__(self, settings: BridgeSettings, temporal: _Temporal) -> None:
        super().__init__(settings, temporal)
        self._hash_key = settings.number_hash_secret()
        self._window = settings.returned_call_window
        self._timeout_s = settings.bridge_signal_timeout_s

    async def _handle(self, request: Request, line: _RequestLine) -> Response:
        verified = await self._verified_body(request, line)
        if isinstance(verified, Response):
            return verified
        line.retell_event = "call_inbound"
        try:
            call = parse_inbound(verified)
        except MalformedWebhook as err:
            line.outcome, line.reason = Outcome.REJECTED, str(err)
            return _problem(400, str(err))
        line.call_id, line.to_number = call.call_id, mask_number(call.from_number)
        client, _ = self._temporal.require()
        returned = ReturnedCalls(
            client, hash_key=self._hash_key, window=self._window, timeout_s=self._timeout_s
        )
        answer = await returned.answer(call)
        line.outcome, line.workflow_id = _INBOUND_LINE[answer.outcome], answer.workflow_id
        line.reason = answer.outcome.value + (f": {answer.reason}" if answer.reason else "")
        if answer.outcome is InboundOutcome.UNAVAILABLE:
            # Retell retries a failed answer (and connects with the defaults after the last).
            return _problem(503, UNAVAILABLE_DETAIL, {"Retry-After": RETRY_AFTER_S})
        return JSONResponse(answer.body)


async def _readiness(client: Client, timeout_s: float) -> str | None:
    """None when Temporal answers for our namespace, else why not."""
    try:
        async with asyncio.timeout(timeout_s):
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=client.namespace),
                retry=False,
                timeout=timedelta(seconds=timeout_s),
            )
    except TimeoutError:
        return f"no answer within {timeout_s:g}s"
    except RPCError as err:
        return f"{err.status.name if err.status else 'UNKNOWN'}: {err.message}"
    except (RuntimeError, OSError) as err:
        return str(err)
    return None


def create_app(settings: BridgeSettings, *, client: Client | None = None) -> FastAPI:
    """The bridge app; with ``client`` None it connects to Temporal when it starts."""
    temporal = _Temporal(
        client, settings.bridge_signal_timeout_s, settings.bridge_recent_deliveries
    )
    handler = _WebhookHandler(settings, temporal)
    inbound = _InboundHandler(settings, temporal)
    readiness_timeout_s = min(READINESS_TIMEOUT_S, settings.bridge_signal_timeout_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if temporal.client is None:
            temporal.attach(await connect_temporal(settings))
            log.info(
                "bridge connected to Temporal",
                temporal_address=settings.temporal_address,
                namespace=settings.temporal_namespace,
            )
        yield

    app = FastAPI(
        title="Retell webhook bridge",
        version="0.1.0",
        description="Verifies Retell's signed webhooks and signals each call's workflow.",
        lifespan=lifespan,
        **docs_routes(settings.bridge_docs),
    )
    instrument_fastapi(app)  # traces: only with OTEL_EXPORTER_OTLP_ENDPOINT (adapters/tracing.py)

    @app.post(
        WEBHOOK_PATH,
        status_code=204,
        response_class=Response,
        responses=WEBHOOK_RESPONSES,
        openapi_extra=webhook_openapi_extra(),
        summary="Receive a Retell webhook",
        description=(
            "Verifies the signature over the raw body, then signals `call_event` to the "
            "workflow named in `call.metadata.temporal_workflow_id` (or found by its "
            "`RetellCallId` search attribute). 2xx only after Temporal accepted the signal "
            "or when no retry could deliver it; 503 means retry."
        ),
    )
    async def retell_webhook(request: Request) -> Response:
        return await handler(request)

    @app.post(
        INBOUND_WEBHOOK_PATH,
        summary="Receive Retell's inbound webhook",
        description=(
            "Signed like the call webhooks. A caller we called within RETURNED_CALL_WINDOW "
            "gets dynamic variables saying why we called, and the call workflow that called "
            "them stops its redials (returned_call); anyone else the empty answer."
        ),
    )
    async def retell_inbound_webhook(request: Request) -> Response:
        return await inbound(request)

    @app.get("/healthz", response_model=Health, summary="The process is alive")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Health,
        responses=READINESS_RESPONSES,
        summary="Temporal is reachable: webhooks can be delivered",
    )
    async def readyz() -> Response:
        current, _ = temporal.require()
        problem = await _readiness(current, readiness_timeout_s)
        if problem is not None:
            log.warning("not ready", reason=problem)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    return app
