"""Heartbeats for activities that may wait long on someone else (Retell's create: 120 s).

A long start-to-close timeout alone means a crashed worker's attempt is retried only when
that timeout runs out; heartbeating lets Temporal notice the crash within the heartbeat
timeout instead, while a slow but live answer may still take as long as Retell allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from temporalio import activity

HEARTBEAT_EVERY_S = 5.0


@asynccontextmanager
async def heartbeating(every_s: float = HEARTBEAT_EVERY_S) -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every_s)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
