"""The outcome-delivery activity against real receivers on loopback sockets: a receiver that
answers without end, one that drips its answer, and the https rule at delivery time.

The receivers are raw asyncio servers, not an HTTP framework: the point is what they send
after the status line, which a framework would not let a test misbehave with."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.outcome_delivery import MAX_ANSWER_BYTES, OutcomeDeliveryActivities
from adapters.outcome_urls import OutcomeUrlPolicy
from outbound_calls_client.models import CallOutcome, OutcomeDelivery, OutcomeStatus

pytestmark = pytest.mark.integration

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OUTCOME = CallOutcome(workflow_id="call-delivery-test", status=OutcomeStatus.COMPLETED)
CHUNK = b"x" * 16384


class Receiver:
    """Counts what it sent and whether the worker hung up on it."""

    def __init__(self) -> None:
        self.sent = 0
        self.requests = 0
        self.closed_by_peer = asyncio.Event()

    async def _read_request(self, reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        self.requests += 1

    async def endless(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """200, then a chunked body that never ends."""
        await self._read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        try:
            while True:
                writer.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
                await writer.drain()
                self.sent += len(CHUNK)
        except (ConnectionError, OSError):
            self.closed_by_peer.set()
        finally:
            writer.close()

    async def drip(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """200 with a long body, one byte at a time: each read is quick, the whole is not."""
        await self._read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n")
        try:
            while True:
                writer.write(b"x")
                await writer.drain()
                self.sent += 1
                await asyncio.sleep(0.05)
                if reader.at_eof():
                    raise ConnectionResetError
        except (ConnectionError, OSError):
            self.closed_by_peer.set()
        finally:
            writer.close()


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/outcomes"
    finally:
        server.close()


def _activities(
    timeout_s: float, allowed: tuple[str, ...] = ("127.0.0.1",)
) -> OutcomeDeliveryActivities:
    return OutcomeDeliveryActivities(
        "delivery-test-key", timeout_s=timeout_s, policy=OutcomeUrlPolicy(allowed)
    )


async def test_an_endless_answer_is_read_up_to_the_cap_and_the_connection_closed() -> None:
    receiver = Receiver()
    async with serving(receiver.endless) as url:
        started = time.monotonic()
        # Delivered: the status is all that counts, and the rest of the answer is dropped.
        await ActivityEnvironment().run(
            _activities(timeout_s=30).deliver_outcome, OutcomeDelivery(url=url, outcome=OUTCOME)
        )
        elapsed = time.monotonic() - started
        async with asyncio.timeout(10):
            await receiver.closed_by_peer.wait()
    assert receiver.requests == 1
    assert elapsed < 10
    # What the receiver got out before the close: the cap plus what the sockets' buffers
    # held, far below what an uncapped read would have taken in those seconds.
    assert receiver.sent >= MAX_ANSWER_BYTES


async def test_a_dripping_answer_ends_within_the_delivery_timeout() -> None:
    receiver = Receiver()
    async with serving(receiver.drip) as url:
        started = time.monotonic()
        with pytest.raises(ApplicationError) as failed:
            async with asyncio.timeout(15):
                await ActivityEnvironment().run(
                    _activities(timeout_s=1).deliver_outcome,
                    OutcomeDelivery(url=url, outcome=OUTCOME),
                )
        elapsed = time.monotonic() - started
    assert failed.value.type == "OutcomeReceiverUnavailable"
    assert not failed.value.non_retryable  # the next attempt may find a better receiver
    assert elapsed < 5


async def test_http_is_delivered_only_to_a_listed_host() -> None:
    receiver = Receiver()
    async with serving(receiver.endless) as url:
        # Listed: plain http is allowed (an internal receiver), as the test above shows. The
        # same receiver's public-address twin, not listed, is refused before any connection.
        with pytest.raises(ApplicationError) as refused:
            await ActivityEnvironment().run(
                _activities(timeout_s=5, allowed=()).deliver_outcome,
                OutcomeDelivery(url="http://8.8.8.8:9/outcomes", outcome=OUTCOME),
            )
        assert refused.value.type == "OutcomeUrlRefused"
        assert refused.value.non_retryable
        assert refused.value.details == ({"field": "outcome_url", "rule": "https"},)
        await ActivityEnvironment().run(
            _activities(timeout_s=30).deliver_outcome, OutcomeDelivery(url=url, outcome=OUTCOME)
        )
    assert receiver.requests == 1
