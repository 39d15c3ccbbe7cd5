"""Heartbeating: a body done before the first interval sends no heartbeat (one billable
action less per create on Temporal Cloud); a longer one beats every interval."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.heartbeats import heartbeating


async def _beats_while_sleeping(seconds: float, every_s: float) -> list[Any]:
    beats: list[Any] = []
    environment = ActivityEnvironment()
    environment.on_heartbeat = lambda *details: beats.append(details)

    async def body() -> None:
        async with heartbeating(every_s):
            await asyncio.sleep(seconds)

    await environment.run(body)
    return beats


async def test_a_body_done_before_the_first_interval_sends_none() -> None:
    assert await _beats_while_sleeping(0.05, every_s=0.5) == []


async def test_a_longer_body_beats_every_interval_and_stops_with_it() -> None:
    beats = await _beats_while_sleeping(0.55, every_s=0.1)
    assert 3 <= len(beats) <= 6
    count = len(beats)
    await asyncio.sleep(0.3)  # nothing beats once the body is done
    assert len(beats) == count
