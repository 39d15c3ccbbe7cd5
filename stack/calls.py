"""Placing calls on a stack that dials the Retell simulator: the request a test or benchmark
starts with, and what it knows of the call it placed."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.client import WorkflowHandle

from outbound_calls_client.models import CallOutcome, CallRequest, CallTimeouts, OutcomeStatus
from outbound_calls_client.start import start_call
from stack.processes import ProcessStack

# Valid, ordinary numbers the simulator accepts; nothing real is dialed.
TO_NUMBER = "+14155550123"
FROM_NUMBER = "+12125550199"

# Short per-call deadlines: a lost webhook is made up for by a get-call poll within seconds
# (polls that often keep a call within its poll budget only for a short max_duration_s).
QUICK_TIMEOUTS = CallTimeouts(
    ring_timeout_s=2, poll_interval_s=2, analysis_timeout_s=2, max_duration_s=120
)

# What the workflow must end with for each simulator scenario.
EXPECTED_STATUS: Mapping[str, OutcomeStatus] = {
    "answered": OutcomeStatus.COMPLETED,
    "duplicate_webhooks": OutcomeStatus.COMPLETED,
    "out_of_order": OutcomeStatus.COMPLETED,
    "webhooks_lost": OutcomeStatus.COMPLETED,
    "rate_limited": OutcomeStatus.COMPLETED,
    "server_errors": OutcomeStatus.COMPLETED,
    "lost_response": OutcomeStatus.COMPLETED,
    "no_answer": OutcomeStatus.NO_ANSWER,
    "busy": OutcomeStatus.BUSY,
    "voicemail": OutcomeStatus.VOICEMAIL,
}


def call_request(scenario: str = "answered", **overrides: Any) -> CallRequest:
    """A call the simulator plays as ``scenario``, with a fresh dedupe key."""
    fields: dict[str, Any] = {
        "to_number": TO_NUMBER,
        "from_number": FROM_NUMBER,
        "agent_id": "agent_test",
        "metadata": {"simulator_scenario": scenario},
        "dynamic_variables": {"customer_name": "Ada"},
        "dedupe_key": f"test-{uuid.uuid4().hex[:12]}",
        # Runs at any hour: the window is tested on its own, with a chosen clock.
        "calling_window": {"enabled": False},
    }
    fields.update(overrides)
    return CallRequest.model_validate(fields)


_numbers = itertools.count()


def next_number() -> str:
    """A distinct valid US number per call, so ``/_sim/calls?to_number=`` finds one call."""
    return f"+1212555{next(_numbers) % 10_000:04d}"


@dataclass(frozen=True)
class PlacedCall:
    handle: WorkflowHandle[Any, CallOutcome]
    scenario: str
    to_number: str

    @property
    def workflow_id(self) -> str:
        return self.handle.id

    @property
    def expected(self) -> OutcomeStatus:
        return EXPECTED_STATUS[self.scenario]


async def place_call(
    stack: ProcessStack,
    label: str,
    scenario: str = "answered",
    *,
    ring_ms: int | None = None,
    talk_ms: int | None = None,
    extra_metadata: Mapping[str, str] | None = None,
    timeouts: CallTimeouts = QUICK_TIMEOUTS,
) -> PlacedCall:
    """Start a call on ``stack`` to a number of its own, played as ``scenario``."""
    metadata = {"simulator_scenario": scenario, **(extra_metadata or {})}
    if ring_ms is not None:
        metadata["simulator_ring_ms"] = str(ring_ms)
    if talk_ms is not None:
        metadata["simulator_talk_ms"] = str(talk_ms)
    number = next_number()
    request = call_request(
        scenario,
        to_number=number,
        metadata=metadata,
        timeouts=timeouts,
        dedupe_key=f"{label}-{uuid.uuid4().hex[:10]}",
    )
    handle = await start_call(stack.client, request, task_queue=stack.task_queue)
    return PlacedCall(handle, scenario, number)


async def webhook_records(stack: ProcessStack, call_id: str) -> list[dict[str, Any]]:
    """Every delivery the simulator made (or suppressed) for ``call_id``, with its attempts."""
    async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=5, trust_env=False) as http:
        response = await http.get(f"/_sim/calls/{call_id}/webhooks")
        response.raise_for_status()
        records: list[dict[str, Any]] = response.json()
        return records
