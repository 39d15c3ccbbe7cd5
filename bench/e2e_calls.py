"""End-to-end calls per second, next to a minimal workflow with the same activities and signals.

    .venv/bin/python -m bench.e2e_calls [--calls 200]

The whole stack runs as processes. First a few answered calls warm it up and give the shape
of a happy-path call (activities scheduled, signals received, from its history). Then:

- **calls**: ``--calls`` answered calls are started at once (50 starts in flight) and each
  goes validate → do-not-call check → call slot → create at the simulator → signed webhooks
  → bridge → signals → outcome. The simulator is fast (``SIMULATOR_TIME_SCALE=0.01``: a call
  rings and talks for about 30 ms), so the figure is the stack's own speed, not a phone's.
- **same-activities baseline**: as many ``BaselineRealCallWorkflow`` s (``bench/baseline.py``,
  its own worker process): the call's own activities (validation, do-not-call check, create
  at the simulator) and signals (its webhooks, through the bridge), minimal, with no-op
  stand-ins for what belongs to the cap. calls / this is the issue's ratio: what the call
  workflow and its cap cost beyond the work any call must do.
- **no-op baseline**: as many ``BaselineCallWorkflow`` s with the same number of no-op
  activities and of signals (sent by this process): Temporal's share alone, a stricter
  yardstick (the simulator and the bridge are not in it at all).

Printed and written to ``bench/results/e2e_calls.json``: calls/s of each (from the first
start to the last result), p50/p99 time from start to result, the ratios, and
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

from bench.baseline import (
    REAL_WORKFLOW_NAME,
    SIGNAL_NAME,
    WORKFLOW_NAME,
    BaselineInput,
    RealBaselineInput,
)
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
from outbound_calls_client.models import CallTimeouts, OutcomeStatus
from stack.calls import call_request, next_number, place_call
from stack.processes import ProcessStack, stop_process

START_CONCURRENCY = 50
BATCH_TIMEOUT_S = 1800.0
# A happy-path call's webhooks: call_started, call_ended, call_analyzed.
WEBHOOK_SIGNALS = 3
TIMEOUTS = CallTimeouts(
    ring_timeout_s=30, poll_interval_s=30, analysis_timeout_s=30, max_duration_s=600
)


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


async def run_baseline(
    stack: ProcessStack, count: int, spec: BaselineInput, *, real: bool = False
) -> Batch:
    """``count`` baseline workflows on a worker process of their own: the no-op ones, or
    (``real``) BaselineRealCallWorkflow with the product's activities."""
    queue = f"baseline-{uuid.uuid4().hex[:8]}"
    mode = ["--real", "--log-level", stack.config.log_level] if real else []
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.baseline",
        "--address",
        stack.temporal_address,
        "--task-queue",
        queue,
        *mode,
        env=stack.environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert worker.stdout is not None
        async with asyncio.timeout(60):
            # Log lines may come first (--real logs as the worker does).
            while b"baseline worker started" not in (line := await worker.stdout.readline()):
                if not line:
                    raise RuntimeError("baseline worker did not start")
        # Its log lines must not fill the pipe and stall it.
        drain = asyncio.create_task(_drain(worker.stdout))
        client: Client = stack.client

        # The real one's signals: its webhooks, and ticks for the call's other signals.
        ticks = max(spec.signals - WEBHOOK_SIGNALS, 0) if real else spec.signals

        async def start(index: int) -> Any:
            workflow_id = f"baseline-{queue}-{index}"
            if real:
                request = call_request(to_number=next_number(), timeouts=TIMEOUTS)
                handle = await client.start_workflow(
                    REAL_WORKFLOW_NAME,
                    RealBaselineInput(request, ticks),
                    id=workflow_id,
                    task_queue=queue,
                    result_type=int,
                )
            else:
                handle = await client.start_workflow(
                    WORKFLOW_NAME, spec, id=workflow_id, task_queue=queue, result_type=int
                )
            for _ in range(ticks):
                await handle.signal(SIGNAL_NAME)
            return handle

        expected = WEBHOOK_SIGNALS + ticks if real else spec.signals

        async def finish(handle: Any) -> bool:
            received = await asyncio.wait_for(handle.result(), timeout=600)
            return bool(received == expected)

        meter = CpuMeter({**stack_pids(stack), "baseline worker": worker.pid})
        try:
            return (*await timed_batch(count, start, finish), meter.spent())
        finally:
            drain.cancel()
    finally:
        await stop_process(worker)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


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
        calls = await run_calls(stack, args.calls)
        print(f"calls:    {args.calls} in {calls[0]:.1f}s")
        real = await run_baseline(stack, args.calls, spec, real=True)
        print(f"same-activities baseline: {args.calls} in {real[0]:.1f}s")
        noop = await run_baseline(stack, args.calls, spec)
        print(f"no-op baseline: {args.calls} in {noop[0]:.1f}s")
    figures: dict[str, Any] = {}
    for name, batch in (("calls", calls), ("real_baseline", real), ("baseline", noop)):
        figures.update(_batch_figures(name, batch, args.calls))
    figures.update(
        ratio_calls_to_real_baseline=round(
            figures["calls_per_s"] / figures["real_baseline_per_s"], 3
        ),
        ratio_calls_to_baseline=round(figures["calls_per_s"] / figures["baseline_per_s"], 3),
        cpu_ratio_real_baseline_to_calls=_cpu_ratio(real, calls),
        cpu_ratio_baseline_to_calls=_cpu_ratio(noop, calls),
        call_history_events=sum(shape.values()),
        baseline_activities=spec.activities,
        baseline_signals=spec.signals,
        baseline_local_activities=spec.local_activities,
    )
    rows: list[tuple[str, Any]] = []
    for name, label in (
        ("calls", "calls (simulator, bridge, worker)"),
        ("real_baseline", "same-activities baseline (simulator, bridge)"),
        (
            "baseline",
            f"no-op baseline ({spec.local_activities} local + {spec.activities}"
            f" activities + {spec.signals} signals)",
        ),
    ):
        rows += [
            (label, f"{figures[f'{name}_per_s']} workflows/s"),
            (
                "  start -> result p50 / p99",
                f"{figures[f'{name}_p50_s']} / {figures[f'{name}_p99_s']} s",
            ),
            ("  finished as they should", f"{figures[f'{name}_completed']}/{args.calls}"),
            ("  CPU ms each, by process", _by_process(figures[f"cpu_ms_per_{name}"])),
        ]
    rows += [
        ("ratio calls / same-activities baseline", figures["ratio_calls_to_real_baseline"]),
        ("  CPU ratio baseline / calls", figures["cpu_ratio_real_baseline_to_calls"]),
        ("ratio calls / no-op baseline", figures["ratio_calls_to_baseline"]),
        ("  CPU ratio baseline / calls", figures["cpu_ratio_baseline_to_calls"]),
    ]
    print_table(
        f"{args.calls} workflows each, started at once ({START_CONCURRENCY} starts in flight)", rows
    )
    write_result(
        "e2e_calls",
        {"calls": args.calls, "time_scale": 0.01, **stack_parameters(args)},
        figures,
    )
    all_ok = all(
        figures[f"{name}_completed"] == args.calls
        for name in ("calls", "real_baseline", "baseline")
    )
    return 0 if all_ok else 1


def _batch_figures(name: str, batch: Batch, count: int) -> dict[str, Any]:
    elapsed, latency, ok, cpu = batch
    return {
        f"{name}_per_s": round(count / elapsed, 2),
        f"{name}_p50_s": round(percentile(latency, 50), 3),
        f"{name}_p99_s": round(percentile(latency, 99), 3),
        f"{name}_completed": ok,
        f"cpu_ms_per_{name}": ms_each(cpu, count),
    }


def _cpu_ratio(baseline: Batch, calls: Batch) -> float:
    return round(sum(baseline[3].values()) / sum(calls[3].values()), 3)


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
