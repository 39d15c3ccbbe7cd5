"""Bounded waits in real time: until a probe answers, until a URL serves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout_s: float = 10.0, what: str = "condition"
) -> T:
    """Poll ``probe`` until it answers something truthy, and return that answer; past
    ``timeout_s`` an AssertionError names ``what`` was waited for."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def until_http_ok(
    url: str, *, alive: Callable[[], None] = lambda: None, poll_s: float = 0.1
) -> None:
    """Until ``url`` answers 200 (no timeout of its own: the caller bounds it). ``alive``
    raises when the process meant to serve it has died, so that a crash is not waited out."""
    async with httpx.AsyncClient(timeout=2, trust_env=False) as http:
        while True:
            alive()
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(poll_s)
