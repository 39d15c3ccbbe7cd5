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
async def heartbeating(every_s: float | None = None) -> AsyncIterator[None]:
    """Heartbeat every ``every_s`` (HEARTBEAT_EVERY_S, read when the body starts) while the
    body runs, the first after ``every_s``: the server counts the heartbeat timeout from the
    attempt's start anyway, and a body done sooner (a create answers in about a second)
    sends none, which on Temporal Cloud is one billable action less per call
    (docs/benchmarks.md, "Billable actions per call")."""

    interval = HEARTBEAT_EVERY_S if every_s is None else every_s

    async def beat() -> None:
        while True:
            await asyncio.sleep(interval)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
