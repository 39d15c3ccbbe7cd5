"""The bounds of docs/calls.md held at their extremes, on the time-skipping server against the
simulator: a call that redials as often as allowed, each dial staying open as long as allowed
and polled as often as allowed, stays within the stated history size, poll count and rate, and
its largest payload within the stated budget; one step outside is refused by the workflow."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client import bounds
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import MOST_ATTEMPTS, CallOutcome, CallRequest, OutcomeStatus
from outbound_calls_client.names import CALL_WORKFLOW, SCENARIO_METADATA_KEY
from outbound_calls_client.start import start_call, workflow_id_for
from tests.helpers.call_harness import SimulatorAdmin, call_request, call_worker

# The most intervals an attempt may poll for with the most attempts (the budget's floor).
INTERVALS = bounds.MAX_POLLS_PER_CALL // (MOST_ATTEMPTS + bounds.BUSY_ACCOUNT_RETRIES) - 2


@pytest.fixture
async def task_queue(ts_env: WorkflowEnvironment, sim: SimulatorAdmin) -> AsyncIterator[str]:
    async with call_worker(ts_env.client, sim.base_url) as queue:
        yield queue


def _filled(size: int, taken: dict[str, str]) -> dict[str, str]:
    """``taken`` plus one entry that brings the whole to exactly ``size`` bytes as JSON."""
    padded = {**taken, "pad": ""}
    padded["pad"] = "x" * (size - bounds.json_bytes(padded))
    assert bounds.json_bytes(padded) == size
    return padded


def extreme_request(**timeouts: float) -> CallRequest:
    """Every dial stays open (hangs_ongoing) and is dialed again when it times out, with the
    shortest waits and the largest free-form fields allowed."""
    ring = bounds.MIN_WAIT_S
    return call_request(
        "hangs_ongoing",
        metadata=_filled(bounds.MAX_METADATA_BYTES, {SCENARIO_METADATA_KEY: "hangs_ongoing"}),
        dynamic_variables=_filled(bounds.MAX_DYNAMIC_VARIABLES_BYTES, {}),
        timeouts={
            "ring_timeout_s": ring,
            "poll_interval_s": bounds.MIN_WAIT_S,
            "analysis_timeout_s": bounds.MIN_WAIT_S,
            "max_duration_s": bounds.MIN_WAIT_S * INTERVALS,
            **timeouts,
        },
        redial={
            "max_attempts": MOST_ATTEMPTS,
            "retry_on": ["timed_out"],
            "initial_delay_s": bounds.MIN_REDIAL_DELAY_S,
            "max_delay_s": bounds.MIN_REDIAL_DELAY_S,
            "backoff": 1.0,
        },
    )


async def _start(
    env: WorkflowEnvironment, queue: str, request: CallRequest
) -> WorkflowHandle[Any, CallOutcome]:
    return await env.client.start_workflow(
        CALL_WORKFLOW,
        request,
        id=workflow_id_for(request),
        task_queue=queue,
        result_type=CallOutcome,
    )


def _payloads(message: Message) -> Iterator[Payload]:
    if isinstance(message, Payload):
        yield message
        return
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if isinstance(value, Message):
            yield from _payloads(value)
            continue
        # A repeated field or a map of messages.
        for item in value.values() if hasattr(value, "values") else value:
            if isinstance(item, Message):
                yield from _payloads(item)


def _scheduled(history: WorkflowHistory) -> list[tuple[datetime, str]]:
    """(when, activity type) of every activity the workflow scheduled, in order."""
    return [
        (
            event.event_time.ToDatetime(),
            event.activity_task_scheduled_event_attributes.activity_type.name,
        )
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def _short_gaps(scheduled: list[tuple[datetime, str]]) -> list[int]:
    """Indexes of get-calls less than MIN_WAIT_S after the get-call before them, other than
    the one when max_duration_s passes (the hang-up comes next)."""
    short = []
    last_poll: datetime | None = None
    for i, (when, kind) in enumerate(scheduled):
        if kind != "get_call":
            continue
        hangs_up_next = i + 1 < len(scheduled) and scheduled[i + 1][1] == "stop_call"
        gap = None if last_poll is None else (when - last_poll).total_seconds()
        if gap is not None and gap < bounds.MIN_WAIT_S and not hangs_up_next:
            short.append(i)
        last_poll = when
    return short


async def test_a_call_at_the_extremes_stays_within_the_stated_bounds(
    ts_env: WorkflowEnvironment, task_queue: str, sim: SimulatorAdmin
) -> None:
    request = extreme_request()
    bounds.check_bounds(request)  # allowed: the extreme, not beyond it
    handle = await _start(ts_env, task_queue, request)
    outcome = await handle.result()
    history = await handle.fetch_history()

    assert outcome.status == OutcomeStatus.TIMED_OUT
    assert len(outcome.attempts) == MOST_ATTEMPTS
    polls = await sim.requests("/get-call")
    scheduled = _scheduled(history)
    assert len(polls) == sum(1 for _, kind in scheduled if kind == "get_call")
    assert len(await sim.requests("/create-phone-call")) == MOST_ATTEMPTS
    assert len(polls) <= bounds.MAX_POLLS_PER_CALL
    assert _short_gaps(scheduled) == []
    assert len(history.events) <= bounds.MAX_HISTORY_EVENTS
    largest = max(len(p.data) for e in history.events for p in _payloads(e))
    assert largest <= bounds.PAYLOAD_BUDGET_BYTES
    print(f"{len(polls)} polls, {len(history.events)} events, largest payload {largest} bytes")


@pytest.mark.parametrize(
    ("timeouts", "field", "rule"),
    [
        ({"poll_interval_s": bounds.MIN_WAIT_S / 2}, "timeouts.poll_interval_s", "min"),
        (
            {"max_duration_s": bounds.MIN_WAIT_S * (INTERVALS + 1)},
            "timeouts.poll_interval_s",
            "poll_budget",
        ),
    ],
)
async def test_one_step_beyond_is_rejected_naming_the_field_and_rule(
    ts_env: WorkflowEnvironment,
    task_queue: str,
    sim: SimulatorAdmin,
    timeouts: dict[str, float],
    field: str,
    rule: str,
) -> None:
    request = extreme_request(**timeouts)
    # Started as another team's code might, past start_call's own check.
    outcome = await (await _start(ts_env, task_queue, request)).result()
    assert outcome.status == OutcomeStatus.REJECTED
    assert outcome.detail is not None
    assert f"{field}:" in outcome.detail
    assert f"(rule: {rule})" in outcome.detail
    assert await sim.requests("/create-phone-call") == []


async def test_start_call_refuses_before_anything_starts(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    request = extreme_request(poll_interval_s=bounds.MIN_WAIT_S / 2)
    with pytest.raises(InvalidCallRequest) as caught:
        await start_call(ts_env.client, request, task_queue=task_queue)
    assert (caught.value.field, caught.value.rule) == ("timeouts.poll_interval_s", "min")
    with pytest.raises(RPCError):
        await ts_env.client.get_workflow_handle(workflow_id_for(request)).describe()
