"""The cap's own ceiling: slot acquires + releases per second at 1, 2, 4 and 8 pool shards.

    .venv/bin/python -m bench.slot_pool [--holders 240 --cycles 4 --capacity 120]

No Retell, no bridge: ``--holders`` tiny ``SlotCycleWorkflow`` s each take a slot and give it
back ``--cycles`` times, through the same local activities and pools (``CallSlotsWorkflow``)
a call uses, against a dev server in memory and one worker in this process. The cap
(``--capacity``, split across the shards) is below the number of holders, so requests queue
and the pools grant as slots come back. The figure is (acquires + releases) / elapsed, per
shard count, and the pools' history events per acquire. Written to
``bench/results/slot_pool.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.call_slots import CallSlotActivities
    from bench.common import print_table, write_result
    from calls.slots import SlotRequest, SlotTicket, slots_workflow_id
    from outbound_calls_client.names import SLOT_GRANTED_SIGNAL
    from outbound_calls_client.search_attributes import ALL_SEARCH_ATTRIBUTES
    from stack.binaries import server_binary
    from worker import workflow_runner
    from workflows.call_slots import CallSlotsWorkflow

SHARD_COUNTS = (1, 2, 4, 8)


@workflow.defn(name="SlotCycleWorkflow")
class SlotCycleWorkflow:
    """Take a slot and give it back, ``cycles`` times, as a call does (local activities)."""

    def __init__(self) -> None:
        self._granted: int | None = None

    @workflow.signal(name=SLOT_GRANTED_SIGNAL)
    def slot_granted(self, ticket: int) -> None:
        self._granted = ticket

    @workflow.run
    async def run(self, cycles: int) -> int:
        for ticket in range(1, cycles + 1):
            request = SlotRequest(
                holder=workflow.info().workflow_id, lease_s=600, capacity=1, ticket=ticket
            )
            slot = await workflow.execute_local_activity(
                "request_call_slot",
                request,
                result_type=SlotTicket,
                start_to_close_timeout=timedelta(seconds=30),
            )
            if slot.granted:  # the slot came in the answer: no grant signal follows
                self._granted = ticket
            await workflow.wait_condition(lambda t=ticket: self._granted == t)  # type: ignore[misc]
            await workflow.execute_local_activity(
                "release_call_slot", slot, start_to_close_timeout=timedelta(seconds=30)
            )
        return cycles


async def measure(
    env: WorkflowEnvironment, shards: int, holders: int, cycles: int, capacity: int
) -> dict[str, float]:
    client = env.client
    queue = f"slots-bench-{uuid.uuid4().hex[:8]}"
    # As worker.py runs them: the pools on a queue and worker of their own, so that holders
    # waiting in their ask (a local activity holds its workflow task) never starve the
    # pools of workflow task slots.
    pools_queue = f"{queue}-slots"
    slots = CallSlotActivities(
        client, task_queue=queue, capacity=capacity, shards=shards, pool_task_queue=pools_queue
    )
    holders_worker = Worker(
        client,
        task_queue=queue,
        workflows=[SlotCycleWorkflow],
        activities=[slots.request_call_slot, slots.release_call_slot],
        workflow_runner=workflow_runner(),
    )
    pools_worker = Worker(
        client,
        task_queue=pools_queue,
        workflows=[CallSlotsWorkflow],
        activities=[slots.grant_call_slots, slots.recover_slot_holders],
        workflow_runner=workflow_runner(),
    )
    loop = asyncio.get_running_loop()
    async with holders_worker, pools_worker:
        began = loop.time()
        handles = await asyncio.gather(
            *(
                client.start_workflow(
                    "SlotCycleWorkflow", cycles, id=f"{queue}-holder-{i}", task_queue=queue
                )
                for i in range(holders)
            )
        )
        await asyncio.gather(*(h.result() for h in handles))
        elapsed = loop.time() - began
    pool_events = 0
    busy: list[float] = []
    for shard in range(shards):
        query = f'WorkflowId = "{slots_workflow_id(queue, shard)}"'
        seconds = 0.0
        async for execution in client.list_workflows(query):
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            history = await handle.fetch_history()
            pool_events += len(history.events)
            seconds += task_seconds(history)
        busy.append(seconds / elapsed)
    acquires = holders * cycles
    rate = 2 * acquires / elapsed
    return {
        "shards": shards,
        "seconds": round(elapsed, 2),
        "acquires_and_releases_per_s": round(rate, 1),
        "pool_events_per_acquire": round(pool_events / acquires, 2),
        # What one pool's history takes: the figure a cluster serializes per workflow.
        "events_per_s_per_pool": round(pool_events / elapsed / shards, 1),
        # The share of the run each pool had a workflow task in flight: near 1 means that
        # one workflow was the bottleneck; low means the limit was elsewhere (CPU here).
        "busiest_pool_busy": round(max(busy), 2),
        "mean_pool_busy": round(sum(busy) / len(busy), 2),
        # What the pools could take if nothing else limited them: each at full time.
        "pool_ceiling_per_s": round(rate / max(busy), 1),
    }


def task_seconds(history: WorkflowHistory) -> float:
    """Seconds the workflow had a task scheduled or running (one history is serial)."""
    total = 0.0
    scheduled: float | None = None
    for event in history.events:
        at = event.event_time.ToDatetime().timestamp()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            scheduled = at
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and scheduled:
            total += at - scheduled
            scheduled = None
    return total


async def main_async(args: argparse.Namespace) -> int:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=server_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    rows = []
    async with env:
        for shards in args.shards:
            row = await measure(env, shards, args.holders, args.cycles, args.capacity)
            print(row, flush=True)
            rows.append(row)
    print_table(
        f"{args.holders} holders x {args.cycles} cycles, cap {args.capacity}",
        [
            (
                f"{r['shards']} shard(s)",
                f"{r['acquires_and_releases_per_s']} acquires+releases/s, "
                f"busiest pool busy {r['busiest_pool_busy']}, "
                f"{r['events_per_s_per_pool']} events/s per pool, "
                f"{r['pool_events_per_acquire']} pool events per acquire",
            )
            for r in rows
        ],
    )
    write_result(
        "slot_pool",
        {"holders": args.holders, "cycles": args.cycles, "capacity": args.capacity},
        {"by_shards": rows},
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.slot_pool",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--holders", type=int, default=240)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--capacity", type=int, default=120)
    parser.add_argument("--shards", type=int, nargs="+", default=list(SHARD_COUNTS))
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
