"""Many calls through the whole stack at once: none lost, none dialed twice.

Every part is a real process (``stack/processes.py``): the simulator sends signed webhooks
to the bridge, the bridge signals the worker's workflows through the dev server. The calls
mix scenarios (answered, duplicated, reordered and lost webhooks, no answer, busy), all
started at once, under the account-wide cap (``MAX_CONCURRENT_CALLS``, default 20).

CI runs 50 calls. The full size::

    LOAD_CALLS=1000 .venv/bin/python -m pytest tests/integration/test_load.py -s    # or: make load

prints how many calls completed with the right final outcome (as the simulator played it;
by status), how many were lost and how many double-dialed (both must be 0; see
``tests/fault_checks.py``), the dials the simulator saw, and the rate (for information only:
speed is measured in ``bench/``).
Other knobs: ``LOAD_TIME_SCALE`` (the simulator's pace, default 0.05), ``LOAD_MAX_CONCURRENT_CALLS``
(default 20) and ``LOAD_TIMEOUT_S`` (the bound on waiting for every outcome; default scales
with the number of calls).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

import pytest

from stack.config import StackConfig
from stack.processes import ProcessStack
from tests.helpers.fault_checks import PlacedCall, audit_calls, place_call

pytestmark = pytest.mark.integration

CALLS = int(os.environ.get("LOAD_CALLS", "50"))
TIME_SCALE = float(os.environ.get("LOAD_TIME_SCALE", "0.05"))
MAX_CONCURRENT_CALLS = int(os.environ.get("LOAD_MAX_CONCURRENT_CALLS", "20"))
TIMEOUT_S = float(os.environ.get("LOAD_TIMEOUT_S", str(60 + CALLS * 0.5)))
# Starts in flight at once; the calls themselves all run together.
START_CONCURRENCY = 50
MIX = (
    "answered",
    "answered",
    "answered",
    "duplicate_webhooks",
    "out_of_order",
    "webhooks_lost",
    "no_answer",
    "busy",
)


async def test_load_every_call_finishes_once(tmp_path: Path) -> None:
    assert CALLS >= 1
    config = StackConfig(
        time_scale=TIME_SCALE,
        env={"MAX_CONCURRENT_CALLS": str(MAX_CONCURRENT_CALLS)},
        # One line per webhook and per activity would be most of the work at this size.
        log_level="WARNING",
    )
    async with ProcessStack(tmp_path / "stack", config).running() as stack:
        gate = asyncio.Semaphore(START_CONCURRENCY)

        async def start(index: int, scenario: str) -> PlacedCall:
            async with gate:
                return await place_call(stack, f"load-{index}", scenario)

        started = time.monotonic()
        async with asyncio.timeout(TIMEOUT_S):
            placed = await asyncio.gather(
                *(start(i, s) for i, s in zip(range(CALLS), itertools.cycle(MIX), strict=False))
            )
        audit = await audit_calls(stack, placed, timeout_s=TIMEOUT_S)
        elapsed = time.monotonic() - started
        dials = len(await stack.sim.calls())

        figures = audit.figures()
        by_status = ", ".join(f"{status} {n}" for status, n in sorted(audit.by_status.items()))
        print(
            f"\nload: {CALLS} calls: {figures['finished']} completed with the right outcome "
            f"({by_status}), {figures['lost']} lost, {figures['double_dialed']} double-dialed; "
            f"{dials} dials; {elapsed:.1f}s ({CALLS / elapsed:.1f} calls/s)"
        )
        problems = "\n".join(audit.problems[:20])
        assert figures["lost"] == 0, problems + "\n" + stack.logs_summary()
        assert figures["double_dialed"] == 0, problems
        assert figures == {"calls": CALLS, "finished": CALLS, "lost": 0, "double_dialed": 0}
        assert dials == CALLS  # one dial per call: every scenario here dials once
        assert audit.by_status["completed"] == sum(
            1 for p in placed if p.expected.value == "completed"
        )
