"""CONTACT_LIMITS on the time-skipping server against the simulator over real HTTP: a dial
that would call a person more often than allowed holds (visibly, naming the rule) until it is
allowed, or ends rejected naming the rule once past ``timeouts.max_hold_s``; redials count;
an attempt that placed no call is no contact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from adapters.contact_log import SqliteContactLog
from outbound_calls_client.models import CallOutcome, CallRequest, CallSnapshot, OutcomeStatus
from outbound_calls_client.start import start_call
from stack.calls import next_number
from tests.helpers.call_harness import (
    SimulatorAdmin,
    call_request,
    call_worker,
    eventually,
    snapshot,
)


@pytest.fixture
def sim_time_scale() -> float:
    return 0.001


@pytest.fixture
async def queue(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, tmp_path: Path
) -> AsyncIterator[str]:
    async with call_worker(
        ts_env.client,
        sim.base_url,
        contact_limits="2/24h,3/7d",
        do_not_call_db=tmp_path / "dnc.sqlite3",
    ) as task_queue:
        yield task_queue


async def _run(env: WorkflowEnvironment, queue: str, request: CallRequest) -> CallOutcome:
    return await (await start_call(env.client, request, task_queue=queue)).result()


async def _dialed_twice(
    env: WorkflowEnvironment, sim: SimulatorAdmin, queue: str, person: str
) -> list[WorkflowHandle[Any, CallOutcome]]:
    """Two calls to ``person``, both dialed, not yet awaited: awaiting a result lets the
    time-skipping server jump ahead (far, between calls), which would age a contact out
    before the next is claimed."""
    handles = [
        await start_call(env.client, call_request(to_number=person), task_queue=queue)
        for _ in range(2)
    ]

    async def both() -> bool:
        return len(await sim.calls(person)) == 2

    await eventually(both, what="two calls to be dialed")
    return handles


async def test_a_third_call_within_a_day_holds_until_the_first_ages_out(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, queue: str
) -> None:
    person = next_number()
    handles = await _dialed_twice(ts_env, sim, queue, person)
    held = await start_call(ts_env.client, call_request(to_number=person), task_queue=queue)

    async def holding() -> CallSnapshot | None:
        status = await snapshot(held)
        return status if status.phase == "waiting_for_contact_limit" else None

    status = await eventually(holding, what="the third call to hold")
    assert status.held_by == "contact limit 2/24h (CONTACT_LIMITS) reached for this number"
    assert status.waiting_until is not None
    assert len(await sim.calls(person)) == 2  # nothing dialed while it holds
    firsts = [await handle.result() for handle in handles]
    first_dial = min(o.attempts[0].dialed_at for o in firsts if o.attempts[0].dialed_at)
    assert abs(status.waiting_until - (first_dial + timedelta(hours=24))) < timedelta(seconds=5)
    third = await held.result()
    assert third.status is OutcomeStatus.COMPLETED
    third_dial = third.attempts[0].dialed_at
    assert third_dial is not None
    assert third_dial - first_dial >= timedelta(hours=24)
    assert len(await sim.calls(person)) == 3


async def test_past_max_hold_the_call_ends_rejected_naming_the_rule(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, queue: str
) -> None:
    person = next_number()
    handles = await _dialed_twice(ts_env, sim, queue, person)
    request = call_request(to_number=person, timeouts={"max_hold_s": 3600})
    refused = await _run(ts_env, queue, request)
    assert refused.status is OutcomeStatus.REJECTED
    (attempt,) = refused.attempts
    assert attempt.detail is not None
    assert attempt.detail.startswith("contact limit 2/24h (CONTACT_LIMITS)")
    assert "past timeouts.max_hold_s" in attempt.detail
    assert len(await sim.calls(person)) == 2
    for handle in handles:
        assert (await handle.result()).status is OutcomeStatus.COMPLETED
    # Another person is not held by this one's contacts.
    other = await _run(ts_env, queue, call_request(to_number=next_number()))
    assert other.status is OutcomeStatus.COMPLETED


async def test_redials_count_and_an_attempt_without_a_call_is_no_contact(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, queue: str, tmp_path: Path
) -> None:
    person = next_number()
    refused_at_create = await _run(ts_env, queue, call_request("forbidden", to_number=person))
    assert refused_at_create.attempts[0].call_id is None
    redials = {"max_attempts": 3, "initial_delay_s": 60}
    request = call_request(
        "no_answer", to_number=person, redial=redials, timeouts={"max_hold_s": 600}
    )
    outcome = await _run(ts_env, queue, request)
    # The refused create did not count: two dials, then the third redial is past the hold.
    assert [a.status for a in outcome.attempts] == [
        OutcomeStatus.NO_ANSWER,
        OutcomeStatus.NO_ANSWER,
        OutcomeStatus.REJECTED,
    ]
    assert len(await sim.calls(person)) == 2
    log = SqliteContactLog(tmp_path / "dnc.sqlite3")
    with log._connect() as db:  # the log holds no number in clear
        keys = {row[0] for row in db.execute("SELECT number_key FROM contact_log")}
    assert keys
    assert all(person not in key and person[1:] not in key for key in keys)
