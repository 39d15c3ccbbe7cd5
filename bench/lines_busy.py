"""Lines kept busy: how much of the account's cap a saturating burst of calls keeps in use.

    .venv/bin/python -m bench.lines_busy [--calls 200 --cap 10 --call-s 3]

The whole stack runs as processes (bench/common.py) with ``MAX_CONCURRENT_CALLS=--cap`` (no
inbound reserve, one pool). After a few warm-up calls, ``--calls`` answered calls of
``--call-s`` seconds each (a third ringing, the rest talking: ``simulator_ring_ms`` and
``simulator_talk_ms``) are started at once (50 starts in flight): the first ``--cap`` dial,
the others wait for a slot, and every hang-up hands a slot on.

Measured from the simulator's own record: a call holds one of the account's lines from its
create's arrival (``/_sim/requests``' ``received_ms``) to its hang-up (``end_timestamp``).

- **busy ratio** = line-seconds used / (cap x first create → last hang-up) = the ideal time
  (calls x mean call / cap) / the actual time. Target: at least 0.97.
- **where the rest goes** (bench/line_use.py): the lines' idle time, split into heads (before
  a line's first create), hand-overs (one call's end → the next create on its line) and tails
  (after a line's last call, while others still talk); the hand-overs' gaps' mean, median,
  p90, max, and their mean round by round (a round: ``--cap`` hand-overs in create order).
- **the first round apart**: the first calls hang up while the burst's other calls are still
  being set up (first workflow tasks, validation, asks), so their hand-overs wait for that;
  the later rounds are the steady hand-over (with their own busy ratio).
- **the gap, step by step**, for each hand-over whose next call waited for its grant: the
  call_ended webhook leaving the simulator and its signal in the ending call's history (the
  bridge), that call's workflow task picking it up and its release reaching the pool (the
  pool's history), the pool's workflow task and its grant signal in the next call's history,
  that call's workflow task and its create activity scheduled, started, and arriving at the
  simulator. The server's, the worker's and the simulator's clocks are the machine's one
  clock; a stage's mean adds up with the others' to the mean gap.
- CPU by process, read every half second: the cores each kept busy over the run, while the
  burst was set up, during the first round and the later ones; on 2 shared cores, whether a
  hand-over waited for a core or for a message.

Printed and written to ``bench/results/lines_busy.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from bench.common import (
    CpuMeter,
    add_stack_arguments,
    bench_stack,
    percentile,
    print_table,
    stack_parameters,
    stack_pids,
    write_result,
)
from bench.line_use import (
    HandOver,
    LineUse,
    Span,
    busy_within,
    distribution,
    line_use,
    mean_gap_by_round,
    split_gaps,
)
from outbound_calls_client.models import CallTimeouts, OutcomeStatus
from outbound_calls_client.names import (
    CALL_EVENT_SIGNAL,
    RELEASE_SLOT_SIGNAL,
    SLOT_GRANTED_SIGNAL,
    SLOTS_WORKFLOW,
    WORKFLOW_ID_METADATA_KEY,
)
from stack.calls import PlacedCall, place_call, webhook_records
from stack.processes import ProcessStack
from worker import slots_task_queue_for

TARGET = 0.97
START_CONCURRENCY = 50
WARM_UP_CALLS = 3
# Far beyond the run: a call waiting for its slot neither asks again (the ring timeout is its
# first look) nor polls, so what the figures show is the hand-over alone.
TIMEOUTS = CallTimeouts(
    ring_timeout_s=3600, poll_interval_s=3600, analysis_timeout_s=600, max_duration_s=3600
)
E = EventType

# The moments of one hand-over, in order; each stage is from one to the next.
STAGES: tuple[tuple[str, str], ...] = (
    ("end -> call_ended webhook sent", "simulator"),
    ("webhook sent -> signal in the ending call", "bridge: HTTP, signature, signal RPC"),
    ("signal -> its workflow task starts", "server, worker: task dispatch"),
    ("task starts -> release at the pool", "worker, server: the call's task, its release signal"),
    ("release -> pool's workflow task starts", "server, worker: task dispatch"),
    ("pool task -> grant signal in the next call", "worker: pool code, grant local activity"),
    ("grant -> next call's workflow task starts", "server, worker: task dispatch"),
    ("task starts -> create scheduled", "worker: the call's code, local activities"),
    # Eager: the activity comes back with the workflow task's answer, so it "starts" at once
    # and its way to the worker is in the next stage.
    ("create scheduled -> activity starts", "server: eager, at once"),
    ("activity starts -> create at the simulator", "worker: task answer, the activity, HTTP"),
)


@dataclass
class Moments:
    """One call's moments (ms since the epoch), from the simulator and the histories."""

    workflow_id: str
    created_ms: float
    end_ms: float
    # The burst's start: the workflow started, its first task, its ask answered.
    started_ms: float | None = None
    first_task_ms: float | None = None
    asked_ms: float | None = None
    hook_sent_ms: float | None = None
    ended_signal_ms: float | None = None
    release_task_ms: float | None = None
    released_ms: float | None = None
    pool_task_ms: float | None = None
    granted_ms: float | None = None
    grant_task_ms: float | None = None
    create_scheduled_ms: float | None = None
    create_started_ms: float | None = None

    @property
    def span(self) -> Span:
        return Span(self.created_ms, self.end_ms)


def hand_over_chain(ended: Moments, next_call: Moments) -> list[float] | None:
    """The moments from ``ended``'s hang-up to ``next_call``'s create (None: one unknown, as
    for a call granted in its ask's answer)."""
    chain = [
        ended.end_ms,
        ended.hook_sent_ms,
        ended.ended_signal_ms,
        ended.release_task_ms,
        ended.released_ms,
        ended.pool_task_ms,
        next_call.granted_ms,
        next_call.grant_task_ms,
        next_call.create_scheduled_ms,
        next_call.create_started_ms,
        next_call.created_ms,
    ]
    if any(moment is None for moment in chain):
        return None
    return [float(moment) for moment in chain if moment is not None]


def _ms(event: HistoryEvent) -> float:
    return float(event.event_time.ToMilliseconds())


def _signal_args(event: HistoryEvent, converter: DataConverter) -> list[Any]:
    payloads = event.workflow_execution_signaled_event_attributes.input.payloads
    return converter.payload_converter.from_payloads(list(payloads))


def read_call_history(moments: Moments, history: WorkflowHistory, converter: DataConverter) -> None:
    """The call's side: call_ended's signal and the task that took it, the grant and the task
    that took it, the create activity's scheduling and start."""
    awaiting_ended = awaiting_grant = False
    create_event_id: int | None = None
    for event in history.events:
        kind = event.event_type
        if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            name = event.workflow_execution_signaled_event_attributes.signal_name
            if name == CALL_EVENT_SIGNAL and moments.ended_signal_ms is None:
                args = _signal_args(event, converter)
                if args and isinstance(args[0], dict) and args[0].get("event") == "call_ended":
                    moments.ended_signal_ms = _ms(event)
                    awaiting_ended = True
            elif name == SLOT_GRANTED_SIGNAL and moments.granted_ms is None:
                moments.granted_ms = _ms(event)
                awaiting_grant = True
        elif kind == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            if awaiting_ended:
                moments.release_task_ms, awaiting_ended = _ms(event), False
            if awaiting_grant:
                moments.grant_task_ms, awaiting_grant = _ms(event), False
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and create_event_id is None:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == "create_call":
                create_event_id = event.event_id
                moments.create_scheduled_ms = _ms(event)
        elif (
            kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED
            and event.activity_task_started_event_attributes.scheduled_event_id == create_event_id
        ):
            moments.create_started_ms = _ms(event)


def read_start(moments: Moments, history: WorkflowHistory) -> None:
    """The call's start: the workflow started, its first workflow task began, and the pool
    answered its ask (the local activity's own completion time, in its marker)."""
    for event in history.events:
        kind = event.event_type
        if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            moments.started_ms = _ms(event)
        elif kind == E.EVENT_TYPE_WORKFLOW_TASK_STARTED and moments.first_task_ms is None:
            moments.first_task_ms = _ms(event)
        elif kind == E.EVENT_TYPE_MARKER_RECORDED:
            data = event.marker_recorded_event_attributes.details.get("data")
            if data is None or not data.payloads:
                continue
            marker = json.loads(data.payloads[0].data)
            if marker.get("activity_type") == "request_call_slot":
                done = marker.get("complete_time") or {}
                at_ms = done.get("seconds", 0) * 1000 + done.get("nanos", 0) / 1e6
                moments.asked_ms = at_ms or _ms(event)
                return


def read_pool_history(
    by_workflow: dict[str, Moments], history: WorkflowHistory, converter: DataConverter
) -> None:
    """The pool's side: each release signal and the pool's next workflow task."""
    pending: list[Moments] = []
    for event in history.events:
        if event.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attributes = event.workflow_execution_signaled_event_attributes
            if attributes.signal_name != RELEASE_SLOT_SIGNAL:
                continue
            args = _signal_args(event, converter)
            moments = by_workflow.get(args[0]) if args and isinstance(args[0], str) else None
            if moments is not None and moments.released_ms is None:
                moments.released_ms = _ms(event)
                pending.append(moments)
        elif event.event_type == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            for moments in pending:
                moments.pool_task_ms = _ms(event)
            pending = []


async def place_burst(
    stack: ProcessStack, args: argparse.Namespace
) -> tuple[list[PlacedCall], float]:
    """``--calls`` calls started at once; the seconds the starts took."""
    ring_ms = round(args.call_s * 1000 / 3)
    talk_ms = round(args.call_s * 1000) - ring_ms
    gate = asyncio.Semaphore(START_CONCURRENCY)

    async def one(index: int) -> PlacedCall:
        async with gate:
            return await place_call(
                stack,
                f"bench-lines-{index}",
                ring_ms=ring_ms,
                talk_ms=talk_ms,
                timeouts=TIMEOUTS,
            )

    loop = asyncio.get_running_loop()
    began = loop.time()
    placed = await asyncio.gather(*(one(i) for i in range(args.calls)))
    return list(placed), loop.time() - began


async def warm_up(stack: ProcessStack) -> None:
    """A few calls first: the worker's sandbox, connections and the pool are then as a
    running deployment has them."""
    placed = [
        await place_call(stack, "bench-lines-warm", timeouts=TIMEOUTS) for _ in range(WARM_UP_CALLS)
    ]
    for call in placed:
        await asyncio.wait_for(call.handle.result(), timeout=120)


async def collect(stack: ProcessStack, placed: Sequence[PlacedCall]) -> list[Moments]:
    """Every burst call's moments: the simulator's records, then the histories."""
    wanted = {call.workflow_id for call in placed}
    created: dict[str, float] = {}
    for request in await stack.sim.requests("/create-phone-call"):
        call_id = request.get("call_id")
        if call_id and (call_id not in created or request["received_ms"] < created[call_id]):
            created[call_id] = float(request["received_ms"])
    calls = {}
    for call in await stack.sim.calls():
        workflow_id = (call.get("metadata") or {}).get(WORKFLOW_ID_METADATA_KEY)
        if workflow_id not in wanted:
            continue
        if not call.get("end_timestamp"):
            raise RuntimeError(f"call {call['call_id']} of {workflow_id} never ended")
        calls[call["call_id"]] = Moments(
            workflow_id=workflow_id,
            created_ms=created[call["call_id"]],
            end_ms=float(call["end_timestamp"]),
        )
    if len(calls) != len(wanted):
        raise RuntimeError(f"{len(wanted)} calls placed, {len(calls)} dialed")
    gate = asyncio.Semaphore(20)
    converter = stack.client.data_converter

    async def one(call_id: str, moments: Moments) -> None:
        async with gate:
            for record in await webhook_records(stack, call_id):
                if record["event"] == "call_ended" and record["attempts"]:
                    moments.hook_sent_ms = float(record["attempts"][0]["started_ms"])
                    break
            handle = stack.client.get_workflow_handle(moments.workflow_id)
            history = await handle.fetch_history()
            read_start(moments, history)
            read_call_history(moments, history, converter)

    await asyncio.gather(*(one(call_id, m) for call_id, m in calls.items()))
    by_workflow = {m.workflow_id: m for m in calls.values()}
    queues = f'"{stack.task_queue}", "{slots_task_queue_for(stack.task_queue)}"'
    query = f'WorkflowType = "{SLOTS_WORKFLOW}" AND TaskQueue IN ({queues})'
    async for execution in stack.client.list_workflows(query):
        handle = stack.client.get_workflow_handle(execution.id, run_id=execution.run_id)
        read_pool_history(by_workflow, await handle.fetch_history(), converter)
    return list(calls.values())


class CpuTimeline:
    """CPU seconds by process, read every half second: how many cores each kept busy in any
    window of the run (the start-up, the steady hand-overs)."""

    def __init__(self, pids: dict[str, int], every_s: float = 0.5) -> None:
        self._meter = CpuMeter(pids)
        self._every_s = every_s
        self.samples: list[tuple[float, dict[str, float]]] = []

    def read(self) -> None:
        self.samples.append((time.time() * 1000, self._meter.spent()))

    async def run(self) -> None:
        while True:
            self.read()
            await asyncio.sleep(self._every_s)

    def total(self) -> dict[str, float]:
        """CPU seconds by process up to the last reading."""
        return self.samples[-1][1] if self.samples else {}

    def cores(self, start_ms: float, end_ms: float) -> dict[str, float]:
        """Cores each process kept busy from ``start_ms`` to ``end_ms`` (the nearest samples
        around them)."""
        before = [s for s in self.samples if s[0] <= start_ms] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= end_ms] or self.samples[-1:]
        (t0, cpu0), (t1, cpu1) = before[-1], after[0]
        if t1 <= t0:
            return {}
        return {name: round((cpu1[name] - cpu0[name]) / ((t1 - t0) / 1000), 2) for name in cpu1}


def _hand_over_figures(
    moments: Sequence[Moments], hand_overs: Sequence[HandOver]
) -> dict[str, Any]:
    gaps = [h.gap_ms for h in hand_overs]
    chains = [
        chain
        for h in hand_overs
        if (chain := hand_over_chain(moments[h.freed_by], moments[h.taken_by])) is not None
    ]
    return {
        "count": len(gaps),
        "idle_line_s": round(sum(gaps) / 1000, 2),
        "gap_ms": distribution(gaps),
        "split": len(chains),
        "gap_split_ms": split_gaps(chains, [name for name, _ in STAGES]),
    }


def figures_of(moments: Sequence[Moments], use: LineUse, cpu: CpuTimeline) -> dict[str, Any]:
    """The whole run's figures, then its first round of hand-overs (the first calls' lines,
    handed on while the burst's other calls are still being set up) apart from the later
    rounds."""
    first_create = min(m.created_ms for m in moments)
    last_create = max(m.created_ms for m in moments)
    all_asked = max(m.asked_ms or m.created_ms for m in moments)
    first_start = min(m.started_ms or m.created_ms for m in moments)
    first_round = list(use.hand_overs[: use.cap])
    later = list(use.hand_overs[use.cap :])
    first_waits = [
        (m.first_task_ms - m.started_ms) / 1000
        for m in moments
        if m.first_task_ms is not None and m.started_ms is not None
    ]
    queued = sum(1 for m in moments if m.granted_ms is not None)
    spent = cpu.total()
    run_s = (max(m.end_ms for m in moments) - first_create) / 1000

    def window(hand_overs: Sequence[HandOver]) -> tuple[float, float]:
        return (
            min(moments[h.freed_by].end_ms for h in hand_overs),
            max(moments[h.taken_by].created_ms for h in hand_overs),
        )

    first_figures: dict[str, Any] = _hand_over_figures(moments, first_round)
    if first_round:
        first_figures["cores_busy"] = cpu.cores(*window(first_round))
    later_figures: dict[str, Any] = _hand_over_figures(moments, later)
    if later:
        start, _ = window(later)
        later_figures["cores_busy"] = cpu.cores(start, last_create)
        later_figures["busy_ratio"] = round(
            busy_within(use_spans(moments), use.cap, start, last_create), 4
        )
    return {
        "line_seconds": round(use.line_s, 2),
        "mean_call_s": round(use.mean_call_s, 3),
        "first_create_to_last_end_s": round(use.span_s, 2),
        "ideal_s": round(use.ideal_s, 2),
        "busy_ratio": round(use.busy_ratio, 4),
        "target": TARGET,
        "target_met": use.busy_ratio >= TARGET,
        "peak_open_calls": use.peak_open,
        "over_cap_creates": use.over_cap,
        "idle_line_s": {
            "heads": round(use.head_idle_s, 2),
            "hand_overs": round(use.hand_over_idle_s, 2),
            "tails": round(use.tail_idle_s, 2),
            "total": round(use.idle_s, 2),
        },
        "hand_overs": len(use.hand_overs),
        "gap_ms": distribution([h.gap_ms for h in use.hand_overs]),
        "mean_gap_ms_by_round": mean_gap_by_round(use.hand_overs, use.cap),
        "calls_queued_for_a_grant": queued,
        "calls_granted_in_the_answer": len(moments) - queued,
        "burst_set_up": {
            "every_call_asked_after_first_start_s": round((all_asked - first_start) / 1000, 2),
            "every_call_asked_after_first_create_s": round((all_asked - first_create) / 1000, 2),
            "first_workflow_task_wait_s": {
                "p50": round(percentile(first_waits, 50), 2),
                "max": round(max(first_waits, default=0.0), 2),
            },
            "cores_busy": cpu.cores(first_start, all_asked),
        },
        "first_round": first_figures,
        "later_rounds": later_figures,
        "cpu_s_by_process": {name: round(seconds, 2) for name, seconds in spent.items()},
        "cores_busy": round(sum(spent.values()) / run_s, 2) if run_s else 0.0,
    }


def _gap_row(figures: dict[str, float]) -> str:
    return (
        f"mean {figures['mean']:.0f}, p50 {figures['p50']:.0f}, p90 {figures['p90']:.0f}, "
        f"max {figures['max']:.0f} ms"
    )


def _cores_row(cores: dict[str, float]) -> str:
    busiest = ", ".join(f"{name} {value}" for name, value in cores.items() if value >= 0.05)
    return f"{sum(cores.values()):.2f} of {os.cpu_count()} ({busiest})"


def report(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    idle = figures["idle_line_s"]
    met = "met" if figures["target_met"] else "missed"
    print_table(
        f"{args.calls} answered calls of {args.call_s} s, cap {args.cap}",
        [
            ("line-seconds used (create -> hang-up)", figures["line_seconds"]),
            ("mean call (create -> hang-up)", f"{figures['mean_call_s']} s"),
            ("ideal time (calls x mean call / cap)", f"{figures['ideal_s']} s"),
            (
                "actual time (first create -> last hang-up)",
                f"{figures['first_create_to_last_end_s']} s",
            ),
            ("busy ratio (ideal / actual)", f"{figures['busy_ratio']} (target {TARGET}: {met})"),
            ("most calls open at once", f"{figures['peak_open_calls']} (cap {args.cap})"),
            ("idle line-seconds", idle["total"]),
            ("  heads (before a line's first create)", idle["heads"]),
            ("  hand-overs (end -> next create)", idle["hand_overs"]),
            ("  tails (after a line's last call)", idle["tails"]),
            (f"hand-over gap ({figures['hand_overs']})", _gap_row(figures["gap_ms"])),
            (
                "calls queued for a grant / granted in the answer",
                f"{figures['calls_queued_for_a_grant']} / {figures['calls_granted_in_the_answer']}",
            ),
            ("CPU over the run, cores busy", f"{figures['cores_busy']} of {os.cpu_count()}"),
            (
                "  CPU s by process",
                ", ".join(f"{k} {v}" for k, v in figures["cpu_s_by_process"].items()),
            ),
        ],
    )
    set_up, first, later = figures["burst_set_up"], figures["first_round"], figures["later_rounds"]
    waits = set_up["first_workflow_task_wait_s"]
    rows: list[tuple[str, Any]] = [
        ("mean gap by round (ms)", " ".join(str(g) for g in figures["mean_gap_ms_by_round"])),
        (
            "every call asked for its slot, after the first start",
            f"{set_up['every_call_asked_after_first_start_s']} s "
            f"({set_up['every_call_asked_after_first_create_s']} s after the first create)",
        ),
        ("  a call's first workflow task waited", f"p50 {waits['p50']} s, max {waits['max']} s"),
        ("  cores busy meanwhile", _cores_row(set_up["cores_busy"])),
    ]
    for label, part in (("first round", first), ("later rounds", later)):
        if not part["count"]:
            continue
        rows += [
            (
                f"{label}: {part['count']} hand-overs, idle {part['idle_line_s']} line-s",
                _gap_row(part["gap_ms"]),
            ),
            ("  cores busy meanwhile", _cores_row(part["cores_busy"])),
        ]
    if later.get("busy_ratio") is not None:
        rows.append(("  busy ratio over the later rounds", later["busy_ratio"]))
    print_table("the first round of hand-overs (the burst still being set up) and the rest", rows)
    for name, part in (("later rounds", later), ("first round", first)):
        if not part["split"]:
            continue
        split = part["gap_split_ms"]
        print_table(
            f"the gap, step by step: {name} ({part['split']} hand-overs; ms, share of mean gap)",
            [
                (stage, f"{_gap_row(split[stage])}, {split[stage]['share_of_gap']:.0%}  [{where}]")
                for stage, where in STAGES
            ],
        )


def use_spans(moments: Iterable[Moments]) -> list[Span]:
    return [m.span for m in moments]


async def main_async(args: argparse.Namespace) -> int:
    env = {"MAX_CONCURRENT_CALLS": str(args.cap), "RESERVED_INBOUND_CALLS": "0"}
    async with bench_stack(args, time_scale=1.0, env=env) as stack:
        await warm_up(stack)
        load_before = os.getloadavg()[0]
        cpu = CpuTimeline(stack_pids(stack))
        sampler = asyncio.create_task(cpu.run())
        try:
            placed, starts_s = await place_burst(stack, args)
            print(f"{args.calls} calls started in {starts_s:.1f}s")
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(call.handle.result() for call in placed)),
                timeout=args.calls * args.call_s / args.cap * 5 + 300,
            )
        finally:
            sampler.cancel()
        cpu.read()  # while the processes are still there
        load_after = os.getloadavg()[0]
        completed = sum(1 for o in outcomes if o.status == OutcomeStatus.COMPLETED)
        moments = await collect(stack, placed)
    use = line_use(use_spans(moments), args.cap)
    figures = {
        **figures_of(moments, use, cpu),
        "completed": completed,
        "starts_s": round(starts_s, 2),
        # Other work on the machine shows here (the burst itself adds about its cores busy).
        "load_average_1min": {"before": load_before, "after": load_after},
    }
    report(args, figures)
    load = figures["load_average_1min"]
    print(f"\n{completed}/{args.calls} completed; starting them took {starts_s:.1f} s")
    print(f"load average (1 min) before / after: {load['before']:.2f} / {load['after']:.2f}")
    write_result(
        "lines_busy",
        {"calls": args.calls, "cap": args.cap, "call_s": args.call_s, **stack_parameters(args)},
        figures,
    )
    return 0 if completed == args.calls and use.over_cap == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.lines_busy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=200, help="answered calls in the burst")
    parser.add_argument("--cap", type=int, default=10, help="MAX_CONCURRENT_CALLS")
    parser.add_argument("--call-s", type=float, default=3.0, help="each call's create -> hang-up")
    add_stack_arguments(parser)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
