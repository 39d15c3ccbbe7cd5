"""CampaignWorkflow on the time-skipping server, its calls against the simulator over HTTP.

The simulator sends no webhooks here: every call ends through the workflow's poll after its
ring timeout, which the time-skipping server reaches at once, while the simulated calls
themselves last a few real milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client.campaign import (
    CampaignRequest,
    CampaignSummary,
    campaign_workflow_id,
)
from outbound_calls_client.models import CallRequest, OutcomeStatus
from outbound_calls_client.names import CALL_FINISHED_SIGNAL
from outbound_calls_client.start import start_campaign
from tests.helpers.call_harness import (
    SimulatorAdmin,
    call_request,
    call_worker,
)
from workflows.campaign import campaign_call_id

Handle = WorkflowHandle[Any, CampaignSummary]
T = TypeVar("T")

# The big campaign: module constants so a slower machine can shrink it in one place.
CAMPAIGN_SIZE = 130
MAX_IN_FLIGHT = 20
CALLS_PER_RUN = 40
# About 20 s here (2 cores); a broken campaign fails at this limit instead of hanging.
LARGE_CAMPAIGN_LIMIT_S = 120.0


@pytest.fixture
def sim_time_scale() -> float:
    return 0.001


@pytest.fixture
async def task_queue(ts_env: WorkflowEnvironment, sim: SimulatorAdmin) -> AsyncIterator[str]:
    async with call_worker(ts_env.client, sim.base_url) as queue:
        yield queue


async def _bounded(awaitable: Awaitable[T], seconds: float = 30.0) -> T:
    """Await with a real-time limit: a broken campaign hangs (a call left open waits for its
    hour-long deadline in real time, outside time skipping) rather than failing."""
    async with asyncio.timeout(seconds):
        return await awaitable


def _campaign_id() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def _calls(
    size: int, scenario_at: Callable[[int], str] = lambda _: "answered"
) -> list[CallRequest]:
    # No dedupe key: the campaign derives each child's id from its own id and the index.
    return [call_request(scenario_at(i), dedupe_key=None) for i in range(size)]


def _workflow_ids(calls: Sequence[dict[str, Any]]) -> Counter[str]:
    return Counter(call["metadata"]["temporal_workflow_id"] for call in calls)


async def _run_histories(env: WorkflowEnvironment, handle: Handle) -> list[list[Any]]:
    """Every run's events, first to last, following the continue-as-new chain."""
    run_id = handle.first_execution_run_id or handle.result_run_id
    runs: list[list[Any]] = []
    while run_id:
        history = await env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        runs.append(list(history.events))
        last = history.events[-1]
        continued = last.workflow_execution_continued_as_new_event_attributes
        run_id = (
            continued.new_execution_run_id
            if last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )
    return runs


def _max_open_calls(runs: Sequence[Sequence[Any]]) -> int:
    """The most calls the campaign had open at once, by its server-side history.

    Counted from each start batch (the activity's input) to each call's report (a
    ``call_finished`` signal), across runs without reset: calls stay open over a
    continue-as-new and report to the next run.
    """
    open_now = peak = 0
    for events in runs:
        for event in events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                if attrs.activity_type.name == "start_campaign_calls":
                    open_now += len(json.loads(attrs.input.payloads[0].data)["calls"])
                    peak = max(peak, open_now)
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED and (
                event.workflow_execution_signaled_event_attributes.signal_name
                == CALL_FINISHED_SIGNAL
            ):
                open_now -= 1
    return peak


def _max_open_retell_calls(requests: Sequence[dict[str, Any]]) -> int:
    """The most calls open at once as Retell saw them, in the order requests arrived.

    A call is open from its create request until the last request about it (the poll that
    found it over): after that its workflow closes without talking to Retell again.
    """
    last_touch: dict[str, int] = {}
    for position, request in enumerate(requests):
        path = request["path"]
        if path.startswith(("/v2/get-call/", "/v2/stop-call/")):
            last_touch[path.rsplit("/", 1)[1]] = position
    created = [
        (position, r["call_id"])
        for position, r in enumerate(requests)
        if r["path"] == "/v2/create-phone-call" and r["status_code"] == 201
    ]
    # Without a later request we could not tell when the call closed: fail, do not guess.
    assert all(call_id in last_touch for _, call_id in created)
    deltas = sorted(
        [(position, 1) for position, _ in created]
        + [(last_touch[call_id], -1) for _, call_id in created]
    )
    open_now = peak = 0
    for _, delta in deltas:
        open_now += delta
        peak = max(peak, open_now)
    return peak


def _scenario_mix(i: int) -> str:
    if i % 5 == 4:
        return "no_answer"
    if i % 7 == 6:
        return "busy"
    return "answered"


def _expected_counts(size: int, scenario_at: Callable[[int], str]) -> dict[OutcomeStatus, int]:
    status = {
        "no_answer": OutcomeStatus.NO_ANSWER,
        "busy": OutcomeStatus.BUSY,
        "answered": OutcomeStatus.COMPLETED,
    }
    return dict(Counter(status[scenario_at(i)] for i in range(size)))


@pytest.mark.slow  # about 40 s: left out of make test-fast
async def test_large_campaign_bounded_in_flight_every_call_once_across_runs(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    campaign_id = _campaign_id()
    calls = _calls(CAMPAIGN_SIZE, _scenario_mix)
    # Some entries carry a dedupe key: those children take their id from it instead.
    calls = [
        c.model_copy(update={"dedupe_key": f"{campaign_id}-key-{i}"}) if i % 3 == 0 else c
        for i, c in enumerate(calls)
    ]
    request = CampaignRequest(
        campaign_id=campaign_id,
        calls=calls,
        max_in_flight=MAX_IN_FLIGHT,
        calls_per_run=CALLS_PER_RUN,
    )
    began = time.monotonic()
    handle = await start_campaign(ts_env.client, request, task_queue=task_queue)
    summary = await _bounded(handle.result(), LARGE_CAMPAIGN_LIMIT_S)
    elapsed = time.monotonic() - began
    print(f"\n{CAMPAIGN_SIZE} calls, {MAX_IN_FLIGHT} in flight: {elapsed:.1f} s")

    assert summary.total == summary.finished == CAMPAIGN_SIZE
    assert sum(summary.counts.values()) == CAMPAIGN_SIZE
    assert summary.counts == _expected_counts(CAMPAIGN_SIZE, _scenario_mix)
    assert (summary.canceled, summary.skipped) == (False, 0)
    assert summary.runs == math.ceil(CAMPAIGN_SIZE / CALLS_PER_RUN)

    # Retell was asked for exactly one call per entry, under the entry's child id.
    dialed = await sim.calls()
    expected_ids = {campaign_call_id(campaign_id, i, c) for i, c in enumerate(calls)}
    assert len(dialed) == CAMPAIGN_SIZE
    assert _workflow_ids(dialed) == Counter(expected_ids)
    creates = await sim.requests("/v2/create-phone-call")
    assert len(creates) == CAMPAIGN_SIZE

    runs = await _run_histories(ts_env, handle)
    assert len(runs) == summary.runs
    # The window was used in full, and never exceeded, by either account.
    assert _max_open_calls(runs) == MAX_IN_FLIGHT
    assert 1 < _max_open_retell_calls(await sim.requests()) <= MAX_IN_FLIGHT


async def test_starting_the_same_campaign_twice_makes_one(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    size = 6
    request = CampaignRequest(campaign_id=_campaign_id(), calls=_calls(size), max_in_flight=2)
    first, second = await asyncio.gather(
        start_campaign(ts_env.client, request, task_queue=task_queue),
        start_campaign(ts_env.client, request, task_queue=task_queue),
    )
    assert first.id == second.id == campaign_workflow_id(request.campaign_id)
    assert first.result_run_id == second.result_run_id
    summary = await _bounded(first.result())
    assert summary.counts == {OutcomeStatus.COMPLETED: size}
    # Once it is over, a third start reads the same summary instead of calling again.
    third = await start_campaign(ts_env.client, request, task_queue=task_queue)
    assert await _bounded(third.result()) == summary
    assert len(await sim.calls()) == size
