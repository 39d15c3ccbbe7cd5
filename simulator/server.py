"""Serve the simulator inside the caller's event loop, for tests and the dev stack.

``async with running_simulator(SimulatorSettings(simulator_time_scale=0.01)) as sim:``
then talk to ``sim.base_url`` with ``sim.api_key``; leaving the block stops it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from adapters.settings import SimulatorSettings
from simulator.app import create_app
from simulator.backend import SimulatedRetell

# uvicorn's own graceful-drain limit; answers held by lost_response are released earlier.
SHUTDOWN_GRACE_S = 2


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals belong to the host process (pytest, the dev stack), not to this server.
        yield


@dataclass(frozen=True)
class ServedApp:
    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@contextlib.asynccontextmanager
async def serve_asgi_app(
    app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[ServedApp]:
    """Serve ``app`` with uvicorn in the current loop; ``port=0`` lets the OS choose.

    The socket is bound here, before uvicorn starts, so the port is known without
    reading uvicorn's internals and a bind error raises here instead of exiting.
    """
    # proto must be IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets
    # whose proto says TCP, and without it every keep-alive answer waits ~40 ms (Nagle).
    family, kind, proto, _, address = (
        await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    bound_port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    server = _EmbeddedServer(config)

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exc:
            # uvicorn exits the process when the app's startup fails; inside a task that
            # would tear down the host's event loop, so it becomes an ordinary error.
            raise RuntimeError(f"uvicorn stopped during startup (exit code {exc.code})") from exc

    task = asyncio.create_task(serve())
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("uvicorn stopped before it started serving")
            await asyncio.sleep(0.005)
        yield ServedApp(host, bound_port)
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass(frozen=True)
class RunningSimulator:
    base_url: str
    port: int
    settings: SimulatorSettings
    backend: SimulatedRetell

    @property
    def api_key(self) -> str:
        return self.settings.retell_api_key.get_secret_value()


@contextlib.asynccontextmanager
async def running_simulator(
    settings: SimulatorSettings | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSimulator]:
    """Serve a fresh simulator; on exit, stop its calls and close its webhook client."""
    settings = settings or SimulatorSettings()
    backend = SimulatedRetell(settings)
    app = create_app(settings, backend)
    try:
        async with serve_asgi_app(app, host=host, port=port) as served:
            try:
                yield RunningSimulator(served.base_url, served.port, settings, backend)
            finally:
                # Before uvicorn drains: a held lost_response answer would keep it waiting.
                backend.begin_shutdown()
    finally:
        await backend.aclose()
