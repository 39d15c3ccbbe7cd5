"""The account-wide cap (MAX_CONCURRENT_CALLS) on the dev server, every part real.

"Open at the simulator" is measured from the simulator's own records: a call is open from
the create request that made it until its end, so the cap holds if no instant has more open
intervals than slots.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.settings import BridgeSettings, SimulatorSettings
from bridge.app import create_app
from calls.slots import SlotsSnapshot, slots_workflow_id
from outbound_calls_client.models import CallOutcome, CallTimeouts, OutcomeStatus
from outbound_calls_client.names import ASK_SLOTS_UPDATE, SLOT_GRANTED_SIGNAL
from outbound_calls_client.start import start_call
from simulator.server import running_simulator, serve_asgi_app
from tests.helpers.call_harness import (
    SIM_KEY,
    SimulatorAdmin,
    call_request,
    call_worker,
    eventually,
    process_env,
    start_worker_process,
    stop_worker_processes,
)
from workflows.call_slots import CallSlotsWorkflow
from workflows.outbound_call import OutboundCallWorkflow

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


async def max_open_calls(sim: SimulatorAdmin) -> int:
    created = {
        r["call_id"]: r["received_ms"]
        for r in await sim.requests("/create-phone-call")
        if r.get("call_id")
    }
    edges: list[tuple[int, int]] = []
    for call in await sim.calls():
        assert call.get("end_timestamp"), f"call {call['call_id']} never ended"
        edges.append((created[call["call_id"]], 1))
        edges.append((call["end_timestamp"], -1))
    # Ends sort before starts at the same millisecond: a slot handed on is not an overlap.
    edges.sort()
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


@pytest.fixture
async def webhooks_to(dev_env: WorkflowEnvironment) -> AsyncIterator[str]:
    app = create_app(BridgeSettings(retell_api_key=SIM_KEY), client=dev_env.client)
    async with serve_asgi_app(app) as bridge:
        yield f"{bridge.base_url}/webhooks/retell"


@asynccontextmanager
async def simulated_account(
    dev_env: WorkflowEnvironment,
    webhooks_to: str,
    tmp_path: Path,
    time_scale: float,
    **settings: str,
) -> AsyncIterator[tuple[SimulatorAdmin, dict[str, str]]]:
    """A simulator sending webhooks to ``webhooks_to``, and the environment of worker
    processes that dial it (``settings`` on top)."""
    simulator = SimulatorSettings(
        simulator_time_scale=time_scale, simulator_webhook_url=webhooks_to
    )
    async with running_simulator(simulator) as running:
        sim = SimulatorAdmin(running.base_url)
        env = process_env(
            dev_env.client,
            RETELL_BASE_URL=running.base_url,
            RETELL_API_KEY=SIM_KEY,
            DO_NOT_CALL_DB=str(tmp_path / "dnc.sqlite3"),
            **settings,
        )
        try:
            yield sim, env
        finally:
            await sim.aclose()


def _numbers(count: int) -> list[str]:
    return [f"+1212555{3000 + i:04d}" for i in range(count)]


async def _start_all(
    env: WorkflowEnvironment, queue: str, count: int, **overrides: Any
) -> list[WorkflowHandle[Any, CallOutcome]]:
    return await asyncio.gather(
        *(
            start_call(env.client, call_request(to_number=number, **overrides), task_queue=queue)
            for number in _numbers(count)
        )
    )


async def test_fifty_calls_with_a_cap_of_five(
    dev_env: WorkflowEnvironment, webhooks_to: str
) -> None:
    settings = SimulatorSettings(simulator_time_scale=0.05, simulator_webhook_url=webhooks_to)
    async with running_simulator(settings) as running:
        sim = SimulatorAdmin(running.base_url)
        async with call_worker(dev_env.client, running.base_url, max_concurrent_calls=5) as queue:
            handles = await _start_all(dev_env, queue, 50)
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(h.result() for h in handles)), timeout=120
            )
        assert [o.status for o in outcomes] == [OutcomeStatus.COMPLETED] * 50
        assert len(await sim.calls()) == 50
        peak = await max_open_calls(sim)
        await sim.aclose()
    assert 1 < peak <= 5


async def test_slots_come_back_after_the_worker_is_killed(
    dev_env: WorkflowEnvironment, webhooks_to: str, tmp_path: Path
) -> None:
    queue = f"slots-{uuid.uuid4().hex[:8]}"
    async with simulated_account(
        dev_env, webhooks_to, tmp_path, 0.15, TEMPORAL_TASK_QUEUE=queue, MAX_CONCURRENT_CALLS="3"
    ) as (sim, env):
        worker = await start_worker_process(env)
        quick = CallTimeouts(
            ring_timeout_s=3, poll_interval_s=2, analysis_timeout_s=2, max_duration_s=120
        )
        # Twice the cap: the second half waits for the slots the killed worker's calls held.
        handles = await _start_all(dev_env, queue, 6, timeouts=quick)

        async def slots_taken() -> bool:
            calls = await sim.calls()
            return len([c for c in calls if not c.get("end_timestamp")]) >= 2

        await eventually(slots_taken, timeout_s=30, what="calls to hold slots")
        worker.send_signal(signal.SIGKILL)  # no shutdown, no release: the slots are held
        await worker.wait()
        await asyncio.sleep(1.0)
        worker = await start_worker_process(env)
        try:
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(h.result() for h in handles)), timeout=120
            )
            pool = dev_env.client.get_workflow_handle(slots_workflow_id(queue))
            description = await pool.describe()
        finally:
            await stop_worker_processes(worker)
        assert [o.status for o in outcomes] == [OutcomeStatus.COMPLETED] * 6
        assert len(await sim.calls()) == 6  # one dial per call, none repeated after the kill
        assert await max_open_calls(sim) <= 3
    # Every slot came back: the pool had nobody left and closed itself.
    assert description.status is not None
    assert description.status.name == "COMPLETED"


async def _signals(handle: WorkflowHandle[Any, Any]) -> list[str]:
    return [
        e.workflow_execution_signaled_event_attributes.signal_name
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]


async def test_pool_answers_its_state(dev_env: WorkflowEnvironment, webhooks_to: str) -> None:
    settings = SimulatorSettings(simulator_time_scale=0.05, simulator_webhook_url=webhooks_to)
    async with (
        running_simulator(settings) as running,
        call_worker(dev_env.client, running.base_url, max_concurrent_calls=2) as queue,
    ):
        handles = await _start_all(
            dev_env, queue, 4, metadata={"simulator_scenario": "hangs_ongoing"}
        )
        pool = dev_env.client.get_workflow_handle(slots_workflow_id(queue))

        async def two_waiting() -> SlotsSnapshot | None:
            try:
                snap: SlotsSnapshot = await pool.query(CallSlotsWorkflow.slots)
            except Exception:  # the pool may not exist yet
                return None
            # Between a request and its grant the pool may show a moment in passing; the
            # calls never end, so the settled state is two holders and two waiting.
            return snap if len(snap.waiting) == 2 and len(snap.holders) == 2 else None

        snap = await eventually(two_waiting, timeout_s=30, what="two calls to wait")
        assert snap.capacity == 2
        assert not set(snap.holders) & set(snap.waiting)
        waiting = [h for h in handles if h.id in snap.waiting]
        for handle in waiting:
            status = await handle.query(OutboundCallWorkflow.status)
            assert status.phase == "waiting_for_slot"
        # The two that found room had their slots in the ask's answer: no grant signal.
        for handle in handles:
            if handle.id in snap.holders:
                assert SLOT_GRANTED_SIGNAL not in await _signals(handle)
        asks = [
            e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            async for e in pool.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        # The calls asked by update (asks that came together share one; a retried ask adds
        # one more).
        assert set(asks) == {ASK_SLOTS_UPDATE}
        assert len(asks) >= 1
        # Clean-up, and the queued path: canceled, the holders hand their slots on, and
        # the waiting two are granted by signal in their turn.
        for handle in [h for h in handles if h.id in snap.holders]:
            await handle.execute_update(OutboundCallWorkflow.cancel, "test over")

        async def granted_by_signal() -> bool:
            told = [SLOT_GRANTED_SIGNAL in await _signals(h) for h in waiting]
            return all(told)

        await eventually(granted_by_signal, timeout_s=30, what="the waiting calls' grants")
        for handle in waiting:
            # Clean-up, not the subject: under load a workflow task can fail once and the
            # server then refuses an update for a moment, so ask again until it lands.
            async def canceled(h: WorkflowHandle[Any, CallOutcome] = handle) -> bool:
                try:
                    await h.execute_update(OutboundCallWorkflow.cancel, "test over")
                except RPCError:
                    return False
                return True

            await eventually(canceled, timeout_s=30, what=f"{handle.id} to cancel")


async def test_creates_stay_under_retell_max_creates_per_second(
    dev_env: WorkflowEnvironment, webhooks_to: str
) -> None:
    # RETELL_MAX_CREATES_PER_SECOND=1: eight calls free to dial at once still reach Retell
    # about a second apart (Temporal's rate limit on the queue of creates; its bucket lets
    # a first one or two through at once).
    settings = SimulatorSettings(simulator_time_scale=0.05, simulator_webhook_url=webhooks_to)
    async with running_simulator(settings) as running:
        sim = SimulatorAdmin(running.base_url)
        async with call_worker(
            dev_env.client,
            running.base_url,
            max_concurrent_calls=20,
            retell_max_creates_per_second=1,
        ) as queue:
            handles = await _start_all(dev_env, queue, 8)
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(h.result() for h in handles)), timeout=120
            )
        creates = sorted(r["received_ms"] for r in await sim.requests("/create-phone-call"))
        await sim.aclose()
    assert [o.status for o in outcomes] == [OutcomeStatus.COMPLETED] * 8
    assert len(creates) == 8
    assert creates[-1] - creates[0] >= 5_000
