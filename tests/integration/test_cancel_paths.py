"""A Temporal cancel (the UI's Cancel, ``temporal workflow cancel``, a parent closing, a
campaign's cancel) at every moment of a call, on the dev server with the simulator, the bridge
and a slow stand-in between them: nothing stays live at the simulator, the workflow closes
within a minute, the outcome says ``canceled`` (with the call id when a call was placed), and
the slot pool holds nothing for the call."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Response
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from adapters.settings import BridgeSettings, SimulatorSettings
from bridge.app import create_app
from calls.slots import slots_workflow_id
from outbound_calls_client.campaign import CampaignRequest, CampaignSummary
from outbound_calls_client.models import CallOutcome, CallRequest, OutcomeStatus
from outbound_calls_client.names import WORKFLOW_ID_METADATA_KEY
from outbound_calls_client.start import start_call, start_campaign
from simulator.server import running_simulator, serve_asgi_app
from tests.helpers.call_harness import (
    SIM_KEY,
    SimulatorAdmin,
    call_request,
    call_worker,
    eventually,
    snapshot,
)
from tests.helpers.example_parent import AppointmentReminderWorkflow, CallBothWorkflow
from tests.helpers.retell_stand_in import StandIn, running_stand_in
from workflows.call_slots import CallSlotsWorkflow
from workflows.outbound_call import OutboundCallWorkflow

pytestmark = pytest.mark.integration

Handle = WorkflowHandle[Any, CallOutcome]
LIVE = {"registered", "ongoing"}
CLOSES_WITHIN_S = 60.0
SIGNING_KEY = "outcome-signing-key-for-tests"
CAP = 2


@dataclass
class Stack:
    client: Client
    sim: SimulatorAdmin
    stand_in: StandIn
    queue: str

    async def start(self, request: CallRequest) -> Handle:
        return await start_call(self.client, request, task_queue=self.queue)

    async def live_calls(self, workflow_id: str | None = None) -> list[dict[str, Any]]:
        return [
            c
            for c in await self.sim.calls()
            if c["call_status"] in LIVE
            and workflow_id in (None, c["metadata"].get(WORKFLOW_ID_METADATA_KEY))
        ]

    async def reaches(self, handle: Handle, phase: str) -> None:
        async def probe() -> bool:
            return (await snapshot(handle)).phase == phase

        await eventually(probe, timeout_s=30, what=f"phase {phase}")

    async def cancel(self, handle: Handle) -> CallOutcome:
        """Cancel through Temporal; check nothing is live and the pool forgot the call."""
        await handle.cancel()
        outcome = await asyncio.wait_for(handle.result(), CLOSES_WITHIN_S)
        await self.nothing_live(handle.id)
        assert handle.id not in await self.slot_users()
        return outcome

    async def slot_users(self) -> tuple[str, ...]:
        """Who holds or waits for a slot; a pool never started holds nothing."""
        pool = self.client.get_workflow_handle(slots_workflow_id(self.queue))
        try:
            state = await pool.query(CallSlotsWorkflow.slots)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return ()
        return (*state.holders, *state.waiting)

    async def talking(self, count: int) -> None:
        async def probe() -> bool:
            return [c["call_status"] for c in await self.sim.calls()] == ["ongoing"] * count

        await eventually(probe, timeout_s=30, what=f"{count} calls to be talking")

    async def nothing_live(self, workflow_id: str | None = None) -> None:
        async def probe() -> bool:
            return not await self.live_calls(workflow_id)

        await eventually(probe, timeout_s=10, what="no call live at the simulator")


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    client = dev_env.client
    bridge_app = create_app(BridgeSettings(retell_api_key=SIM_KEY), client=client)
    async with (
        serve_asgi_app(bridge_app) as bridge,
        running_stand_in("", bridge.base_url) as stand_in,
    ):
        settings = SimulatorSettings(
            simulator_time_scale=0.05, simulator_webhook_url=f"{stand_in.base_url}/hook"
        )
        async with running_simulator(settings) as sim:
            stand_in.retell_url = sim.base_url
            admin = SimulatorAdmin(sim.base_url)
            try:
                async with call_worker(
                    client,
                    stand_in.base_url,
                    read_timeout_s=60,
                    max_concurrent_calls=CAP,
                    outcome_signing_key=SIGNING_KEY,
                    outcome_url_allowed_hosts="127.0.0.1",  # the test's own receivers
                    extra_workflows=[CallBothWorkflow, AppointmentReminderWorkflow],
                ) as queue:
                    try:
                        yield Stack(client, admin, stand_in, queue)
                    finally:
                        stand_in.release.set()  # a held create must not hold the worker
            finally:
                await admin.aclose()


def _ringing_for_minutes(**overrides: Any) -> CallRequest:
    return call_request(
        metadata={"simulator_scenario": "answered", "simulator_ring_ms": "600000"}, **overrides
    )


def _assert_canceled_call(outcome: CallOutcome, dialed: list[dict[str, Any]]) -> None:
    assert outcome.status == OutcomeStatus.CANCELED
    assert [c["call_id"] for c in dialed] == [outcome.call_id]
    assert outcome.attempts[-1].call_id == outcome.call_id
    assert dialed[0]["disconnection_reason"] == "manual_stopped"


async def test_cancel_before_validation_places_no_call(
    dev_env: WorkflowEnvironment, stack: Stack
) -> None:
    # Started and canceled before any worker polls its queue: the cancel is there first.
    queue = f"calls-{uuid.uuid4().hex[:8]}"
    handle = await start_call(stack.client, call_request(), task_queue=queue)
    await handle.cancel()
    async with call_worker(stack.client, stack.stand_in.base_url, temporal_task_queue=queue):
        outcome = await asyncio.wait_for(handle.result(), CLOSES_WITHIN_S)
    assert outcome.status == OutcomeStatus.CANCELED
    assert outcome.attempts == ()
    assert await stack.sim.requests("/create-phone-call") == []


async def test_cancel_while_waiting_for_calling_hours(stack: Stack) -> None:
    tomorrow = datetime.now(UTC).isoweekday() % 7 + 1
    request = call_request(calling_window={"time_zone": "UTC", "days": [tomorrow]})
    handle = await stack.start(request)
    await stack.reaches(handle, "waiting_for_window")
    outcome = await stack.cancel(handle)
    assert outcome.status == OutcomeStatus.CANCELED
    assert outcome.attempts == ()
    assert await stack.sim.calls() == []


async def test_cancel_while_waiting_for_a_slot_then_while_talking(stack: Stack) -> None:
    talking = [await stack.start(call_request("hangs_ongoing")) for _ in range(CAP)]
    for handle in talking:
        await stack.reaches(handle, "in_call")
    waiting = await stack.start(call_request())
    await stack.reaches(waiting, "waiting_for_slot")
    outcome = await stack.cancel(waiting)
    assert outcome.status == OutcomeStatus.CANCELED
    assert outcome.attempts == ()
    assert len(await stack.sim.calls()) == CAP  # the waiting call was never dialed

    for handle in talking:
        outcome = await stack.cancel(handle)
        dialed = [c for c in await stack.sim.calls() if c["call_id"] == outcome.call_id]
        _assert_canceled_call(outcome, dialed)
    assert len(await stack.sim.requests("/stop-call")) == CAP


async def test_cancel_while_the_create_is_in_flight(stack: Stack) -> None:
    stack.stand_in.hold_creates = True
    handle = await stack.start(_ringing_for_minutes())

    async def created_and_held() -> bool:
        return stack.stand_in.creates_held == 1 and bool(await stack.sim.calls())

    await eventually(created_and_held, what="the create to be held after it reached Retell")
    await handle.cancel()

    async def cancel_seen() -> bool:
        return (await snapshot(handle)).cancel_requested

    await eventually(cancel_seen, what="the workflow to take the cancel")
    assert await stack.live_calls() != []  # still ringing: the answer has not come back
    stack.stand_in.release.set()
    outcome = await asyncio.wait_for(handle.result(), CLOSES_WITHIN_S)
    await stack.nothing_live()
    _assert_canceled_call(outcome, await stack.sim.calls())
    assert len(await stack.sim.requests("/create-phone-call")) == 1


async def test_cancel_while_ringing(stack: Stack) -> None:
    handle = await stack.start(_ringing_for_minutes())
    await stack.reaches(handle, "ringing")
    assert [c["call_status"] for c in await stack.sim.calls()] == ["registered"]
    _assert_canceled_call(await stack.cancel(handle), await stack.sim.calls())


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("no_answer", OutcomeStatus.CANCELED),
        # An answered call that ended stays completed: only its analysis is not awaited.
        ("answered", OutcomeStatus.COMPLETED),
    ],
)
async def test_cancel_while_awaiting_the_analysis(
    stack: Stack, scenario: str, expected: OutcomeStatus
) -> None:
    stack.stand_in.dropped_events = {"call_analyzed"}
    handle = await stack.start(call_request(scenario))
    await stack.reaches(handle, "awaiting_analysis")
    outcome = await stack.cancel(handle)
    assert outcome.status == expected
    assert outcome.call_id == (await stack.sim.calls())[0]["call_id"]
    assert outcome.attempts[0].disconnection_reason is not None
    assert await stack.sim.requests("/stop-call") == []  # nothing left to hang up


async def test_cancel_while_waiting_to_redial(stack: Stack) -> None:
    handle = await stack.start(
        call_request("no_answer", redial={"max_attempts": 3, "initial_delay_s": 3600})
    )
    await stack.reaches(handle, "waiting_to_redial")
    outcome = await stack.cancel(handle)
    assert outcome.status == OutcomeStatus.CANCELED
    assert [a.status for a in outcome.attempts] == [OutcomeStatus.NO_ANSWER]
    assert outcome.call_id == (await stack.sim.calls())[0]["call_id"]
    assert len(await stack.sim.calls()) == 1


async def test_cancel_while_delivering_the_outcome_stops_retrying(stack: Stack) -> None:
    received: list[bytes] = []
    receiver = FastAPI()

    @receiver.post("/outcome")
    async def refuse(request_body: dict[str, Any]) -> Response:
        received.append(repr(request_body).encode())
        return Response(status_code=503)

    async with serve_asgi_app(receiver) as served:
        handle = await stack.start(call_request(outcome_url=f"{served.base_url}/outcome"))

        async def delivery_tried() -> bool:
            return bool(received)

        await eventually(delivery_tried, timeout_s=30, what="a delivery attempt")
        outcome = await stack.cancel(handle)
    # The call had finished: its outcome stands, and it was offered to the receiver.
    assert outcome.status == OutcomeStatus.COMPLETED
    assert "completed" in received[0].decode()


async def test_canceled_outcome_is_still_delivered(stack: Stack) -> None:
    received: list[dict[str, Any]] = []
    receiver = FastAPI()

    @receiver.post("/outcome")
    async def accept(request_body: dict[str, Any]) -> Response:
        received.append(request_body)
        return Response(status_code=204)

    async with serve_asgi_app(receiver) as served:
        handle = await stack.start(
            call_request("hangs_ongoing", outcome_url=f"{served.base_url}/outcome")
        )
        await stack.reaches(handle, "in_call")
        outcome = await stack.cancel(handle)
    assert outcome.status == OutcomeStatus.CANCELED
    assert [r["status"] for r in received] == ["canceled"]
    assert received[0]["call_id"] == outcome.call_id


async def test_parent_that_closes_with_two_calls_open_leaves_none_live(stack: Stack) -> None:
    requests = [call_request("hangs_ongoing") for _ in range(2)]
    parent = await stack.client.start_workflow(
        CallBothWorkflow.run,
        requests,
        id=f"parent-{uuid.uuid4().hex[:8]}",
        task_queue=stack.queue,
    )
    children: list[Handle] = [
        stack.client.get_workflow_handle(f"call-{r.dedupe_key}", result_type=CallOutcome)
        for r in requests
    ]
    await stack.talking(2)
    for child in children:
        await stack.reaches(child, "in_call")
    await parent.terminate("the parent closes")  # REQUEST_CANCEL reaches both children
    for child in children:
        outcome = await asyncio.wait_for(child.result(), CLOSES_WITHIN_S)
        assert outcome.status == OutcomeStatus.CANCELED
        assert outcome.call_id is not None
    await stack.nothing_live()
    assert len(await stack.sim.calls()) == 2


async def test_campaign_canceled_with_calls_open_leaves_none_live(stack: Stack) -> None:
    calls = [call_request("hangs_ongoing") for _ in range(4)]
    request = CampaignRequest(campaign_id=f"c-{uuid.uuid4().hex[:8]}", calls=calls, max_in_flight=2)
    handle = await start_campaign(stack.client, request, task_queue=stack.queue)

    await stack.talking(2)
    await handle.cancel()
    summary: CampaignSummary = await asyncio.wait_for(handle.result(), CLOSES_WITHIN_S)
    assert summary.canceled
    assert summary.counts == {OutcomeStatus.CANCELED: 2}
    await stack.nothing_live()
    assert len(await stack.sim.calls()) == 2


async def test_parent_waiting_on_an_existing_call_holds_no_worker_slot(stack: Stack) -> None:
    request = call_request("hangs_ongoing")
    existing = await stack.start(request)  # someone else placed this call first
    await stack.reaches(existing, "in_call")
    parent = await stack.client.start_workflow(
        AppointmentReminderWorkflow.run,
        request,
        id=f"reminder-{uuid.uuid4().hex[:8]}",
        task_queue=stack.queue,
    )

    async def between_looks() -> bool:
        looks = [
            e
            async for e in parent.fetch_history_events()
            if e.activity_task_completed_event_attributes.scheduled_event_id
        ]
        pending = (await parent.describe()).raw_description.pending_activities
        return bool(looks) and not pending

    # Between two looks at the call, nothing runs on a worker for this parent.
    await eventually(between_looks, timeout_s=30, what="the parent to wait on a timer")
    await existing.execute_update(OutboundCallWorkflow.cancel, "done")
    assert await asyncio.wait_for(parent.result(), CLOSES_WITHIN_S) == (
        "not reached (canceled); send a text instead"
    )
    assert len(await stack.sim.calls()) == 1


async def test_a_canceled_slot_pool_keeps_its_holders(stack: Stack) -> None:
    talking = [await stack.start(call_request("hangs_ongoing")) for _ in range(CAP)]
    for handle in talking:
        await stack.reaches(handle, "in_call")
    waiting = await stack.start(call_request("hangs_ongoing"))
    await stack.reaches(waiting, "waiting_for_slot")
    pool = stack.client.get_workflow_handle(slots_workflow_id(stack.queue))
    first_run = (await pool.describe()).run_id
    await pool.cancel()  # an operator's mistake: the cap must still hold

    async def next_run() -> bool:
        return (await pool.describe()).run_id != first_run

    await eventually(next_run, what="the pool to continue as new")
    assert set(await stack.slot_users()) == {h.id for h in (*talking, waiting)}
    assert (await snapshot(waiting)).phase == "waiting_for_slot"
    await stack.cancel(talking[0])
    await stack.reaches(waiting, "in_call")  # the freed slot went to the one waiting
    for handle in (talking[1], waiting):
        assert (await stack.cancel(handle)).status == OutcomeStatus.CANCELED
