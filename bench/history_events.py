"""History events per completed call: how much a happy-path call writes to Temporal.

    .venv/bin/python -m bench.history_events [--calls 3]

Places ``--calls`` answered calls through the whole stack (simulator → signed webhooks →
bridge → signals; nothing lost, nothing polled), waits for each outcome, and counts the
events of each call's history by type. Also counts what the calls cost the account-wide slot
pool (``CallSlotsWorkflow``, one per task queue), whose history grows with every call it
serves until it closes or continues as new. Written to ``bench/results/history_events.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory

from bench.common import (
    add_stack_arguments,
    bench_stack,
    print_table,
    stack_parameters,
    write_result,
)
from outbound_calls_client.models import CallTimeouts, OutcomeStatus
from outbound_calls_client.names import SLOTS_WORKFLOW
from stack.calls import place_call
from stack.processes import ProcessStack
from worker import slots_task_queue_for

# Webhooks carry the call; these deadlines are never reached by an answered call.
TIMEOUTS = CallTimeouts(
    ring_timeout_s=30, poll_interval_s=30, analysis_timeout_s=30, max_duration_s=600
)
LOCAL_ACTIVITY_MARKER = "core_local_activity"


def event_name(event_type: int) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_")  # type: ignore[arg-type]


async def history_breakdown(handle: WorkflowHandle[Any, Any]) -> Counter[str]:
    history = await handle.fetch_history()
    return Counter(event_name(event.event_type) for event in history.events)


def local_activities(history: WorkflowHistory) -> int:
    """Local activities run (one marker event each; patches are markers too)."""
    return sum(
        1
        for event in history.events
        if event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    )


async def slot_pool_breakdown(stack: ProcessStack) -> Counter[str]:
    """Every run of every shard of the task queue's slot pools (they close when idle)."""
    total: Counter[str] = Counter()
    queues = f'"{stack.task_queue}", "{slots_task_queue_for(stack.task_queue)}"'
    query = f'WorkflowType = "{SLOTS_WORKFLOW}" AND TaskQueue IN ({queues})'
    async for execution in stack.client.list_workflows(query):
        handle = stack.client.get_workflow_handle(execution.id, run_id=execution.run_id)
        total += await history_breakdown(handle)
    return total


async def happy_path_breakdown(stack: ProcessStack, calls: int) -> list[Counter[str]]:
    """Per answered call, its history's events by type (every call must complete)."""
    placed = [await place_call(stack, "bench-history", timeouts=TIMEOUTS) for _ in range(calls)]
    breakdowns = []
    for call in placed:
        outcome = await asyncio.wait_for(call.handle.result(), timeout=120)
        if outcome.status != OutcomeStatus.COMPLETED or outcome.call_analysis is None:
            raise RuntimeError(f"{call.workflow_id} ended {outcome.status}: {outcome.detail}")
        breakdowns.append(await history_breakdown(call.handle))
    return breakdowns


async def main_async(args: argparse.Namespace) -> int:
    async with bench_stack(args, time_scale=0.2) as stack:
        breakdowns = await happy_path_breakdown(stack, args.calls)
        pool_events = await slot_pool_breakdown(stack)
        polls = len(await stack.sim.requests("/get-call/"))
    totals = [sum(b.values()) for b in breakdowns]
    typical = breakdowns[0]
    pool_total = sum(pool_events.values())
    print_table(
        f"history of one answered call ({sum(typical.values())} events)",
        sorted(typical.items(), key=lambda item: (-item[1], item[0])),
    )
    print_table(
        f"slot pool history for {args.calls} call(s) ({pool_total} events)",
        sorted(pool_events.items(), key=lambda item: (-item[1], item[0])),
    )
    print_table(
        "summary",
        [
            ("events per call (each call)", totals),
            ("slot pool events per call", round(pool_total / args.calls, 1)),
            ("get-call polls (webhooks carried the calls)", polls),
        ],
    )
    write_result(
        "history_events",
        {"calls": args.calls, "scenario": "answered", **stack_parameters(args)},
        {
            "events_per_call": totals,
            "breakdown": dict(typical.most_common()),
            "slot_pool_events": pool_total,
            "slot_pool_events_per_call": round(pool_total / args.calls, 1),
            "slot_pool_breakdown": dict(pool_events.most_common()),
            "get_call_polls": polls,
        },
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.history_events",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=3, help="answered calls to count")
    add_stack_arguments(parser)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
