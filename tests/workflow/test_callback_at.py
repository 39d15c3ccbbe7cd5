"""A person who asked to be called back at a time is called then (inside the calling window),
on the time-skipping server against the simulator over real HTTP; a time that cannot be used
falls back to callback_delay_s, and the attempt's detail says which."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client.models import AttemptRecord, CallOutcome, CallRequest, OutcomeStatus
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import SimulatorAdmin, call_request, call_worker, replayer_for
from worker import WORKFLOWS

LA = ZoneInfo("America/Los_Angeles")  # where TO_NUMBER (+1 415) rings
FIXED_S = 7200  # the fallback; every asked time below is elsewhere


@pytest.fixture
def sim_time_scale() -> float:
    # Calls end within milliseconds of real time, so a poll after skipped time finds them ended.
    return 0.001


@pytest.fixture
async def queue(ts_env: WorkflowEnvironment, sim: SimulatorAdmin) -> AsyncIterator[str]:
    async with call_worker(ts_env.client, sim.base_url) as task_queue:
        yield task_queue


def _callback_then_answered(asked: str, **overrides: object) -> CallRequest:
    request = call_request(
        "callback_requested,answered",
        redial={"max_attempts": 2, "initial_delay_s": 60, "callback_delay_s": FIXED_S},
        **overrides,
    )
    metadata = {**request.metadata, "simulator_callback_at": asked}
    return request.model_copy(update={"metadata": metadata})


async def _run(env: WorkflowEnvironment, queue: str, request: CallRequest) -> CallOutcome:
    return await (await start_call(env.client, request, task_queue=queue)).result()


def _dials(outcome: CallOutcome) -> tuple[AttemptRecord, datetime]:
    """The callback attempt, and when the call back was dialed."""
    assert [a.status for a in outcome.attempts] == [
        OutcomeStatus.CALLBACK_REQUESTED,
        OutcomeStatus.COMPLETED,
    ]
    first, second = outcome.attempts
    assert second.dialed_at is not None
    return first, second.dialed_at


def _same_minute(dialed: datetime, expected: datetime) -> None:
    # The redial timer fires at the asked moment; the dial follows within real milliseconds.
    assert expected <= dialed < expected + timedelta(minutes=1), (dialed, expected)


async def test_a_callback_lands_at_the_asked_time(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    now = await ts_env.get_current_time()
    asked = (now + timedelta(hours=5)).replace(second=0, microsecond=0).astimezone(LA)
    request = _callback_then_answered(asked.isoformat())
    handle = await start_call(ts_env.client, request, task_queue=queue)
    first, dialed = _dials(await handle.result())
    _same_minute(dialed, asked)
    assert first.detail == f"callback_at {asked.astimezone(UTC).isoformat()}: redial then"
    assert len(await sim.calls()) == 2
    # The patched path replays (the old one: the recorded histories, test_replay.py).
    await replayer_for(WORKFLOWS).replay_workflow(await handle.fetch_history())


async def test_a_local_time_outside_calling_hours_is_called_at_the_next_opening(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    # The first call at 10:00 in Los Angeles; the person asks for 22:00 that day, their time
    # (no offset), in the field this worker's CALLBACK_TIME_FIELD names.
    now = (await ts_env.get_current_time()).astimezone(LA)
    morning = now.replace(hour=10, minute=0, second=0, microsecond=0)
    if morning <= now:
        morning += timedelta(days=1)
    await ts_env.sleep(morning - now)
    asked = f"{morning.date().isoformat()}T22:00"
    request = _callback_then_answered(asked, calling_window={"enabled": True})
    request = request.model_copy(
        update={"metadata": {**request.metadata, "simulator_callback_field": "call_me_at"}}
    )
    async with call_worker(ts_env.client, sim.base_url, callback_time_field="call_me_at") as q:
        outcome = await _run(ts_env, q, request)
    first, dialed = _dials(outcome)
    opening = (morning + timedelta(days=1)).replace(hour=9)
    _same_minute(dialed, opening)
    assert first.detail is not None
    assert first.detail.startswith("call_me_at ")
    assert first.detail.endswith("(the calling window)")


@pytest.mark.parametrize(
    ("asked", "why"),
    [
        ("tomorrow, after lunch", "'tomorrow, after lunch' is not an ISO 8601 date and time"),
        ("2000-01-01T10:00:00+00:00", "2000-01-01T10:00:00+00:00 has passed"),
        # Eight days after the test's start: past the redial ceiling of seven.
        ("8 days", "{asked} is more than 7 days away (the redial ceiling)"),
    ],
)
async def test_an_unusable_time_falls_back_to_the_fixed_delay_and_says_so(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin, asked: str, why: str
) -> None:
    if asked == "8 days":
        asked = ((await ts_env.get_current_time()) + timedelta(days=8)).isoformat()
        why = why.format(asked=asked)
    outcome = await _run(ts_env, queue, _callback_then_answered(asked))
    first, dialed = _dials(outcome)
    assert first.dialed_at is not None
    # callback_delay_s counts from the follow-up, after the first call's ring and analysis
    # (minutes at most of skipped time, by its timeouts).
    gap = dialed - first.dialed_at
    assert timedelta(seconds=FIXED_S) <= gap < timedelta(seconds=FIXED_S + 900), gap
    assert first.detail == f"callback_at {why}; redial after callback_delay_s ({FIXED_S} s)"
