"""The public servers' read deadlines, served for real on loopback, and the guard on the
private uvicorn code they rest on.

``adapters/http_server.py`` adds the header and body deadlines by subclassing uvicorn's
private ``H11Protocol`` (uvicorn has no public setting for either); the idle deadline is
uvicorn's public ``timeout_keep_alive``. An upgrade that renames or reorders the methods the
subclass hooks would switch the deadlines off without an error, so:

- the behaviour tests serve a tiny ASGI app through ``server_options`` and talk raw TCP to
  it: a slow or idle client is cut off, a prompt one is not cut while the app works;
- the guard tests fail when the private code changes (a fingerprint of each method relied
  on, the attributes read, the overrides still being ``H11Protocol``'s own), which makes a
  silent upgrade loud; the behaviour tests say whether the deadlines still hold.

Bounds are generous upper limits (a loaded 2-core machine is slow, never early); the only
lower bounds are causal: the server's timer starts after the client's clock does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import h11
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from adapters.http_server import _GuardedH11Protocol, server_options
from adapters.settings import HttpLimits
from stack.ports import LOOPBACK, free_port

# A loaded machine may be this late (seconds) closing a connection after its deadline.
MARGIN_S = 2.0


def _limits(header_s: float, body_s: float, keep_alive_s: float = 1.0) -> HttpLimits:
    return HttpLimits(
        max_header_bytes=16 * 1024,
        max_headers=100,
        header_timeout_s=header_s,
        body_timeout_s=body_s,
        keep_alive_s=keep_alive_s,
        limit_concurrency=100,
    )


@dataclass
class _App:
    """Reads the whole body, waits ``work_s``, answers 200 with the body's length; records
    what it received (all requests) and whether it saw the client go."""

    work_s: float = 0.0
    body: bytearray = field(default_factory=bytearray)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                return
            body += message.get("body", b"")
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await asyncio.sleep(self.work_s)
        answer = b"%d" % len(body)
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


@contextlib.asynccontextmanager
async def _serving(app: _App, limits: HttpLimits) -> AsyncIterator[int]:
    """``app`` served as production serves the bridge (``server_options``); yields the port."""
    port = free_port()
    options = server_options(app, host=LOOPBACK, port=port, limits=limits, graceful_shutdown_s=1)
    server = uvicorn.Server(uvicorn.Config(**options))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # its error, else:
                    raise AssertionError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def _closed_within(bound_s: float, what: str) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(bound_s):
            yield
    except TimeoutError:
        pytest.fail(f"{what}: the connection was still open after {bound_s} s")


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := await reader.read(65536):
            data += chunk
    return data


async def _send_slowly(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    pieces: Iterable[bytes],
    interval_s: float,
) -> bytes:
    """Sends ``pieces`` ``interval_s`` apart until the server answers or closes (a client
    that keeps writing to a closed socket may be reset before it reads the answer); returns
    what the server sent until it closed."""
    for piece in pieces:
        writer.write(piece)
        try:
            first = await asyncio.wait_for(reader.read(65536), interval_s)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return b""
        return first + (await _until_closed(reader) if first else b"")
    raise AssertionError("every piece was sent and the server neither answered nor closed")


def _header_lines() -> Iterator[bytes]:
    yield b"GET / HTTP/1.1\r\n"
    yield b"host: test\r\n"
    for n in range(1000):  # never ends in time: the deadline must end it
        yield b"x-slow-%d: 1\r\n" % n


def _status(data: bytes) -> int:
    """The status of the one response at the start of ``data``."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("host", "test")]))
    conn.receive_data(data)
    event = conn.next_event()
    assert isinstance(event, h11.Response), f"not an HTTP response: {data[:200]!r}"
    return event.status_code


async def _exchange(
    conn: h11.Connection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: h11.Request,
    body: bytes = b"",
) -> tuple[int, bytes]:
    """One request on an open connection: its status and body."""
    writer.write(conn.send(request) or b"")
    if body:
        writer.write(conn.send(h11.Data(data=body)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    status, answer = 0, b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            assert data, "the server closed the connection before it answered"
            conn.receive_data(data)
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            answer += event.data
        elif isinstance(event, h11.EndOfMessage):
            return status, answer


async def test_headers_sent_slower_than_the_header_deadline_get_408_and_close() -> None:
    header_s = 0.5
    app = _App()
    async with _serving(app, _limits(header_s=header_s, body_s=30)) as port:
        loop = asyncio.get_running_loop()
        start = loop.time()
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        async with _closed_within(header_s + MARGIN_S, "headers one line per 0.15 s"):
            answer = await _send_slowly(reader, writer, _header_lines(), interval_s=0.15)
        elapsed = loop.time() - start
        writer.close()
    assert _status(answer) == 408
    assert elapsed >= header_s - 0.01, f"cut off after {elapsed:.3f} s, before the deadline"
    assert not app.body, "the app was called"
    assert not app.disconnected.is_set(), "the app was called"


async def test_a_connection_that_sends_nothing_is_closed_by_the_header_deadline() -> None:
    header_s = 0.4
    async with _serving(_App(), _limits(header_s=header_s, body_s=30, keep_alive_s=30)) as port:
        loop = asyncio.get_running_loop()
        start = loop.time()
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        async with _closed_within(header_s + MARGIN_S, "an idle new connection"):
            answer = await _until_closed(reader)
        elapsed = loop.time() - start
        writer.close()
    assert _status(answer) == 408
    assert elapsed >= header_s - 0.01, f"closed after {elapsed:.3f} s, before the deadline"


async def test_a_body_sent_slower_than_the_body_deadline_is_cut_off() -> None:
    header_s, body_s = 0.3, 1.0
    app = _App()
    async with _serving(app, _limits(header_s=header_s, body_s=body_s)) as port:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        start = loop.time()
        writer.write(b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 1000\r\n\r\n")
        async with _closed_within(body_s + MARGIN_S, "a body of one byte per 0.1 s"):
            answer = await _send_slowly(reader, writer, [b"x"] * 1000, interval_s=0.1)
        elapsed = loop.time() - start
        writer.close()
        async with asyncio.timeout(MARGIN_S):
            await app.disconnected.wait()  # the app sees the client gone
    assert answer == b"", f"the server answered a cut-off body: {answer[:200]!r}"
    assert 0 < len(app.body) < 1000, "the app should have had part of the body, not all"
    # Not the header deadline (0.3 s), which ended with the headers:
    assert elapsed >= body_s - 0.01, f"cut off after {elapsed:.3f} s, before the body deadline"


async def test_an_idle_keep_alive_connection_is_closed_by_the_keep_alive_timeout() -> None:
    keep_alive_s = 1.0
    # Deadlines far past the bound: only the keep-alive timeout can close the connection.
    limits = _limits(header_s=60, body_s=60, keep_alive_s=keep_alive_s)
    async with _serving(_App(), limits) as port:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        conn = h11.Connection(h11.CLIENT)
        start = loop.time()
        request = h11.Request(method="GET", target="/", headers=[("host", "test")])
        assert await _exchange(conn, reader, writer, request) == (200, b"0")
        async with _closed_within(keep_alive_s + MARGIN_S, "idle after a response"):
            after = await _until_closed(reader)
        elapsed = loop.time() - start
        writer.close()
    assert after == b""
    assert elapsed >= keep_alive_s - 0.01, f"closed after {elapsed:.3f} s, before keep-alive"


async def test_a_next_request_on_a_kept_alive_connection_has_the_header_deadline() -> None:
    header_s = 0.5
    # Keep-alive (long) only until the next request's first byte: then the header deadline.
    async with _serving(_App(), _limits(header_s=header_s, body_s=30, keep_alive_s=30)) as port:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        request = h11.Request(method="GET", target="/", headers=[("host", "test")])
        assert await _exchange(h11.Connection(h11.CLIENT), reader, writer, request) == (200, b"0")
        start = loop.time()
        async with _closed_within(header_s + MARGIN_S, "a next request one line per 0.15 s"):
            answer = await _send_slowly(reader, writer, _header_lines(), interval_s=0.15)
        elapsed = loop.time() - start
        writer.close()
    assert _status(answer) == 408
    assert elapsed >= header_s - 0.01, f"cut off after {elapsed:.3f} s, before the deadline"


async def test_the_apps_time_is_not_a_read_deadline() -> None:
    header_s = body_s = 0.3
    app = _App(work_s=1.0)  # more than three times either deadline
    async with _serving(app, _limits(header_s=header_s, body_s=body_s, keep_alive_s=5)) as port:
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        conn = h11.Connection(h11.CLIENT)
        post = h11.Request(
            method="POST", target="/", headers=[("host", "test"), ("content-length", "5")]
        )
        async with asyncio.timeout(app.work_s + MARGIN_S):
            assert await _exchange(conn, reader, writer, post, b"hello") == (200, b"5")
        conn.start_next_cycle()
        app.work_s = 0
        get = h11.Request(method="GET", target="/", headers=[("host", "test")])
        async with asyncio.timeout(MARGIN_S):  # on the same connection, still open
            assert await _exchange(conn, reader, writer, get) == (200, b"0")
        writer.close()
    assert not app.disconnected.is_set()


# --- the guard on uvicorn's private code --------------------------------------------------

# sha256 of inspect.getsource of each H11Protocol method the subclass overrides or relies
# on: __init__ sets conn, loop and transport; handle_events moves conn's state inside
# data_received and hands on_response_complete to the request cycle.
FINGERPRINTED_AT = "uvicorn 0.55.0"
FINGERPRINTS = {
    "__init__": "ad1ed8e837b2db8d69271a0d66d07bed5f9ce0f51b1579e2e289070ee74d0e63",
    "connection_made": "6efb565ff3d36b916c29bd42330a2b99b601b48932389e396e5ac53dbef6b91c",
    "connection_lost": "dbb688fa2b3860005b4f7c53af5c33be1a7ac139184665008984d8935d261e91",
    "data_received": "e03b145518ca44aafc84f6f11655e54570ce724fa24854ae1287771166316a16",
    "handle_events": "278f2d7efca279a36863817b83a4a31c0c3cff6c65bfcc28dd48dfd83d887495",
    "on_response_complete": "1fbb8f48c6a1afc4cb655ddc746495c68608d12be775ea25c9debfd1e232a96a",
}
# The methods of H11Protocol that _GuardedH11Protocol overrides.
OVERRIDES = ("connection_made", "connection_lost", "data_received", "on_response_complete")
# What the subclass reads on the instance, and what it must find there.
READS = {"conn": h11.Connection, "loop": asyncio.AbstractEventLoop, "transport": type(None)}
RECHECK = (
    "re-run the deadline tests (tests/unit/test_http_deadlines.py), re-read "
    "adapters/http_server.py's overrides against the new code, then update"
)


def _fingerprint(name: str) -> str:
    return hashlib.sha256(inspect.getsource(vars(H11Protocol)[name]).encode()).hexdigest()


def _defined_by_the_subclass() -> dict[str, Any]:
    return {k: v for k, v in vars(_GuardedH11Protocol).items() if not k.startswith("__")}


def test_the_uvicorn_code_the_deadlines_rest_on_is_the_code_they_were_written_for() -> None:
    missing = sorted(name for name in FINGERPRINTS if name not in vars(H11Protocol))
    assert not missing, (
        f"uvicorn's H11Protocol ({uvicorn.__version__}) no longer defines {missing}: the "
        f"deadlines of adapters/http_server.py may be off; {RECHECK} FINGERPRINTS"
    )
    now = {name: _fingerprint(name) for name in FINGERPRINTS}
    changed = sorted(name for name in FINGERPRINTS if now[name] != FINGERPRINTS[name])
    assert not changed, (
        f"uvicorn's H11Protocol changed (uvicorn {uvicorn.__version__}, fingerprinted at "
        f"{FINGERPRINTED_AT}): {changed}; {RECHECK} FINGERPRINTS to {now}"
    )


def test_the_overrides_are_still_h11protocols_own_and_the_helpers_clash_with_nothing() -> None:
    ours = _defined_by_the_subclass()
    for name in OVERRIDES:
        assert name in ours, f"_GuardedH11Protocol no longer overrides {name}: update OVERRIDES"
        # Else uvicorn no longer calls it (or only asyncio.Protocol's empty one): dead code.
        assert name in vars(H11Protocol), (
            f"uvicorn's H11Protocol ({uvicorn.__version__}) no longer defines {name}, which "
            f"_GuardedH11Protocol overrides; {RECHECK} OVERRIDES"
        )
        assert name in FINGERPRINTS, f"add H11Protocol.{name} to FINGERPRINTS"
    for name in set(ours) - set(OVERRIDES):
        assert not hasattr(H11Protocol, name), (
            f"_GuardedH11Protocol.{name} overrides H11Protocol's (uvicorn "
            f"{uvicorn.__version__}): if meant, add it to OVERRIDES and FINGERPRINTS"
        )


async def test_the_attributes_the_subclass_reads_are_set_and_its_own_are_free() -> None:
    config = uvicorn.Config(app=_App(), log_config=None)
    protocol = H11Protocol(config=config, server_state=ServerState(), app_state={})
    state = vars(protocol)
    for name, kind in READS.items():
        assert isinstance(state.get(name, ...), kind), (
            f"uvicorn {uvicorn.__version__}: H11Protocol() no longer sets {name} (a "
            f"{kind.__name__}); {RECHECK} READS"
        )
    clashes = sorted(set(_defined_by_the_subclass()) & set(state))
    assert not clashes, f"uvicorn {uvicorn.__version__} now sets {clashes} on H11Protocol"


def test_server_options_serve_with_the_guarded_protocol_and_its_deadlines() -> None:
    options = server_options(
        _App(), host=LOOPBACK, port=0, limits=_limits(0.5, 0.7, 3), graceful_shutdown_s=1
    )
    config = uvicorn.Config(**options)
    config.load()
    protocol = config.http_protocol_class
    assert isinstance(protocol, type)
    assert issubclass(protocol, _GuardedH11Protocol)
    assert (protocol.header_timeout_s, protocol.body_timeout_s) == (0.5, 0.7)
    assert config.timeout_keep_alive == 3
