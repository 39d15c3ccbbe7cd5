"""A slow stand-in between the worker and the simulator, and between the simulator and the
bridge: it passes everything through, except that it can hold back create answers (a create
in flight) and drop chosen webhook events (an analysis that has not come yet)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.server import serve_asgi_app

CREATE_PATH = "/v2/create-phone-call"
GET_CALL_PATH = "/v2/get-call/"
# Hop-by-hop and length headers are the proxy's own business.
_SKIPPED_HEADERS = {"host", "content-length", "connection", "transfer-encoding"}


@dataclass
class StandIn:
    """What the stand-in does now; tests change it while calls run."""

    retell_url: str
    bridge_url: str
    hold_creates: bool = False
    # Answer every create with this status after it reached Retell: answers lost for good.
    lose_create_answers_with: int | None = None
    # Answer get-call as Retell does for a call it does not know.
    calls_unknown: bool = False
    dropped_events: set[str] = field(default_factory=set)
    creates_held: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    base_url: str = ""


def _headers(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() not in _SKIPPED_HEADERS}


def _answer(upstream: httpx.Response) -> Response:
    headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _SKIPPED_HEADERS}
    return Response(upstream.content, status_code=upstream.status_code, headers=headers)


@asynccontextmanager
async def running_stand_in(retell_url: str, bridge_url: str) -> AsyncIterator[StandIn]:
    state = StandIn(retell_url=retell_url, bridge_url=bridge_url)
    async with httpx.AsyncClient(timeout=60) as http:

        async def api(request: Request) -> Response:
            if request.url.path.startswith(GET_CALL_PATH) and state.calls_unknown:
                return JSONResponse({"status": "error", "message": "Call not found"}, 422)
            upstream = await http.request(
                request.method,
                f"{state.retell_url}{request.url.path}",
                content=await request.body(),
                headers=_headers(request),
            )
            if request.url.path == CREATE_PATH and state.hold_creates:
                # The call exists at the simulator now; its answer waits.
                state.creates_held += 1
                await state.release.wait()
            if request.url.path == CREATE_PATH and state.lose_create_answers_with:
                return Response(status_code=state.lose_create_answers_with)
            return _answer(upstream)

        async def hook(request: Request) -> Response:
            body = await request.body()
            if json.loads(body).get("event") in state.dropped_events:
                return Response(status_code=204)
            upstream = await http.post(
                f"{state.bridge_url}/webhooks/retell", content=body, headers=_headers(request)
            )
            return _answer(upstream)

        app = Starlette(
            routes=[
                Route("/hook", hook, methods=["POST"]),
                Route("/{path:path}", api, methods=["GET", "POST", "PATCH", "DELETE"]),
            ]
        )
        async with serve_asgi_app(app) as served:
            state.base_url = served.base_url
            try:
                yield state
            finally:
                state.release.set()  # no held answer outlives the test
