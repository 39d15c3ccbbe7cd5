"""What every benchmark shares: the machine's description, percentiles, the results file,
and the whole stack as processes (``stack/processes.py``, the same one the fault tests
break)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from outbound_calls_client.models import CallTimeouts
from stack.binaries import server_binary
from stack.calls import PlacedCall, place_call
from stack.config import StackConfig
from stack.processes import ProcessStack

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


def _command_version(*argv: str) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else None


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def machine() -> dict[str, Any]:
    """Where the figures were taken: they mean little without it."""
    wrk = shutil.which("wrk")
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "temporalio": metadata.version("temporalio"),
        "temporal_cli": _command_version(server_binary("temporal"), "--version"),
        "wrk": _command_version(wrk, "--version") if wrk else None,
    }


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def write_result(name: str, parameters: Mapping[str, Any], figures: Mapping[str, Any]) -> Path:
    """``bench/results/<name>.json``: parameters, figures and the machine, newest run only."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "benchmark": name,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", f"bench.{name}", *sys.argv[1:]]),
        "parameters": dict(parameters),
        "figures": dict(figures),
        "machine": machine(),
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten {path.relative_to(BENCH_DIR.parent)}")
    return path


def print_table(title: str, rows: Iterable[tuple[str, Any]]) -> None:
    print(f"\n{title}")
    for label, value in rows:
        print(f"  {label:<44} {value}")


class CpuMeter:
    """CPU seconds (user + system) that named processes spend between two readings: what a
    workload costs the machine, steadier than its rate when other work shares the cores."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._start = self._read()

    def _read(self) -> dict[str, float]:
        return {
            name: (times := proc.cpu_times()).user + times.system
            for name, proc in self._procs.items()
        }

    def spent(self) -> dict[str, float]:
        now = self._read()
        return {name: now[name] - self._start[name] for name in now}


def ms_each(spent: Mapping[str, float], count: int) -> dict[str, float]:
    """CPU seconds by process as milliseconds for each of ``count`` workflows (or contacts)."""
    return {name: round(seconds / count * 1000, 1) for name, seconds in spent.items()}


def stack_pids(stack: ProcessStack) -> dict[str, int]:
    """The stack's processes and this one (it starts workflows and reads results)."""
    return {**{name: stack.pid(name) for name in stack.components}, "bench": os.getpid()}


def _default_data_dir() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=_default_data_dir(),
        help="where the stack's directory (the dev server's SQLite file, logs) is made; "
        "default /dev/shm (tmpfs), so that the disk's fsync latency does not hide the costs "
        "compared; give a directory on disk to measure with it",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the stack's directory (logs) afterwards"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="worker and bridge log level (INFO, as deployed; WARNING measures without logs)",
    )


class _MeteredStack(ProcessStack):
    """The stack, its dev server also serving Prometheus metrics (its ``action`` counter)."""

    def __init__(self, data_dir: Path, config: StackConfig, metrics_port: int) -> None:
        super().__init__(data_dir, config)
        self.metrics_port = metrics_port

    def _temporal_argv(self) -> list[str]:
        return [*super()._temporal_argv(), f"--metrics-port={self.metrics_port}"]


@contextlib.asynccontextmanager
async def bench_stack(
    args: argparse.Namespace,
    *,
    time_scale: float,
    env: Mapping[str, str] | None = None,
    server_metrics_port: int | None = None,
) -> AsyncIterator[ProcessStack]:
    """The stack as processes, in a fresh directory under ``--data-dir``; with
    ``server_metrics_port``, the dev server serves ``/metrics`` there."""
    args.data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-", dir=args.data_dir))
    # A benchmark stopped with SIGTERM (kill, a timeout) must stop its stack too: the default
    # action ends the interpreter at once and leaves the worker, bridge and simulator running.
    main = asyncio.current_task()
    if main is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    try:
        # Retell waits 10 s for a webhook's 2xx; the time scale shortens a call's phone time,
        # not that: scaled down to 0.5 s, a bridge slowed by the load itself is taken for a
        # failed delivery, and the retries then add work the benchmark would count.
        stack_env = {"SIMULATOR_WEBHOOK_TIMEOUT_S": "10", **(env or {})}
        config = StackConfig(time_scale=time_scale, env=stack_env, log_level=args.log_level)
        started = time.monotonic()
        stack = (
            ProcessStack(data_dir, config)
            if server_metrics_port is None
            else _MeteredStack(data_dir, config, server_metrics_port)
        )
        async with stack.running():
            print(f"stack up in {time.monotonic() - started:.1f}s in {data_dir}")
            yield stack
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def stack_parameters(args: argparse.Namespace) -> dict[str, Any]:
    return {"data_dir": str(args.data_dir), "log_level": args.log_level}


# Deadlines far beyond any run: a waiting call neither polls nor gives up meanwhile.
LONG_WAIT = CallTimeouts(
    ring_timeout_s=86_400, poll_interval_s=86_400, analysis_timeout_s=86_400, max_duration_s=86_400
)


async def start_waiting_calls(
    stack: ProcessStack,
    count: int,
    label: str,
    *,
    expected_total: int | None = None,
    concurrency: int = 50,
    timeout_s: float = 1800,
) -> list[PlacedCall]:
    """``count`` OutboundCallWorkflows dialed and waiting in their ring phase for webhooks.

    Scenario ``webhooks_lost``: the simulator plays each call but sends no webhook, and the
    deadlines are a day away, so every workflow sits in ``wait_condition`` until the run ends.
    Returns once Temporal lists ``expected_total`` (default ``count``) calls of the task queue
    as ``ringing``.
    """
    gate = asyncio.Semaphore(concurrency)

    async def one() -> PlacedCall:
        async with gate:
            return await place_call(stack, label, "webhooks_lost", timeouts=LONG_WAIT)

    started = time.monotonic()
    placed = await asyncio.gather(*(one() for _ in range(count)))
    query = f'TaskQueue = "{stack.task_queue}" AND CallStatus = "ringing"'
    async with asyncio.timeout(timeout_s):
        while True:
            if (await stack.client.count_workflows(query)).count >= (expected_total or count):
                break
            await asyncio.sleep(0.5)
    elapsed = time.monotonic() - started
    print(f"{count} calls dialed and waiting in {elapsed:.1f}s ({count / elapsed:.1f} calls/s)")
    return list(placed)
