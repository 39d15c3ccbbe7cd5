"""How the public HTTP services (bridge, codec server) are served: uvicorn with the limits a
production server has.

uvicorn alone caps neither the time a client may take to send its headers nor the time it
may take over its body, and with ``httptools`` not the size of the headers either. So the
HTTP implementation is pinned to ``h11`` (pure Python, and it refuses a header block larger
than ``h11_max_incomplete_event_size`` with 400 before parsing the rest) and its protocol is
extended by :class:`_GuardedH11Protocol` with two read deadlines:

- headers: from the connection's start (an idle socket counts) or from the first byte of a
  next request, until the header block is complete; past it, 408 and close;
- body: from the end of the headers until the body is complete; past it, the connection is
  closed and the app sees the client gone.

Between requests uvicorn's own keep-alive timeout applies; ``limit_concurrency`` answers 503
past that many connections and tasks. The number of header lines is checked by a small ASGI
wrapper (431), after the size cap has bounded it.

uvicorn (0.55) has no public setting for either read deadline, so they rest on its private
``H11Protocol``: an upgrade that renamed or reordered the hooks overridden here would switch
them off without an error. ``tests/unit/test_http_deadlines.py`` guards them: it serves
through :func:`server_options` and checks every deadline on a real socket, and it fails on a
fingerprint of each ``H11Protocol`` method relied on, so an upgrade that changes one is loud
(the lock keeps the version; the tests keep the behaviour).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

import h11
import uvicorn
from pydantic_settings import BaseSettings
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from adapters.logs import get_logger
from adapters.settings import HttpLimits

log = get_logger("http")


def docs_routes(enabled: bool) -> dict[str, Any]:
    """FastAPI's arguments for /docs, /redoc and /openapi.json: all off unless enabled."""
    if enabled:
        return {}
    return {"docs_url": None, "redoc_url": None, "openapi_url": None}


class _GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header and body read deadlines (see the module doc)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0

    _deadline: asyncio.TimerHandle | None = None
    _phase: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("headers", self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Idle until the next request: uvicorn's keep-alive timeout has it from here.
        self._disarm()

    def _follow_request(self) -> None:
        state = self.conn.their_state
        if state is h11.IDLE:
            if self._phase != "headers":
                self._arm("headers", self.header_timeout_s)
        elif state is h11.SEND_BODY:
            if self._phase != "body":
                self._arm("body", self.body_timeout_s)
        else:  # the request is in (or the connection is done): the app's time now
            self._disarm()

    def _arm(self, phase: str, timeout_s: float) -> None:
        self._disarm()
        self._phase = phase
        self._deadline = self.loop.call_later(timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._phase = None, None

    def _too_slow(self) -> None:
        phase, self._deadline, self._phase = self._phase, None, None
        if self.transport.is_closing():
            return
        log.warning("slow client cut off", phase=phase)
        if phase == "headers" and self.conn.our_state is h11.IDLE:
            try:
                answer = h11.Response(
                    status_code=408, headers=[("connection", "close"), ("content-length", "0")]
                )
                self.transport.write(self.conn.send(answer) or b"")
                self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
            except h11.LocalProtocolError:
                pass  # the state does not allow an answer: just close
        self.transport.close()


def guarded_protocol(limits: HttpLimits) -> type[H11Protocol]:
    """The h11 protocol class uvicorn builds per connection, with these deadlines."""
    return type(
        "GuardedH11Protocol",
        (_GuardedH11Protocol,),
        {"header_timeout_s": limits.header_timeout_s, "body_timeout_s": limits.body_timeout_s},
    )


class HeaderCountLimit:
    """431 for a request with more header lines than ``max_headers``."""

    def __init__(self, app: ASGIApp, max_headers: int) -> None:
        self._app = app
        self._max_headers = max_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope["headers"]) > self._max_headers:
            body = f"more than {self._max_headers} header lines".encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 431,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self._app(scope, receive, send)


def server_options(
    app: Any, *, host: str, port: int, limits: HttpLimits, graceful_shutdown_s: int
) -> dict[str, Any]:
    """uvicorn's arguments for a public service: h11 with the guards, no access log."""
    return {
        "app": HeaderCountLimit(app, limits.max_headers),
        "host": host,
        "port": port,
        "http": guarded_protocol(limits),
        "h11_max_incomplete_event_size": limits.max_header_bytes,
        "timeout_keep_alive": max(1, round(limits.keep_alive_s)),
        "limit_concurrency": limits.limit_concurrency,
        # Our processes write one JSON line per request themselves.
        "access_log": False,
        "log_config": None,
        "server_header": False,
        "timeout_graceful_shutdown": graceful_shutdown_s,
    }


def tcp_port(text: str) -> int:
    """argparse's type for a --port option."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port")
    return port


def add_listen_arguments(
    parser: argparse.ArgumentParser, service: str, settings: type[BaseSettings]
) -> None:
    """``--host`` and ``--port``, over the settings ``<service>_host`` and ``<service>_port``
    (environment ``<SERVICE>_HOST``, ``<SERVICE>_PORT``), whose defaults the help shows."""
    fields = settings.model_fields
    env = service.upper()
    host, port = fields[f"{service}_host"].default, fields[f"{service}_port"].default
    parser.add_argument("--host", help=f"interface to listen on (default: {env}_HOST, {host})")
    parser.add_argument(
        "--port", type=tcp_port, help=f"TCP port to listen on (default: {env}_PORT, {port})"
    )


def listen_overrides(args: argparse.Namespace, service: str) -> dict[str, Any]:
    """The settings that ``--host``/``--port`` override (only those given)."""
    given = {"host": args.host, "port": args.port}
    return {f"{service}_{name}": value for name, value in given.items() if value is not None}


def serve(
    app: Any,
    *,
    host: str,
    port: int,
    limits: HttpLimits | None,
    graceful_shutdown_s: int,
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM. ``limits``: a public service's guards (None for
    the simulator, which plays Retell's side). A SIGTERM is a clean stop: exit status 0."""
    # uvicorn drains on SIGTERM, then re-raises it: a clean stop should still exit 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if limits is None:
        options: dict[str, Any] = {
            "app": app,
            "host": host,
            "port": port,
            "access_log": False,
            "log_config": None,
            "timeout_graceful_shutdown": graceful_shutdown_s,
        }
    else:
        options = server_options(
            app, host=host, port=port, limits=limits, graceful_shutdown_s=graceful_shutdown_s
        )
    uvicorn.run(**options)
