"""A campaign from a contacts file at scale: wall time, calls/s, peak worker RSS, largest run.

    .venv/bin/python -m bench.campaign_file [--contacts 10000 --max-in-flight 50]

The whole stack runs as processes (bench/common.py). A CSV of ``--contacts`` answered
contacts is written to the stack's directory (every process reads the same path, as a
shared volume would give them), the campaign is started with ``start_campaign`` and
followed to its end while the worker's RSS is sampled every second. Then every run of the
campaign's continue-as-new chain is read for its event count.

Printed and written to ``bench/results/campaign_file.json``: wall time, calls/s, peak worker
RSS, runs, the largest per-run history (events), and the CPU each process spent per contact
(as ``bench.e2e_calls`` reads it). Compare two sizes: only the time should grow with the
list.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import time
import uuid
from pathlib import Path

import psutil

from bench.common import (
    CpuMeter,
    add_stack_arguments,
    bench_stack,
    ms_each,
    print_table,
    stack_parameters,
    stack_pids,
    write_result,
)
from outbound_calls_client.campaign import CampaignRequest, CampaignSummary
from outbound_calls_client.contacts import CallTemplate, ContactSource
from outbound_calls_client.models import CallingWindow
from outbound_calls_client.start import start_campaign

MIB = 1024 * 1024


def write_contacts(path: Path, count: int) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["to_number", "customer_name"])
        for i in range(count):
            writer.writerow([f"+1415555{i % 10000:04d}", f"Ada {i}"])


async def main_async(args: argparse.Namespace) -> int:
    env = {"MAX_CONCURRENT_CALLS": str(args.max_in_flight * 2)}
    async with bench_stack(args, time_scale=0.01, env=env) as stack:
        contacts = stack.data_dir / "contacts.csv"
        write_contacts(contacts, args.contacts)
        request = CampaignRequest(
            campaign_id=f"bench-{uuid.uuid4().hex[:8]}",
            contacts=ContactSource(
                location=str(contacts),
                template=CallTemplate(
                    from_number="+12125550199",
                    agent_id="agent_bench",
                    calling_window=CallingWindow(enabled=False),
                ),
            ),
            max_in_flight=args.max_in_flight,
        )
        worker = psutil.Process(stack.pid("worker"))
        peak = worker.memory_info().rss
        meter = CpuMeter(stack_pids(stack))
        began = time.monotonic()
        handle = await start_campaign(stack.client, request, task_queue=stack.task_queue)
        result = asyncio.ensure_future(handle.result())
        while not result.done():
            await asyncio.wait({result}, timeout=1.0)
            peak = max(peak, worker.memory_info().rss)
        summary: CampaignSummary = result.result()
        elapsed = time.monotonic() - began
        cpu = meter.spent()
        largest, runs = 0, 0
        run_id: str | None = handle.first_execution_run_id or handle.result_run_id
        while run_id:
            history = await stack.client.get_workflow_handle(
                handle.id, run_id=run_id
            ).fetch_history()
            runs += 1
            largest = max(largest, len(history.events))
            last = history.events[-1]
            attrs = last.workflow_execution_continued_as_new_event_attributes
            run_id = attrs.new_execution_run_id or None
    figures = {
        "contacts": args.contacts,
        "finished": summary.finished,
        "counts": {k.value: v for k, v in summary.counts.items()},
        "wall_s": round(elapsed, 1),
        "calls_per_s": round(summary.finished / elapsed, 2),
        "peak_worker_rss_mib": round(peak / MIB, 1),
        "runs": runs,
        "largest_run_events": largest,
        "cpu_ms_per_contact": ms_each(cpu, args.contacts),
    }
    print_table(
        f"campaign of {args.contacts} contacts, {args.max_in_flight} in flight",
        [(k, v) for k, v in figures.items()],
    )
    parameters = {**stack_parameters(args), "max_in_flight": args.max_in_flight}
    write_result("campaign_file", parameters, figures)
    return 0 if summary.finished == args.contacts else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--max-in-flight", type=int, default=50)
    add_stack_arguments(parser)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
