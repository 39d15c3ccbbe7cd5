"""One durable timer that a workflow moves from wait to wait instead of one per wait.

Each ``wait_condition(timeout=...)`` starts a timer and cancels it when the condition comes
first: two history events per wait. A call waits many times (for a slot, then per phase of
the call), so it keeps one timer instead: a wait whose deadline is later than the running
timer keeps it (the timer wakes the wait early, and only then is a new one started), and only
an earlier deadline replaces it. A happy-path call thus starts one timer and never cancels it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow


class DeadlineTimer:
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._at: datetime | None = None
        self._fired = False

    def _arm(self, deadline: datetime, summary: str) -> None:
        if self._task is not None and not self._fired:
            assert self._at is not None
            if self._at <= deadline:
                return  # wakes the wait early; the wait then arms again
            self._task.cancel()
        self._at = deadline
        self._fired = False
        self._task = asyncio.create_task(self._sleep(deadline - workflow.now(), summary))

    async def _sleep(self, delay: timedelta, summary: str) -> None:
        await workflow.sleep(delay, summary=summary)
        self._fired = True

    async def wait(self, condition: Callable[[], bool], deadline: datetime, summary: str) -> bool:
        """Until ``condition()`` holds (True) or ``deadline`` passes (False)."""
        while not condition():
            if workflow.now() >= deadline:
                return False
            self._arm(deadline, summary)
            await workflow.wait_condition(lambda: condition() or self._fired)
        return True
