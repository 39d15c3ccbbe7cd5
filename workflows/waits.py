"""Durable waits that end early when something happens (a cancel, a grant, an event)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow


async def wait_until(condition: Callable[[], bool], within: timedelta, summary: str) -> bool:
    """Until ``condition()`` holds (True) or ``within`` passes (False), on a durable timer
    named ``summary`` in the UI. Waiting out a delay unless canceled is
    ``wait_until(canceled, delay, ...)``."""
    try:
        await workflow.wait_condition(condition, timeout=within, timeout_summary=summary)
    except TimeoutError:
        return False
    return True
