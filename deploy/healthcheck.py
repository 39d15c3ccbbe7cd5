"""Container health checks for our image: exit 0 healthy, 1 not (with one line saying why).

``python deploy/healthcheck.py http URL``
    the URL answers 2xx within a few seconds (the bridge's ``/readyz``, the simulator's
    ``/_sim/healthz``); no curl needed in a slim image.
``python deploy/healthcheck.py worker``
    this host's worker is polling its task queue: Temporal lists a poller on
    ``TEMPORAL_TASK_QUEUE`` whose identity (``pid@hostname``, the SDK's default) names this
    host, for workflow tasks and for activity tasks. That proves more than a live process:
    the worker reached Temporal with its settings (TLS, API key, namespace) and is taking
    work. Settings come from the environment, exactly as ``python worker.py`` reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from adapters.settings import TemporalSettings
from adapters.temporal_client import connect_temporal

TIMEOUT_S = 5.0
_QUEUE_TYPES = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


def check_http(url: str) -> str | None:
    """None when ``url`` answers 2xx, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            status: int = response.status
    except urllib.error.HTTPError as err:
        return f"{url} answered {err.code}"
    except (urllib.error.URLError, OSError) as err:
        return f"{url} unreachable: {err}"
    return None if 200 <= status < 300 else f"{url} answered {status}"


async def check_worker(settings: TemporalSettings, hostname: str) -> str | None:
    """None when a worker on ``hostname`` polls both task types of the queue, else why not."""
    client = await connect_temporal(settings)
    suffix = f"@{hostname}"
    for kind, queue_type in _QUEUE_TYPES.items():
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=settings.temporal_namespace,
                task_queue=TaskQueue(name=settings.temporal_task_queue),
                task_queue_type=queue_type,
            )
        )
        if not any(poller.identity.endswith(suffix) for poller in answer.pollers):
            return f"no {kind} poller from {hostname} on {settings.temporal_task_queue}"
    return None


async def _worker_problem() -> str | None:
    try:
        async with asyncio.timeout(TIMEOUT_S * 2):
            return await check_worker(TemporalSettings(), socket.gethostname())
    except TimeoutError:
        return "Temporal did not answer in time"
    except Exception as err:  # any failure to ask is "unhealthy", with its reason
        return f"{type(err).__name__}: {err}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="healthcheck.py", description="Health checks for the outbound-calls containers."
    )
    sub = parser.add_subparsers(dest="check", required=True)
    http = sub.add_parser("http", help="the URL answers 2xx")
    http.add_argument("url")
    sub.add_parser("worker", help="this host's worker polls TEMPORAL_TASK_QUEUE")
    args = parser.parse_args(argv)
    problem = check_http(args.url) if args.check == "http" else asyncio.run(_worker_problem())
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: the Temporal client's runtime threads can abort the interpreter while
    # it finalises (SIGABRT, about one run in two after a failed connect), and a health
    # check must say 0 or 1, nothing else.
    os._exit(code)
