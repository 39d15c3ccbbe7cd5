"""The yardsticks for end-to-end calls: minimal workflows with a call's activities and signals.

``BaselineCallWorkflow(activities, signals, local_activities)`` runs ``local_activities``
no-op local activities and ``activities`` no-op activities one after another, then waits until
it has received ``signals`` ``tick`` signals (the benchmark sends them), and returns. It does
what a happy-path call does to Temporal (the same number of activities and signals, on the
same server), and nothing else: no Retell, no bridge, no state.

``BaselineRealCallWorkflow(request, ticks)`` runs a happy-path call's own activities, minimal: it
validates the request and checks the do-not-call list (the product's local activities),
creates the call at the simulator (the product's ``create_call``) and waits for the call's
webhooks, which the simulator sends and the bridge signals as ``call_event``, until
``call_analyzed``. What belongs to the account-wide cap is stood in for, so that the counts
match the call's: a no-op local activity for the slot's ask and one for its release, and as
many ``tick`` s (sent by the benchmark) as the call received grant signals (none when the
slot came in the ask's answer). No search attributes, no deadline timer, no
state machine, no pool: what the call does beyond this is what its ratio to it measures.

Its worker runs as a process of its own, like ``worker.py`` (``--real``: with the product's
activities, settings from the environment as the worker reads them)::

    python -m bench.baseline --address 127.0.0.1:7233 --task-queue baseline [--real]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

# This module is also imported inside the workflow sandbox (it defines the workflow), which
# refuses what adapters' logging does at import; passed through, it is imported once.
with workflow.unsafe.imports_passed_through():
    from activities.do_not_call import DoNotCallActivities
    from activities.retell import RetellActivities
    from activities.validation import RequestValidationActivities
    from adapters.bytecode import compile_package
    from outbound_calls_client.models import CallRequest, CreateCallInput
    from outbound_calls_client.names import CALL_EVENT_SIGNAL
    from outbound_calls_client.retell_wire import CallEvent

WORKFLOW_NAME = "BaselineCallWorkflow"
REAL_WORKFLOW_NAME = "BaselineRealCallWorkflow"
SIGNAL_NAME = "tick"
# The webhook that ends a happy-path call's wait.
LAST_EVENT = "call_analyzed"
LOCAL_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class RealBaselineInput:
    request: CallRequest
    # Stand-ins for the call's grant signals.
    ticks: int = 0


@dataclass(frozen=True)
class BaselineInput:
    activities: int
    signals: int
    local_activities: int = 0


@activity.defn(name="baseline_noop")
async def baseline_noop() -> None:
    return None


@workflow.defn(name=WORKFLOW_NAME)
class BaselineCallWorkflow:
    def __init__(self) -> None:
        self._ticks = 0

    @workflow.signal(name=SIGNAL_NAME)
    def tick(self) -> None:
        self._ticks += 1

    @workflow.run
    async def run(self, spec: BaselineInput) -> int:
        for _ in range(spec.local_activities):
            await workflow.execute_local_activity(
                baseline_noop, start_to_close_timeout=timedelta(seconds=30)
            )
        for _ in range(spec.activities):
            await workflow.execute_activity(
                baseline_noop, start_to_close_timeout=timedelta(seconds=30)
            )
        await workflow.wait_condition(
            lambda: self._ticks >= spec.signals, timeout=timedelta(hours=1)
        )
        return self._ticks


@workflow.defn(name=REAL_WORKFLOW_NAME)
class BaselineRealCallWorkflow:
    def __init__(self) -> None:
        self._ticks = 0
        self._events: set[str] = set()

    @workflow.signal(name=SIGNAL_NAME)
    def tick(self) -> None:
        self._ticks += 1

    @workflow.signal(name=CALL_EVENT_SIGNAL)
    def call_event(self, event: CallEvent) -> None:
        self._events.add(event.event)

    @workflow.run
    async def run(self, spec: RealBaselineInput) -> int:
        request = spec.request
        validated = await workflow.execute_local_activity_method(
            RequestValidationActivities.validate_call_request,
            request,
            start_to_close_timeout=LOCAL_TIMEOUT,
        )
        await workflow.execute_local_activity_method(
            DoNotCallActivities.check_do_not_call,
            validated.to_number,
            start_to_close_timeout=LOCAL_TIMEOUT,
        )
        # The slot's ask, then its grant.
        await workflow.execute_local_activity(baseline_noop, start_to_close_timeout=LOCAL_TIMEOUT)
        await workflow.wait_condition(lambda: self._ticks >= spec.ticks, timeout=timedelta(hours=1))
        workflow_id = workflow.info().workflow_id
        await workflow.execute_activity_method(
            RetellActivities.create_call,
            CreateCallInput(
                workflow_id=workflow_id,
                attempt=1,
                idempotency_key=f"{workflow_id}-1",
                to_number=validated.to_number,
                from_number=validated.from_number,
                agent_id=request.agent_id,
                metadata=request.metadata,
                dynamic_variables=request.dynamic_variables,
            ),
            start_to_close_timeout=timedelta(minutes=5),
        )
        await workflow.wait_condition(
            lambda: LAST_EVENT in self._events, timeout=timedelta(hours=1)
        )
        # The slot's release.
        await workflow.execute_local_activity(baseline_noop, start_to_close_timeout=LOCAL_TIMEOUT)
        return len(self._events) + self._ticks


async def run_worker(address: str, task_queue: str) -> None:
    # As worker.py does for workflows/: the sandbox re-imports this module for every run.
    compile_package(Path(__file__).parent)
    client = await Client.connect(address)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[BaselineCallWorkflow],
        activities=[baseline_noop],
        # As worker.py's default MAX_CONCURRENT_ACTIVITIES.
        max_concurrent_activities=100,
    )
    await _serve(worker)


async def run_real_worker(address: str, task_queue: str) -> None:
    """The product's activities, client and sandbox, as worker.py builds them."""
    from adapters.dnc_store import open_do_not_call_list
    from adapters.outcome_urls import OutcomeUrlPolicy
    from adapters.settings import WorkerSettings
    from adapters.temporal_client import connect_temporal
    from worker import retell_client_for, workflow_runner

    compile_package(Path(__file__).parent)
    settings = WorkerSettings(temporal_address=address)
    client = await connect_temporal(settings)
    async with (
        retell_client_for(settings) as retell,
        open_do_not_call_list(settings) as do_not_call,
    ):
        validation = RequestValidationActivities(OutcomeUrlPolicy(settings.outcome_url_hosts))
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[BaselineRealCallWorkflow],
            activities=[
                baseline_noop,
                validation.validate_call_request,
                DoNotCallActivities(do_not_call).check_do_not_call,
                RetellActivities(retell).create_call,
            ],
            workflow_runner=workflow_runner(),
            max_concurrent_activities=settings.max_concurrent_activities,
            max_cached_workflows=settings.max_cached_workflows,
        )
        await _serve(worker)


async def _serve(worker: Worker) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        print("baseline worker started", flush=True)
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument(
        "--real", action="store_true", help="BaselineRealCallWorkflow, the product's activities"
    )
    parser.add_argument("--log-level", default="INFO", help="with --real: as the worker's")
    args = parser.parse_args()
    if args.real:
        from adapters.logs import configure_logging

        configure_logging(level=args.log_level)
        asyncio.run(run_real_worker(args.address, args.task_queue))
    else:
        asyncio.run(run_worker(args.address, args.task_queue))
    return 0


if __name__ == "__main__":
    sys.exit(main())
