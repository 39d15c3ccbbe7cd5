"""Turn a Temporal cancel into a request the workflow's own code answers.

Temporal delivers a cancel (the UI's Cancel, ``temporal workflow cancel``, a parent closing)
as one exception at whatever the run awaits. Inside an activity it arrives as an
``ActivityError`` that reads like a failure, and work in flight (a create whose call is
already ringing) would be abandoned. Running the work in a task of its own, which the cancel
does not reach, lets ``on_cancel`` set the same flag a ``cancel`` update sets; the work then
winds down the way it does for the update, and the run completes with its result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def run_shielded(work: Coroutine[Any, Any, T], on_cancel: Callable[[], None]) -> T:
    task = asyncio.create_task(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise
            on_cancel()
