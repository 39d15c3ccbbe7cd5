"""Calling hours by region in the wait before a dial, on the time-skipping server against the
simulator over real HTTP: a Florida number (08:00-20:00, Fla. Stat. § 501.616(6)(a)) under a
request window of 07:00-22:00 waits for 08:00 and its status names the rule; the request
turning the rule off dials at 21:00."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client.models import CallingWindow, CallSnapshot, OutcomeStatus
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import (
    SimulatorAdmin,
    call_request,
    call_worker,
    eventually,
    snapshot,
)

MIAMI = "+13055550142"
EASTERN = ZoneInfo("America/New_York")
WIDE = {"start": "07:00", "end": "22:00"}


@pytest.fixture
def sim_time_scale() -> float:
    return 0.001


@pytest.fixture
async def queue(ts_env: WorkflowEnvironment, sim: SimulatorAdmin) -> AsyncIterator[str]:
    async with call_worker(ts_env.client, sim.base_url) as task_queue:
        yield task_queue


async def _at_nine_pm_in_miami(env: WorkflowEnvironment) -> datetime:
    """Skip the server's clock to the next 21:00 in Miami: inside the request's window, past
    Florida's 20:00."""
    now = (await env.get_current_time()).astimezone(EASTERN)
    nine = datetime.combine(now.date(), time(21, 0), tzinfo=EASTERN)
    if nine <= now:
        nine += timedelta(days=1)
    await env.sleep(nine - now)
    return nine


async def test_a_state_rule_narrower_than_the_window_holds_the_call_and_says_so(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, queue: str
) -> None:
    nine = await _at_nine_pm_in_miami(ts_env)
    request = call_request(to_number=MIAMI, calling_window=CallingWindow.model_validate(WIDE))
    handle = await start_call(ts_env.client, request, task_queue=queue)

    async def waiting() -> CallSnapshot | None:
        status = await snapshot(handle)
        return status if status.phase == "waiting_for_window" else None

    status = await eventually(waiting, what="the call to wait for Florida's hours")
    assert status.held_by is not None
    assert status.held_by.startswith("calling hours of US-FL: 08:00-20:00 (Fla. Stat.")
    assert status.waiting_until is not None
    opens = status.waiting_until.astimezone(EASTERN)
    assert (opens.date(), opens.time()) == ((nine + timedelta(days=1)).date(), time(8, 0))
    assert await sim.calls(MIAMI) == []
    outcome = await handle.result()
    assert outcome.status is OutcomeStatus.COMPLETED
    dialed = outcome.attempts[0].dialed_at
    assert dialed is not None
    assert dialed.astimezone(EASTERN) >= opens


async def test_a_request_that_turns_the_rule_off_dials_inside_its_own_window(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, queue: str
) -> None:
    nine = await _at_nine_pm_in_miami(ts_env)
    window = CallingWindow.model_validate({**WIDE, "regional_rules": False})
    outcome = await (
        await start_call(
            ts_env.client, call_request(to_number=MIAMI, calling_window=window), task_queue=queue
        )
    ).result()
    assert outcome.status is OutcomeStatus.COMPLETED
    dialed = outcome.attempts[0].dialed_at
    assert dialed is not None
    assert dialed - nine < timedelta(minutes=5)
