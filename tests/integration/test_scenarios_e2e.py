"""Every simulator scenario through simulator → bridge → workflow, on the dev server.

The simulator sends signed webhooks to the real bridge, which signals the worker's
workflows; nothing is delivered by the test. Per-call deadlines are short so that the
scenarios that rely on the poll fallback (lost webhooks, a call that never ends) finish in
seconds of real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client.models import CallOutcome, CallTimeouts, OutcomeStatus
from outbound_calls_client.start import start_call
from simulator.scenarios import SCENARIOS
from tests.helpers.call_harness import LiveStack, call_request, live_stack

pytestmark = pytest.mark.integration

EXPECTED: dict[str, OutcomeStatus] = {
    "answered": OutcomeStatus.COMPLETED,
    "no_answer": OutcomeStatus.NO_ANSWER,
    "busy": OutcomeStatus.BUSY,
    "dial_failed": OutcomeStatus.DIAL_FAILED,
    "invalid_destination": OutcomeStatus.INVALID_NUMBER,
    "account_problem": OutcomeStatus.ACCOUNT_ERROR,
    "voicemail": OutcomeStatus.VOICEMAIL,
    "dnc_requested": OutcomeStatus.DO_NOT_CALL,
    "callback_requested": OutcomeStatus.CALLBACK_REQUESTED,
    "webhooks_lost": OutcomeStatus.COMPLETED,
    "duplicate_webhooks": OutcomeStatus.COMPLETED,
    "out_of_order": OutcomeStatus.COMPLETED,
    "rate_limited": OutcomeStatus.COMPLETED,
    "server_errors": OutcomeStatus.COMPLETED,
    "conflicts": OutcomeStatus.COMPLETED,
    # Refused at create (402, 403): an account problem, no call at all.
    "trial_ended": OutcomeStatus.ACCOUNT_ERROR,
    "forbidden": OutcomeStatus.ACCOUNT_ERROR,
    "lost_response": OutcomeStatus.COMPLETED,
    "hangs_ongoing": OutcomeStatus.TIMED_OUT,
}
QUICK = CallTimeouts(ring_timeout_s=2, poll_interval_s=1, analysis_timeout_s=2, max_duration_s=4)


@pytest.fixture(scope="module")
async def results(
    dev_env: WorkflowEnvironment,
) -> AsyncIterator[tuple[LiveStack, dict[str, tuple[str, CallOutcome]]]]:
    async with live_stack(dev_env.client, time_scale=0.05) as stack:
        numbers = {name: f"+1212555{5000 + i:04d}" for i, name in enumerate(EXPECTED)}
        metadata = {name: {"simulator_scenario": name} for name in EXPECTED}
        metadata["lost_response"]["simulator_hold_s"] = "3"
        handles = {
            name: await start_call(
                dev_env.client,
                call_request(name, to_number=numbers[name], timeouts=QUICK, metadata=meta),
                task_queue=stack.task_queue,
            )
            for name, meta in metadata.items()
        }
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(h.result() for h in handles.values())), timeout=90
        )
        yield (
            stack,
            {
                name: (numbers[name], outcome)
                for name, outcome in zip(handles, outcomes, strict=True)
            },
        )


def test_every_scenario_is_covered() -> None:
    assert set(EXPECTED) == set(SCENARIOS)


@pytest.mark.parametrize("scenario", list(EXPECTED))
async def test_scenario_ends_as_expected(
    results: tuple[LiveStack, dict[str, tuple[str, CallOutcome]]], scenario: str
) -> None:
    stack, outcomes = results
    number, outcome = outcomes[scenario]
    assert outcome.status == EXPECTED[scenario], outcome.detail
    # One dial per call, whatever was retried, duplicated or lost on the way; none when
    # Retell refused the create.
    dials = 0 if SCENARIOS[scenario].create_refusal is not None else 1
    assert len(await stack.sim.calls(number)) == dials


async def test_webhooks_carried_the_calls_that_had_them(
    results: tuple[LiveStack, dict[str, tuple[str, CallOutcome]]],
) -> None:
    stack, outcomes = results
    polled = {r["path"].rsplit("/", 1)[-1] for r in await stack.sim.requests("/get-call/")}
    # Delivered webhooks need no poll; lost ones and a call that never ends do.
    for scenario in ("answered", "duplicate_webhooks", "out_of_order", "busy"):
        assert outcomes[scenario][1].call_id not in polled, scenario
    for scenario in ("webhooks_lost", "hangs_ongoing"):
        assert outcomes[scenario][1].call_id in polled, scenario
