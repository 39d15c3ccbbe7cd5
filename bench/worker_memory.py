"""Worker memory with many calls waiting for events.

    .venv/bin/python -m bench.worker_memory [--calls 1000] [--steps 5]
    .venv/bin/python -m bench.worker_memory --calls 10000      # the full size (about 20 min)

The whole stack runs as processes. After a few answered calls have warmed the worker up
(every module loaded, every code path taken once), its resident set size (RSS, ``psutil``)
is the *before* figure. Then ``--calls`` OutboundCallWorkflows are dialed in ``--steps``
batches and left waiting in their ring phase (``webhooks_lost``, deadlines a day away), and
after each batch, once Temporal lists every call as ``ringing`` and the worker has settled,
the RSS is read again. Printed and written to ``bench/results/worker_memory.json``: RSS before
and after, per waiting call in KiB, and the curve.

How to read it: the worker keeps at most ``max_cached_workflows`` workflows in memory
(temporalio's default, 1000; ``worker.py`` keeps it). Beyond that, waiting workflows are
evicted and cost the worker nothing until an event wakes them (then their history is replayed).
So per-call KiB is the cost of a *cached* waiting call up to the cache size, and it falls as
calls go past it.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys

import psutil
from temporalio.worker import Worker

from bench.common import (
    add_stack_arguments,
    bench_stack,
    print_table,
    stack_parameters,
    start_waiting_calls,
    write_result,
)
from bench.history_events import happy_path_breakdown
from stack.processes import ProcessStack

SETTLE_S = 3.0
MIB = 2**20


def cache_size() -> int:
    default: int = inspect.signature(Worker.__init__).parameters["max_cached_workflows"].default
    return default


async def settled_rss(stack: ProcessStack) -> int:
    await asyncio.sleep(SETTLE_S)
    rss: int = psutil.Process(stack.pid("worker")).memory_info().rss
    return rss


async def main_async(args: argparse.Namespace) -> int:
    env = {"MAX_CONCURRENT_CALLS": str(args.calls + 10)}
    curve: list[dict[str, float]] = []
    async with bench_stack(args, time_scale=0.2, env=env) as stack:
        await happy_path_breakdown(stack, 3)  # warm-up: every code path once
        before = await settled_rss(stack)
        curve.append({"waiting_calls": 0, "rss_mib": round(before / MIB, 1)})
        print(f"worker RSS before: {before / MIB:.1f} MiB")
        waiting = 0
        for step in range(args.steps):
            batch = args.calls // args.steps + (1 if step < args.calls % args.steps else 0)
            await start_waiting_calls(
                stack, batch, f"bench-mem-{step}", expected_total=waiting + batch
            )
            waiting += batch
            rss = await settled_rss(stack)
            curve.append({"waiting_calls": waiting, "rss_mib": round(rss / MIB, 1)})
            print(f"  {waiting:>6} calls waiting: worker RSS {rss / MIB:.1f} MiB")
        after = curve[-1]["rss_mib"] * MIB
    per_call_kib = (after - before) / args.calls / 1024
    cached = min(args.calls, cache_size())
    figures = {
        "rss_before_mib": round(before / MIB, 1),
        "rss_after_mib": round(after / MIB, 1),
        "per_waiting_call_kib": round(per_call_kib, 1),
        "per_cached_call_kib": round((after - before) / cached / 1024, 1),
        "max_cached_workflows": cache_size(),
        "curve": curve,
    }
    print_table(
        f"worker RSS with {args.calls} calls waiting for events",
        [
            ("before (warmed up)", f"{figures['rss_before_mib']} MiB"),
            ("after", f"{figures['rss_after_mib']} MiB"),
            ("per waiting call", f"{figures['per_waiting_call_kib']} KiB"),
            (
                f"per cached call (cache: {cache_size()} workflows)",
                f"{figures['per_cached_call_kib']} KiB",
            ),
        ],
    )
    write_result(
        "worker_memory",
        {"calls": args.calls, "steps": args.steps, **stack_parameters(args)},
        figures,
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.worker_memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=1000, help="calls left waiting")
    parser.add_argument("--steps", type=int, default=5, help="batches (points of the curve)")
    add_stack_arguments(parser)
    args = parser.parse_args()
    if args.calls < args.steps or args.steps < 1:
        parser.error("--calls must be at least --steps, and --steps at least 1")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
