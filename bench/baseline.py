"""The yardstick for end-to-end calls: a minimal workflow with a call's activities and signals.

``BaselineCallWorkflow(activities, signals, local_activities)`` runs ``local_activities``
no-op local activities and ``activities`` no-op activities one after another, then waits until
it has received ``signals`` ``tick`` signals (the benchmark sends them), and returns. It does
what a happy-path call does to Temporal (the same number of activities and signals, on the
same server), and nothing else: no Retell, no bridge, no state.

Its worker runs as a process of its own, like ``worker.py``::

    python -m bench.baseline --address 127.0.0.1:7233 --task-queue baseline
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

# This module is also imported inside the workflow sandbox (it defines the workflow), which
# refuses what adapters' logging does at import; passed through, it is imported once.
with workflow.unsafe.imports_passed_through():
    from adapters.bytecode import compile_package

WORKFLOW_NAME = "BaselineCallWorkflow"
SIGNAL_NAME = "tick"


@dataclass(frozen=True)
class BaselineInput:
    activities: int
    signals: int
    local_activities: int = 0


@activity.defn(name="baseline_noop")
async def baseline_noop() -> None:
    return None


@workflow.defn(name=WORKFLOW_NAME)
class BaselineCallWorkflow:
    def __init__(self) -> None:
        self._ticks = 0

    @workflow.signal(name=SIGNAL_NAME)
    def tick(self) -> None:
        self._ticks += 1

    @workflow.run
    async def run(self, spec: BaselineInput) -> int:
        for _ in range(spec.local_activities):
            await workflow.execute_local_activity(
                baseline_noop, start_to_close_timeout=timedelta(seconds=30)
            )
        for _ in range(spec.activities):
            await workflow.execute_activity(
                baseline_noop, start_to_close_timeout=timedelta(seconds=30)
            )
        await workflow.wait_condition(
            lambda: self._ticks >= spec.signals, timeout=timedelta(hours=1)
        )
        return self._ticks


async def run_worker(address: str, task_queue: str) -> None:
    # As worker.py does for workflows/: the sandbox re-imports this module for every run.
    compile_package(Path(__file__).parent)
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[BaselineCallWorkflow],
        activities=[baseline_noop],
        # As worker.py's default MAX_CONCURRENT_ACTIVITIES.
        max_concurrent_activities=100,
    )
    async with worker:
        print("baseline worker started", flush=True)
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    asyncio.run(run_worker(args.address, args.task_queue))
    return 0


if __name__ == "__main__":
    sys.exit(main())
