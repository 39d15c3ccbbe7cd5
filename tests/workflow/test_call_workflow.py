"""OutboundCallWorkflow on the time-skipping server, against the simulator over real HTTP.

Webhooks are delivered by the test itself (as the bridge would signal them), so that order,
repetition and loss are chosen exactly; the simulator records every request it received.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client.models import CallOutcome, CallReport, CallRequest, OutcomeStatus
from outbound_calls_client.names import CALL_WORKFLOW, SLOT_GRANTED_SIGNAL
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import (
    TO_NUMBER,
    SimulatorAdmin,
    call_id_of,
    call_request,
    call_worker,
    deliver,
    eventually,
    snapshot,
)
from tests.helpers.example_parent import CallReportCollectorWorkflow
from tests.helpers.retell_stand_in import running_stand_in
from workflows.call_policies import CREATE_RETRY
from workflows.outbound_call import MAX_SEEN_EVENTS, OutboundCallWorkflow

Handle = WorkflowHandle[OutboundCallWorkflow, CallOutcome]


@pytest.fixture
async def task_queue(ts_env: WorkflowEnvironment, sim: SimulatorAdmin) -> AsyncIterator[str]:
    async with call_worker(ts_env.client, sim.base_url) as queue:
        yield queue


async def _start(env: WorkflowEnvironment, queue: str, request: CallRequest) -> Handle:
    return await start_call(env.client, request, task_queue=queue)


async def _answered_call(
    env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin, scenario: str, **overrides: Any
) -> tuple[Handle, dict[str, str]]:
    handle = await _start(env, queue, call_request(scenario, **overrides))
    call_id = await call_id_of(handle)
    return handle, await sim.finished_events(call_id)


async def test_answered_call_completes_with_analysis(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    handle, bodies = await _answered_call(ts_env, task_queue, sim, "answered")
    await deliver(handle, bodies)
    outcome = await handle.result()
    assert outcome.status == OutcomeStatus.COMPLETED
    assert outcome.disconnection_reason == "user_hangup"
    assert outcome.call_analysis is not None
    assert outcome.call_analysis.call_successful is True
    assert len(outcome.attempts) == 1
    assert outcome.call_id == outcome.attempts[0].call_id
    # No poll was needed: every event came as a webhook.
    assert await sim.requests("/get-call") == []
    create = (await sim.calls(TO_NUMBER))[0]
    assert create["metadata"]["temporal_workflow_id"] == handle.id
    assert create["metadata"]["idempotency_key"] == f"{handle.id}:1"
    assert create["retell_llm_dynamic_variables"] == {"customer_name": "Ada"}


# The budget for a happy-path answered call, its slot included.
MAX_HAPPY_PATH_EVENTS = 40


async def test_a_happy_path_call_takes_its_slot_from_the_answer_within_forty_events(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    handle = await _start(ts_env, task_queue, call_request("answered"))

    # The simulator's records say when the call exists: a query would add workflow tasks to
    # the test server's history (it answers queries through them), the dev server's not.
    async def created() -> str | None:
        calls = await sim.calls(TO_NUMBER)
        return str(calls[0]["call_id"]) if calls else None

    bodies = await sim.finished_events(await eventually(created, what="the call"))
    await deliver(handle, bodies)
    assert (await handle.result()).status == OutcomeStatus.COMPLETED
    events = (await handle.fetch_history()).events
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    # The pool had room: the ask's answer carried the slot, no grant signal (nor the
    # workflow task it would cost) followed.
    assert SLOT_GRANTED_SIGNAL not in signals
    assert signals.count("call_event") == len(bodies)
    assert len(events) <= MAX_HAPPY_PATH_EVENTS, [EventType.Name(e.event_type) for e in events]


@pytest.mark.parametrize(
    ("scenario", "status", "reason"),
    [
        ("no_answer", OutcomeStatus.NO_ANSWER, "dial_no_answer"),
        ("busy", OutcomeStatus.BUSY, "dial_busy"),
        ("voicemail", OutcomeStatus.VOICEMAIL, "voicemail_reached"),
        ("dnc_requested", OutcomeStatus.DO_NOT_CALL, "user_requested_dnc"),
        ("invalid_destination", OutcomeStatus.INVALID_NUMBER, "invalid_destination"),
    ],
)
async def test_unanswered_outcomes(
    ts_env: WorkflowEnvironment,
    task_queue: str,
    sim: SimulatorAdmin,
    scenario: str,
    status: OutcomeStatus,
    reason: str,
) -> None:
    handle, bodies = await _answered_call(ts_env, task_queue, sim, scenario)
    if scenario in ("no_answer", "busy", "invalid_destination"):
        assert "call_started" not in bodies  # never connected: no call_started at all
    await deliver(handle, bodies)
    outcome = await handle.result()
    assert (outcome.status, outcome.disconnection_reason) == (status, reason)
    assert len(await sim.calls(TO_NUMBER)) == 1


async def test_lost_webhooks_are_recovered_by_polling(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    handle, _ = await _answered_call(ts_env, task_queue, sim, "webhooks_lost")
    outcome = await handle.result()  # time skips past the ring timeout; the poll finds the end
    assert outcome.status == OutcomeStatus.COMPLETED
    assert outcome.call_analysis is not None
    assert len(await sim.requests("/get-call")) >= 1


async def test_call_that_never_ends_times_out_and_is_hung_up(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    request = call_request("hangs_ongoing")
    handle = await _start(ts_env, task_queue, request)
    outcome = await handle.result()
    assert outcome.status == OutcomeStatus.TIMED_OUT
    assert outcome.detail is not None
    assert "max_duration" in outcome.detail
    polls = await sim.requests("/get-call")
    # Polled while waiting: after the ring timeout, then every poll interval until the limit.
    timeouts = request.timeouts
    assert len(polls) >= int(timeouts.max_duration_s / timeouts.poll_interval_s)
    assert len(await sim.requests("/stop-call")) == 1


async def test_every_event_three_times_is_one_transition_each(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    handle, bodies = await _answered_call(ts_env, task_queue, sim, "duplicate_webhooks")
    await deliver(handle, bodies, times=3)
    outcome = await handle.result()
    state = await snapshot(handle)
    assert outcome.status == OutcomeStatus.COMPLETED
    assert len(state.events_seen) == 3
    assert state.duplicate_events == 6
    assert len(await sim.calls(TO_NUMBER)) == 1


async def test_out_of_order_events(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    handle, bodies = await _answered_call(ts_env, task_queue, sim, "out_of_order")
    await deliver(handle, bodies, order=("call_analyzed", "call_ended", "call_started"))
    outcome = await handle.result()
    assert outcome.status == OutcomeStatus.COMPLETED
    assert outcome.call_analysis is not None
    assert await sim.requests("/get-call") == []


async def test_ended_before_started_is_fine(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    handle, bodies = await _answered_call(ts_env, task_queue, sim, "answered")
    await deliver(handle, bodies, order=("call_ended", "call_started"))
    # call_analyzed never comes: after the analysis timeout one poll fetches it.
    outcome = await handle.result()
    assert outcome.status == OutcomeStatus.COMPLETED
    assert outcome.call_analysis is not None
    assert len(await sim.requests("/get-call")) == 1


async def test_events_of_another_call_are_recorded_and_ignored(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    handle, bodies = await _answered_call(ts_env, task_queue, sim, "answered")
    foreign = {
        name: body.replace(await call_id_of(handle), "call_someone_else")
        for name, body in bodies.items()
    }
    await deliver(handle, foreign)
    state = await snapshot(handle)
    assert state.ignored_events == 3
    assert state.phase == "ringing"
    await deliver(handle, bodies)
    assert (await handle.result()).status == OutcomeStatus.COMPLETED


async def test_a_flood_of_other_calls_events_is_counted_not_kept(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    handle, bodies = await _answered_call(ts_env, task_queue, sim, "answered")
    call_id = await call_id_of(handle)
    flood = MAX_SEEN_EVENTS + 30
    for n in range(flood):
        await deliver(handle, {"call_ended": bodies["call_ended"].replace(call_id, f"call_x{n}")})
    state = await snapshot(handle)
    assert state.ignored_events == flood
    # What the workflow remembers of them is bounded, whatever the flood.
    assert len(state.events_seen) == MAX_SEEN_EVENTS
    await deliver(handle, bodies)
    assert (await handle.result()).status == OutcomeStatus.COMPLETED


async def test_invalid_number_is_rejected_before_any_request(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    # Started directly, bypassing start_call's up-front check: the workflow checks itself.
    handle = await ts_env.client.start_workflow(
        CALL_WORKFLOW,
        call_request(to_number="+1415555"),
        id="call-invalid-number",
        task_queue=task_queue,
        result_type=CallOutcome,
    )
    outcome = await handle.result()
    assert outcome.status == OutcomeStatus.REJECTED
    assert outcome.detail is not None
    assert "to_number" in outcome.detail
    assert "is_valid_number" in outcome.detail
    assert outcome.attempts == ()
    assert await sim.requests() == []


async def test_bad_api_key_is_an_account_error_without_retries(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    base_url = sim.base_url
    async with call_worker(ts_env.client, base_url, retell_api_key="wrong-key") as queue:
        outcome = await (await _start(ts_env, queue, call_request())).result()
    assert outcome.status == OutcomeStatus.ACCOUNT_ERROR
    assert outcome.detail is not None
    assert "401" in outcome.detail
    assert "wrong-key" not in outcome.model_dump_json()
    assert len(await sim.requests("/create-phone-call")) == 1


@pytest.mark.parametrize(
    ("scenario", "create_requests"),
    # lost_response: the retry sends the same idempotency key and gets the same call back.
    [("rate_limited", 2), ("server_errors", 3), ("lost_response", 2)],
)
async def test_create_retries_never_dial_twice(
    ts_env: WorkflowEnvironment,
    sim: SimulatorAdmin,
    scenario: str,
    create_requests: int,
) -> None:
    base_url = sim.base_url
    # lost_response holds the first answer far longer than this read timeout.
    async with call_worker(ts_env.client, base_url, read_timeout_s=0.5) as queue:
        request = call_request(
            scenario, metadata={"simulator_scenario": scenario, "simulator_hold_s": "5"}
        )
        handle = await _start(ts_env, queue, request)
        # No webhooks here: the create answer or the poll fallback carries the call's end.
        outcome = await handle.result()
    assert outcome.status == OutcomeStatus.COMPLETED
    assert len(await sim.calls(TO_NUMBER)) == 1
    assert len(await sim.requests("/create-phone-call")) == create_requests


async def test_same_request_started_twice_concurrently_is_one_call(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    request = call_request()
    first, second = await asyncio.gather(
        _start(ts_env, task_queue, request), _start(ts_env, task_queue, request)
    )
    assert first.id == second.id
    call_id = await call_id_of(first)
    await deliver(first, await sim.finished_events(call_id))
    outcome = await first.result()
    # After it finished, the same request again attaches to the first run: no new call.
    again = await _start(ts_env, task_queue, request)
    assert (await again.result()) == outcome
    assert len(await sim.requests("/create-phone-call")) == 1
    assert len(await sim.calls(TO_NUMBER)) == 1


async def test_cancel_hangs_up_and_ends_canceled(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    handle = await _start(ts_env, task_queue, call_request("hangs_ongoing"))
    await call_id_of(handle)
    outcome = await handle.execute_update(OutboundCallWorkflow.cancel, "operator asked")
    assert outcome.status == OutcomeStatus.CANCELED
    assert outcome.detail == "operator asked"
    assert (await handle.result()) == outcome
    assert len(await sim.requests("/stop-call")) == 1
    # Once final, a cancel is refused.
    with pytest.raises(RPCError):
        await handle.execute_update(OutboundCallWorkflow.cancel, "again")


async def test_a_create_whose_answers_never_came_back_follows_the_call_it_placed(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    """Every create reached Retell but every answer was lost, and list-calls failed too,
    until Temporal gave up on the create: the attempt is not `failed`, it follows the one
    call that exists (looked up by its idempotency key)."""
    async with running_stand_in(sim.base_url, "http://127.0.0.1:9") as stand_in:
        stand_in.lose_create_answers_with = 503
        await sim.fail_list_calls(CREATE_RETRY.maximum_attempts)
        async with call_worker(ts_env.client, stand_in.base_url) as queue:
            handle = await _start(ts_env, queue, call_request())
            outcome = await handle.result()
    dialed = await sim.calls(TO_NUMBER)
    assert len(dialed) == 1
    assert outcome.status == OutcomeStatus.COMPLETED
    assert outcome.call_id == dialed[0]["call_id"]


async def test_the_call_tells_its_waiter_when_it_ends_without_the_transcript(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    async with call_worker(
        ts_env.client, sim.base_url, extra_workflows=[CallReportCollectorWorkflow]
    ) as queue:
        waiter = await ts_env.client.start_workflow(
            CallReportCollectorWorkflow.run, id=f"waiter-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        handle, bodies = await _answered_call(ts_env, queue, sim, "answered", report_to=waiter.id)
        await deliver(handle, bodies)
        outcome = await handle.result()
        report = await waiter.result()
    assert outcome.transcript
    assert report == CallReport.of(outcome)
    assert report.status == OutcomeStatus.COMPLETED
    assert "transcript" not in report.model_dump()


async def test_a_call_retell_does_not_know_ends_the_attempt_as_failed(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    async with running_stand_in(sim.base_url, "http://127.0.0.1:9") as stand_in:
        stand_in.calls_unknown = True  # get-call answers 422, as for an unknown call id
        async with call_worker(ts_env.client, stand_in.base_url) as queue:
            outcome = await (await _start(ts_env, queue, call_request())).result()
    assert outcome.status == OutcomeStatus.FAILED
    assert outcome.detail == "Retell no longer knows this call (get-call)"
    assert outcome.call_id is not None
    assert len(await sim.requests("/get-call")) == 0  # answered by the stand-in
