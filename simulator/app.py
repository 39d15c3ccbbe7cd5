"""The HTTP face of the simulator: Retell's routes plus ``/_sim/`` records for tests.

Retell's routes need ``Authorization: Bearer <RETELL_API_KEY>``; ``/_sim/`` routes need no
key (they exist only here). Every error answers Retell's
``{"status": "error", "message": "..."}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.settings import SimulatorSettings
from simulator.backend import RequestRecord, SimulatedRetell
from simulator.errors import ApiError

log = structlog.get_logger("simulator.http")

ADMIN_PREFIX = "/_sim"


class RequestLog:
    """Records every API request (for ``/_sim/requests``) and logs one line per request.

    Pure ASGI rather than ``BaseHTTPMiddleware`` so that a request held open on purpose
    (lost_response) is recorded when it arrives, and its status when the answer starts.
    """

    def __init__(self, app: ASGIApp, backend: SimulatedRetell) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        record: RequestRecord | None = None
        if not path.startswith(ADMIN_PREFIX + "/"):
            record = self.backend.record_request(method, path)
        scope.setdefault("state", {})["request_record"] = record
        status: int | None = None
        clock = time.monotonic()

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if record is not None:
                    record.status_code = status
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            # Path only: a query string may carry a phone number (/_sim/calls?to_number=).
            log.info(
                "request",
                method=method,
                path=path,
                status_code=status,
                duration_ms=round((time.monotonic() - clock) * 1000, 1),
            )


def _error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "message": message}, status_code=status_code, headers=headers
    )


def _handle_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return _error(exc.status_code, exc.message, exc.headers)
    if isinstance(exc, StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))
    if isinstance(exc, RequestValidationError):
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return _error(400, fields)
    return _error(500, "internal error")


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "body: not valid JSON") from None


def _request_record(request: Request) -> RequestRecord | None:
    record: RequestRecord | None = getattr(request.state, "request_record", None)
    return record


def _api_router(backend: SimulatedRetell) -> APIRouter:
    def require_api_key(request: Request) -> None:
        if not backend.is_authorized(request.headers.get("authorization")):
            raise ApiError(401, "missing or invalid API key")

    router = APIRouter(dependencies=[Depends(require_api_key)])

    @router.post("/v2/create-phone-call")
    async def create_phone_call(request: Request) -> Response:
        body = await _json_body(request)
        record = _request_record(request)
        if record is not None and isinstance(body, dict):
            key = body.get("idempotency_key")
            record.idempotency_key = key if isinstance(key, str) else None
        created = await backend.create_phone_call(body)
        if record is not None:
            record.call_id = created.call.call_id
        # The answer is the call as created, even when it is sent late (lost_response).
        answer = created.call.to_api()
        if created.hold_s > 0:
            await backend.hold(created.hold_s, client_gone=request.is_disconnected)
        return JSONResponse(answer, status_code=201)

    @router.get("/v2/get-call/{call_id}")
    async def get_call(call_id: str) -> Response:
        return JSONResponse(backend.get_call(call_id).to_api())

    @router.post("/v2/stop-call/{call_id}")
    async def stop_call(call_id: str) -> Response:
        await backend.stop_call(call_id)
        return Response(status_code=204)

    @router.post("/v3/list-calls")
    async def list_calls(request: Request) -> Response:
        return JSONResponse(backend.list_calls(await _json_body(request)))

    @router.post("/create-agent")
    async def create_agent(request: Request) -> Response:
        return JSONResponse(backend.agents.create(await _json_body(request)), status_code=201)

    @router.get("/get-agent/{agent_id}")
    async def get_agent(agent_id: str) -> Response:
        return JSONResponse(backend.agents.get(agent_id))

    @router.patch("/update-agent/{agent_id}")
    async def update_agent(agent_id: str, request: Request) -> Response:
        return JSONResponse(backend.agents.update(agent_id, await _json_body(request)))

    @router.get("/get-concurrency")
    async def get_concurrency() -> Response:
        return JSONResponse(backend.concurrency())

    @router.post("/create-sms-chat")
    async def create_sms_chat(request: Request) -> Response:
        sent = backend.create_sms_chat(await _json_body(request))
        # 200, not create-phone-call's 201: Retell's API reference answers this create so.
        return JSONResponse(sent.chat)

    @router.post("/v3/list-chats")
    async def list_chats(request: Request) -> Response:
        return JSONResponse(backend.list_sms_chats(await _json_body(request)))

    @router.post("/v2/list-agents")
    async def list_agents(
        request: Request, limit: int = 100, pagination_key: str | None = None
    ) -> Response:
        page = backend.agents.page(await _json_body(request), limit, pagination_key)
        return JSONResponse(page)

    return router


def _admin_router(backend: SimulatedRetell) -> APIRouter:
    router = APIRouter(prefix=ADMIN_PREFIX)

    @router.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @router.get("/calls")
    async def calls(to_number: str | None = None) -> Response:
        if to_number is not None:
            # An unencoded "+" in a query string arrives as a space.
            to_number = "+" + to_number.strip().lstrip("+")
        return JSONResponse([c.to_api() for c in backend.calls(to_number)])

    @router.get("/calls/{call_id}/webhooks")
    async def webhooks(call_id: str) -> Response:
        return JSONResponse([w.to_json() for w in backend.webhooks(call_id)])

    @router.get("/agents")
    async def agents() -> Response:
        return JSONResponse(backend.agents.all())

    @router.get("/requests")
    async def requests() -> Response:
        return JSONResponse([r.to_json() for r in backend.requests])

    @router.get("/dnc")
    async def dnc() -> Response:
        return JSONResponse(backend.dnc_numbers())

    @router.post("/dnc")
    async def add_dnc(request: Request) -> Response:
        body = await _json_body(request)
        number = body.get("number") if isinstance(body, dict) else None
        if not isinstance(number, str):
            raise ApiError(400, "number: must be a string")
        backend.add_dnc(number)
        return JSONResponse(backend.dnc_numbers())

    @router.get("/spam-numbers")
    async def spam_numbers() -> Response:
        return JSONResponse(backend.spam_numbers())

    @router.post("/spam-numbers")
    async def set_spam_numbers(request: Request) -> Response:
        """``{"numbers": [...]}``: calls from these numbers end ``marked_as_spam`` (replaces
        the list; ``[]`` clears it)."""
        body = await _json_body(request)
        backend.set_spam_numbers(body.get("numbers") if isinstance(body, dict) else None)
        return JSONResponse(backend.spam_numbers())

    @router.post("/inbound-call")
    async def inbound_call(request: Request) -> Response:
        call, record = await backend.inbound_call(await _json_body(request))
        return JSONResponse(
            {"call": call.to_api(), "inbound_webhook": record.to_json()}, status_code=201
        )

    @router.get("/inbound-calls")
    async def inbound_calls() -> Response:
        return JSONResponse([r.to_json() for r in backend.inbound_webhooks()])

    @router.get("/sms-chats")
    async def sms_chats() -> Response:
        return JSONResponse([c.to_json() for c in backend.sms_chats()])

    @router.post("/list-calls-failures")
    async def list_calls_failures(request: Request) -> Response:
        """``{"status": 500, "count": 3}``: the next 3 list-calls answer 500 (no count: all
        until reset; count 0: none)."""
        body = await _json_body(request)
        status = body.get("status", 500) if isinstance(body, dict) else None
        count = body.get("count") if isinstance(body, dict) else None
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ApiError(400, "status: must be an HTTP error status (400-599)")
        if count is not None and (not isinstance(count, int) or count < 0):
            raise ApiError(400, "count: must be a non-negative integer or null")
        backend.fail_list_calls(status, count)
        return Response(status_code=204)

    @router.post("/reset")
    async def reset() -> Response:
        await backend.reset()
        return Response(status_code=204)

    @router.post("/forget-idempotency")
    async def forget_idempotency(idempotency_key: str | None = None) -> Response:
        return JSONResponse({"forgotten": backend.forget_idempotency(idempotency_key)})

    return router


def create_app(
    settings: SimulatorSettings | None = None, backend: SimulatedRetell | None = None
) -> FastAPI:
    """The simulator as an ASGI app; its lifespan owns the webhook client and call tasks."""
    sim = backend or SimulatedRetell(settings or SimulatorSettings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.aclose()

    # No /docs or /openapi.json: Retell serves neither, and unknown paths must answer 404.
    app = FastAPI(
        title="Retell simulator",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(RequestLog, backend=sim)
    for exc_type in (ApiError, StarletteHTTPException, RequestValidationError):
        app.add_exception_handler(exc_type, _handle_error)
    app.include_router(_api_router(sim))
    app.include_router(_admin_router(sim))
    return app
