"""A campaign's input within its byte budget, on the time-skipping server against the
simulator: a ``calls`` list one entry past it is refused before anything starts, one at it
runs, and every run's input (the request and what it carries over continue-as-new) stays
within the budget."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client import bounds
from outbound_calls_client.campaign import CampaignRequest, campaign_workflow_id
from outbound_calls_client.campaign_bounds import (
    MAX_CAMPAIGN_REQUEST_BYTES,
    TEMPORAL_PAYLOAD_LIMIT_BYTES,
    largest_carried,
    payload_bytes,
)
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallRequest, OutcomeStatus
from outbound_calls_client.names import SCENARIO_METADATA_KEY
from outbound_calls_client.start import start_campaign
from tests.helpers.call_harness import SimulatorAdmin, call_request, call_worker

MAX_IN_FLIGHT = 10
CALLS_PER_RUN = 10


@pytest.fixture
def sim_time_scale() -> float:
    return 0.001


@pytest.fixture
async def task_queue(ts_env: WorkflowEnvironment, sim: SimulatorAdmin) -> AsyncIterator[str]:
    async with call_worker(ts_env.client, sim.base_url) as queue:
        yield queue


def _largest_call(prefix: str, i: int) -> CallRequest:
    """A call at the request bounds: the longest key, metadata and dynamic variables within
    a few bytes of their caps (~41 kB)."""
    metadata = {SCENARIO_METADATA_KEY: "answered", "pad": ""}
    metadata["pad"] = "m" * (bounds.MAX_METADATA_BYTES - bounds.json_bytes(metadata))
    variables = {"note": ""}
    variables["note"] = "v" * (bounds.MAX_DYNAMIC_VARIABLES_BYTES - bounds.json_bytes(variables))
    key = f"{prefix}-{i:04d}-"
    return call_request(
        "answered",
        dedupe_key=key + "k" * (200 - len(key)),
        metadata=metadata,
        dynamic_variables=variables,
    )


def _at_the_budget(campaign_id: str) -> tuple[CampaignRequest, CampaignRequest]:
    """The largest campaign of such calls within the budget, and the same with one more."""
    calls: list[CallRequest] = []
    while True:
        calls.append(_largest_call(campaign_id, len(calls)))
        request = CampaignRequest(
            campaign_id=campaign_id,
            calls=calls,
            max_in_flight=MAX_IN_FLIGHT,
            calls_per_run=CALLS_PER_RUN,
        )
        if payload_bytes(largest_carried(request)) > MAX_CAMPAIGN_REQUEST_BYTES:
            return request.model_copy(update={"calls": calls[:-1]}), request


async def test_a_list_past_the_budget_is_refused_before_anything_starts(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    _, refused = _at_the_budget(f"big-{uuid.uuid4().hex[:8]}")
    with pytest.raises(InvalidCallRequest) as caught:
        await start_campaign(ts_env.client, refused, task_queue=task_queue)
    assert (caught.value.field, caught.value.rule) == ("calls", "max_bytes")
    assert "contacts file" in str(caught.value)
    with pytest.raises(RPCError) as missing:
        await ts_env.client.get_workflow_handle(
            campaign_workflow_id(refused.campaign_id)
        ).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    assert await sim.calls() == []


async def test_a_list_at_the_budget_runs_and_every_runs_input_stays_within_it(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    accepted, _ = _at_the_budget(f"big-{uuid.uuid4().hex[:8]}")
    size = len(accepted.calls)
    assert payload_bytes(accepted) > MAX_CAMPAIGN_REQUEST_BYTES - 100_000  # near the budget
    handle = await start_campaign(ts_env.client, accepted, task_queue=task_queue)
    async with asyncio.timeout(120):
        summary = await handle.result()
    assert summary.counts == {OutcomeStatus.COMPLETED: size}

    # Each run's input, as the server holds it: the first, and every continue-as-new's.
    inputs: list[int] = []
    carried_open: list[int] = []
    run_id = handle.first_execution_run_id or handle.result_run_id
    while run_id:
        run = ts_env.client.get_workflow_handle(handle.id, run_id=run_id)
        history = await run.fetch_history()
        first, last = history.events[0], history.events[-1]
        if not inputs:
            started = first.workflow_execution_started_event_attributes
            inputs.append(len(started.input.payloads[0].data))
        run_id = None
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            continued = last.workflow_execution_continued_as_new_event_attributes
            carried = continued.input.payloads[0].data
            inputs.append(len(carried))
            progress = CampaignRequest.model_validate_json(carried).progress
            assert progress is not None
            carried_open.append(len(progress.in_flight))
            run_id = continued.new_execution_run_id
    assert len(inputs) == summary.runs >= 3
    assert any(carried_open), "no run continued as new with calls open"
    assert max(inputs) <= payload_bytes(largest_carried(accepted)) <= MAX_CAMPAIGN_REQUEST_BYTES
    assert MAX_CAMPAIGN_REQUEST_BYTES < TEMPORAL_PAYLOAD_LIMIT_BYTES
