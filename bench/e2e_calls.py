"""End-to-end calls per second, next to a minimal workflow with the same activities and signals.

    .venv/bin/python -m bench.e2e_calls [--calls 200]

The whole stack runs as processes. First a few answered calls warm it up and give the shape
of a happy-path call (activities scheduled, signals received, from its history). Then:

- **calls**: ``--calls`` answered calls are started at once (50 starts in flight) and each
  goes validate → do-not-call check → call slot → create at the simulator → signed webhooks
  → bridge → signals → outcome. The simulator is fast (``SIMULATOR_TIME_SCALE=0.01``: a call
  rings and talks for about 30 ms), so the figure is the stack's own speed, not a phone's.
- **baseline**: as many ``BaselineCallWorkflow`` s (``bench/baseline.py``, its own worker
  process) with the same number of no-op activities and of signals (sent by this process),
  on the same dev server.

Printed and written to ``bench/results/e2e_calls.json``: calls/s of each (from the first
start to the last result), p50/p99 time from start to result, the ratio calls/baseline, and
the CPU each costs by process (server, worker, bridge, simulator, this one): on a machine
where everything shares two cores that is where the ratio comes from, and it stays steady
when other work runs beside the benchmark while the rates do not.
``MAX_CONCURRENT_CALLS`` is set above ``--calls`` so the account-wide cap does not queue
calls: the pool that enforces it is still in every call's path.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import Client

from bench.baseline import SIGNAL_NAME, WORKFLOW_NAME, BaselineInput
from bench.common import (
    CpuMeter,
    add_stack_arguments,
    bench_stack,
    ms_each,
    percentile,
    print_table,
    stack_parameters,
    stack_pids,
    write_result,
)
from bench.history_events import happy_path_breakdown, local_activities
from calls.models import CallTimeouts, OutcomeStatus
from stack.calls import place_call
from stack.processes import ProcessStack

START_CONCURRENCY = 50
BATCH_TIMEOUT_S = 1800.0
TIMEOUTS = CallTimeouts(ring_timeout_s=30, poll_interval_s=30, analysis_timeout_s=30)


async def timed_batch(
    count: int, start: Callable[[int], Awaitable[Any]], finish: Callable[[Any], Awaitable[bool]]
) -> tuple[float, list[float], int]:
    """Start ``count`` workflows (bounded concurrency) and wait for each: elapsed seconds,
    per-workflow seconds from start to result, and how many finished as they should."""
    gate = asyncio.Semaphore(START_CONCURRENCY)
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def one(index: int) -> tuple[float, bool]:
        async with gate:
            started = loop.time()
            handle = await start(index)
        ok = await finish(handle)
        return loop.time() - started, ok

    async with asyncio.timeout(BATCH_TIMEOUT_S):
        results = await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = loop.time() - began
    return elapsed, [seconds for seconds, _ in results], sum(1 for _, ok in results if ok)


Batch = tuple[float, list[float], int, dict[str, float]]


async def run_calls(stack: ProcessStack, count: int) -> Batch:
    async def start(index: int) -> Any:
        return await place_call(stack, f"bench-e2e-{index}", timeouts=TIMEOUTS)

    async def finish(placed: Any) -> bool:
        outcome = await asyncio.wait_for(placed.handle.result(), timeout=600)
        return bool(outcome.status == OutcomeStatus.COMPLETED and outcome.call_analysis)

    meter = CpuMeter(stack_pids(stack))
    return (*await timed_batch(count, start, finish), meter.spent())


async def run_baseline(stack: ProcessStack, count: int, spec: BaselineInput) -> Batch:
    queue = f"baseline-{uuid.uuid4().hex[:8]}"
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.baseline",
        "--address",
        stack.temporal_address,
        "--task-queue",
        queue,
        env=stack.environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert worker.stdout is not None
        line = await asyncio.wait_for(worker.stdout.readline(), timeout=60)
        if b"started" not in line:
            raise RuntimeError(f"baseline worker did not start: {line!r}")
        client: Client = stack.client

        async def start(index: int) -> Any:
            handle = await client.start_workflow(
                WORKFLOW_NAME,
                spec,
                id=f"baseline-{queue}-{index}",
                task_queue=queue,
                result_type=int,
            )
            for _ in range(spec.signals):
                await handle.signal(SIGNAL_NAME)
            return handle

        async def finish(handle: Any) -> bool:
            ticks = await asyncio.wait_for(handle.result(), timeout=600)
            return bool(ticks == spec.signals)

        meter = CpuMeter({**stack_pids(stack), "baseline worker": worker.pid})
        return (*await timed_batch(count, start, finish), meter.spent())
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), timeout=30)


async def main_async(args: argparse.Namespace) -> int:
    env = {"MAX_CONCURRENT_CALLS": str(args.calls + 10)}
    async with bench_stack(args, time_scale=0.01, env=env) as stack:
        shape = (await happy_path_breakdown(stack, 3))[0]
        sample = await place_call(stack, "bench-shape", timeouts=TIMEOUTS)
        await asyncio.wait_for(sample.handle.result(), timeout=120)
        spec = BaselineInput(
            activities=shape["ACTIVITY_TASK_SCHEDULED"],
            signals=shape["WORKFLOW_EXECUTION_SIGNALED"],
            local_activities=local_activities(await sample.handle.fetch_history()),
        )
        print(
            f"a happy-path call: {spec.activities} activities, {spec.local_activities} local "
            f"activities, {spec.signals} signals received"
        )
        calls_s, calls_latency, calls_ok, calls_cpu = await run_calls(stack, args.calls)
        print(f"calls:    {args.calls} in {calls_s:.1f}s")
        base_s, base_latency, base_ok, base_cpu = await run_baseline(stack, args.calls, spec)
        print(f"baseline: {args.calls} in {base_s:.1f}s")
    calls_cpu_ms = ms_each(calls_cpu, args.calls)
    base_cpu_ms = ms_each(base_cpu, args.calls)
    calls_rate = args.calls / calls_s
    base_rate = args.calls / base_s
    figures = {
        "calls_per_s": round(calls_rate, 2),
        "calls_p50_s": round(percentile(calls_latency, 50), 3),
        "calls_p99_s": round(percentile(calls_latency, 99), 3),
        "calls_completed": calls_ok,
        "baseline_per_s": round(base_rate, 2),
        "baseline_p50_s": round(percentile(base_latency, 50), 3),
        "baseline_p99_s": round(percentile(base_latency, 99), 3),
        "baseline_completed": base_ok,
        "ratio_calls_to_baseline": round(calls_rate / base_rate, 3),
        "cpu_ms_per_call": calls_cpu_ms,
        "cpu_ms_per_baseline": base_cpu_ms,
        "cpu_ratio_baseline_to_calls": round(sum(base_cpu.values()) / sum(calls_cpu.values()), 3),
        "call_history_events": sum(shape.values()),
        "baseline_activities": spec.activities,
        "baseline_signals": spec.signals,
        "baseline_local_activities": spec.local_activities,
    }
    print_table(
        f"{args.calls} workflows each, started at once ({START_CONCURRENCY} starts in flight)",
        [
            ("calls (simulator, bridge, worker)", f"{figures['calls_per_s']} calls/s"),
            (
                "  start -> outcome p50 / p99",
                f"{figures['calls_p50_s']} / {figures['calls_p99_s']} s",
            ),
            ("  completed with analysis", f"{calls_ok}/{args.calls}"),
            (
                f"baseline ({spec.local_activities} local + {spec.activities} activities"
                f" + {spec.signals} signals)",
                f"{figures['baseline_per_s']} workflows/s",
            ),
            (
                "  start -> result p50 / p99",
                f"{figures['baseline_p50_s']} / {figures['baseline_p99_s']} s",
            ),
            ("ratio calls / baseline", figures["ratio_calls_to_baseline"]),
            ("CPU ms a call, by process", _by_process(calls_cpu_ms)),
            ("CPU ms a baseline workflow", _by_process(base_cpu_ms)),
            ("CPU ratio baseline / calls", figures["cpu_ratio_baseline_to_calls"]),
        ],
    )
    write_result(
        "e2e_calls",
        {"calls": args.calls, "time_scale": 0.01, **stack_parameters(args)},
        figures,
    )
    return 0 if calls_ok == args.calls and base_ok == args.calls else 1


def _by_process(cpu_ms: dict[str, float]) -> str:
    parts = ", ".join(f"{name} {ms}" for name, ms in cpu_ms.items() if ms >= 0.1)
    return f"{sum(cpu_ms.values()):.1f} ({parts})"


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.e2e_calls",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=200, help="calls (and baseline workflows)")
    add_stack_arguments(parser)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
