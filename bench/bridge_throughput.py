"""Bridge throughput: signed webhooks into signals, next to a raw Temporal client.

    .venv/bin/python -m bench.bridge_throughput [--receivers 200] [--connections 32]
        [--duration 10] [--rounds 2]

The whole stack runs as processes (dev server on SQLite, simulator, bridge, worker).
``--receivers`` OutboundCallWorkflows are dialed and left waiting in their ring phase (the
simulator loses their webhooks on purpose, deadlines are a day away). Each receiver's
``call_started`` webhook body (as the simulator recorded it, so routed by
``call.metadata.temporal_workflow_id``) is signed right before each run and replayed over and
over: the first copy moves the call to ``in_call``, the rest are duplicates the workflow counts
and drops, so every signal reaches a live workflow and none finishes it.

Per round, at the same concurrency and against the same workflows:

- **bridge**: ``wrk`` (C, one thread) with ``bench/webhooks.lua`` POSTs the pre-signed bodies
  to ``/webhooks/retell``; the bridge verifies, parses, routes and signals each one;
- **raw**: a Temporal client in this process signals the same ``CallEvent`` s with
  ``handle.signal(OutboundCallWorkflow.call_event, ...)`` from as many asyncio tasks as wrk
  has connections.

Printed and written to ``bench/results/bridge_throughput.json``: requests/s and p50/p99
latency of each, and the ratio bridge/raw (target: at least 0.8). Afterwards every receiver
is asked (``status`` query) how many signals it got: at least every delivery acknowledged,
and at most the requests wrk had in flight when it stopped more (it does not count those,
though the bridge signals them); otherwise the run exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.common import (
    BENCH_DIR,
    add_stack_arguments,
    bench_stack,
    percentile,
    print_table,
    stack_parameters,
    start_waiting_calls,
    write_result,
)
from calls.signatures import sign_retell_body
from outbound_calls_client.models import CallSnapshot
from outbound_calls_client.retell_wire import CallEvent
from stack.calls import PlacedCall, webhook_records
from stack.config import SIM_KEY
from stack.processes import ProcessStack
from workflows.outbound_call import OutboundCallWorkflow

LUA_SCRIPT = BENCH_DIR / "webhooks.lua"
WRK_MARKER = "WRK_JSON "
TARGET_RATIO = 0.8
# As the bridge's own bound on one signal (BRIDGE_SIGNAL_TIMEOUT_S, default 5 s).
RPC_TIMEOUT = timedelta(seconds=5)


@dataclass(frozen=True)
class Receiver:
    workflow_id: str
    body: str  # the call_started webhook exactly as Retell would send it


@dataclass
class RunResult:
    kind: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
            "requests_per_s": round(self.rate, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
        }


async def _receivers(stack: ProcessStack, placed: list[PlacedCall]) -> list[Receiver]:
    grouped = await _calls_by_workflow(stack, {p.workflow_id for p in placed})
    receivers = []
    for p in placed:
        call_id = grouped[p.workflow_id]
        # The simulator records the webhooks it was told to lose, bodies included.
        async with asyncio.timeout(30):
            while True:
                records = await webhook_records(stack, call_id)
                started = [r for r in records if r["event"] == "call_started"]
                if started:
                    break
                await asyncio.sleep(0.2)
        receivers.append(Receiver(p.workflow_id, started[0]["body"]))
    return receivers


async def _calls_by_workflow(stack: ProcessStack, wanted: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for call in await stack.sim.calls():
        workflow_id = (call.get("metadata") or {}).get("temporal_workflow_id")
        if workflow_id in wanted:
            found[workflow_id] = call["call_id"]
    return found


def _write_signed_bodies(receivers: list[Receiver], path: Path) -> None:
    """One line per receiver, ``signature<TAB>body``; signed now (valid for 5 minutes)."""
    lines = []
    for receiver in receivers:
        raw = receiver.body.encode()
        if b"\t" in raw or b"\n" in raw:
            raise ValueError("a webhook body with a raw tab or newline cannot go on one line")
        lines.append(f"{sign_retell_body(SIM_KEY, raw)}\t{receiver.body}")
    path.write_text("\n".join(lines) + "\n")


async def run_wrk(
    url: str, receivers: list[Receiver], *, connections: int, seconds: float, workdir: Path
) -> RunResult:
    bodies = workdir / "bodies.tsv"
    _write_signed_bodies(receivers, bodies)
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    proc = await asyncio.create_subprocess_exec(
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(bodies),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=seconds + 60)
    text = out.decode()
    lines = [line for line in text.splitlines() if line.startswith(WRK_MARKER)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{text}")
    summary = json.loads(lines[-1].removeprefix(WRK_MARKER))
    errors = summary["errors"]
    return RunResult(
        kind="bridge",
        requests=summary["requests"] - errors["status"],
        errors=sum(errors.values()),
        seconds=summary["duration_us"] / 1e6,
        p50_ms=summary["latency_us"]["p50"] / 1000,
        p99_ms=summary["latency_us"]["p99"] / 1000,
    )


async def run_raw(
    client: Client, receivers: list[Receiver], *, concurrency: int, seconds: float
) -> RunResult:
    """The same signals straight from a Temporal client, ``concurrency`` in flight."""
    events = [
        (client.get_workflow_handle(r.workflow_id), CallEvent.model_validate_json(r.body))
        for r in receivers
    ]
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + seconds

    async def sender(offset: int) -> None:
        nonlocal errors
        index = offset * 7919
        while loop.time() < deadline:
            handle, event = events[index % len(events)]
            index += 1
            sent = time.perf_counter()
            try:
                await handle.signal(OutboundCallWorkflow.call_event, event, rpc_timeout=RPC_TIMEOUT)
            except Exception:  # counted, like wrk's errors; the run goes on
                errors += 1
                continue
            latencies.append(time.perf_counter() - sent)

    await asyncio.gather(*(sender(i) for i in range(concurrency)))
    elapsed = loop.time() - started
    return RunResult(
        kind="raw",
        requests=len(latencies),
        errors=errors,
        seconds=elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
    )


async def signals_received(client: Client, receivers: list[Receiver]) -> int:
    """Every call_event signal the receivers took in (first copy plus duplicates)."""
    total = 0
    for receiver in receivers:
        handle = client.get_workflow_handle(receiver.workflow_id)
        snapshot: CallSnapshot = await handle.query(OutboundCallWorkflow.status)
        total += len(snapshot.events_seen) + snapshot.duplicate_events
    return total


async def main_async(args: argparse.Namespace) -> int:
    # Every receiver holds a call slot while it waits: the cap must not make them queue.
    env = {"MAX_CONCURRENT_CALLS": str(args.receivers + 10)}
    async with bench_stack(args, time_scale=0.2, env=env) as stack:
        placed = await start_waiting_calls(stack, args.receivers, "bench-bridge")
        receivers = await _receivers(stack, placed)
        url = f"{stack.bridge_url}/webhooks/retell"
        raw_client = await Client.connect(
            stack.temporal_address, data_converter=pydantic_data_converter
        )
        runs: list[RunResult] = []
        with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
            workdir = Path(tmp)
            warmup = await run_wrk(
                url, receivers, connections=args.connections, seconds=3, workdir=workdir
            )
            print(f"warm-up: {warmup.requests} webhooks")
            for round_no in range(1, args.rounds + 1):
                raw = await run_raw(
                    raw_client, receivers, concurrency=args.connections, seconds=args.duration
                )
                bridge = await run_wrk(
                    url,
                    receivers,
                    connections=args.connections,
                    seconds=args.duration,
                    workdir=workdir,
                )
                for result in (raw, bridge):
                    print(
                        f"round {round_no} {result.kind:<6} {result.rate:8.1f} req/s  "
                        f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
                        f"errors {result.errors}"
                    )
                runs += [raw, bridge]
        received = await signals_received(stack.client, receivers)
    acknowledged = warmup.requests + sum(r.requests for r in runs)

    def mean(kind: str, attribute: str) -> float:
        return statistics.fmean(float(getattr(r, attribute)) for r in runs if r.kind == kind)

    ratio = mean("bridge", "rate") / mean("raw", "rate")
    figures = {
        "bridge_requests_per_s": round(mean("bridge", "rate"), 1),
        "bridge_p50_ms": round(mean("bridge", "p50_ms"), 2),
        "bridge_p99_ms": round(mean("bridge", "p99_ms"), 2),
        "raw_signals_per_s": round(mean("raw", "rate"), 1),
        "raw_p50_ms": round(mean("raw", "p50_ms"), 2),
        "raw_p99_ms": round(mean("raw", "p99_ms"), 2),
        "ratio_bridge_to_raw": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "errors": sum(r.errors for r in runs),
        "acknowledged": acknowledged,
        "signals_received": received,
        "runs": [r.as_dict() for r in runs],
    }
    print_table(
        f"bridge vs raw client, {args.connections} concurrent, {args.receivers} workflows, "
        f"{args.rounds} x {args.duration:g}s each (means)",
        [
            ("bridge (wrk -> bridge -> signal)", f"{figures['bridge_requests_per_s']} req/s"),
            (
                "bridge latency p50 / p99",
                f"{figures['bridge_p50_ms']} / {figures['bridge_p99_ms']} ms",
            ),
            ("raw client (signal)", f"{figures['raw_signals_per_s']} signals/s"),
            ("raw latency p50 / p99", f"{figures['raw_p50_ms']} / {figures['raw_p99_ms']} ms"),
            ("ratio bridge / raw", f"{ratio:.2f} (target >= {TARGET_RATIO})"),
            ("errors (both)", figures["errors"]),
            ("acknowledged / received by workflows", f"{acknowledged} / {received}"),
        ],
    )
    write_result(
        "bridge_throughput",
        {
            "receivers": args.receivers,
            "connections": args.connections,
            "duration_s": args.duration,
            "rounds": args.rounds,
            **stack_parameters(args),
        },
        figures,
    )
    # wrk does not count the requests in flight when it stops, though the bridge signals them.
    in_flight_at_stop = args.connections * (1 + args.rounds)
    if not acknowledged <= received <= acknowledged + in_flight_at_stop:
        print(
            f"ERROR: {received} signals reached the workflows for {acknowledged} acknowledged "
            f"deliveries (at most {in_flight_at_stop} more may be in flight when wrk stops)",
            file=sys.stderr,
        )
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bridge_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--receivers", type=int, default=200, help="waiting call workflows")
    parser.add_argument("--connections", type=int, default=32, help="concurrency of both")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="raw + bridge runs, alternating")
    add_stack_arguments(parser)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
