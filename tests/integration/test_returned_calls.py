"""Returned calls: a person we missed calls back, through simulator → bridge → Temporal → worker.

The simulator plays Retell's inbound webhook (``POST /_sim/inbound-call``) against the
bridge's ``/webhooks/retell-inbound``; the call workflow of a no-answer callee waits for its
redial meanwhile. On the dev server, every part real, over loopback HTTP.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from calls.returned_call import number_hash
from outbound_calls_client import search_attributes as sa
from outbound_calls_client.models import OutcomeStatus
from outbound_calls_client.names import RETURNED_CALL_METADATA_KEY
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import (
    FROM_NUMBER,
    SIM_KEY,
    LiveStack,
    call_request,
    eventually,
    live_stack,
    snapshot,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client) as running:
        yield running


def _fresh_number() -> str:
    # Random, so no other test's call on the same dev server shares the callee.
    return f"+1646555{random.randrange(10_000):04d}"


async def _call_back(stack: LiveStack, caller: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.sim.base_url, timeout=15) as http:
        response = await http.post(
            "/_sim/inbound-call", json={"from_number": caller, "to_number": FROM_NUMBER}
        )
    assert response.status_code == 201, response.text
    played: dict[str, Any] = response.json()
    return played


async def test_a_missed_callee_who_calls_back_stops_the_redials(
    dev_env: WorkflowEnvironment, stack: LiveStack
) -> None:
    callee = _fresh_number()
    request = call_request(
        "no_answer",
        to_number=callee,
        dynamic_variables={"customer_name": "Ada", "topic": "renewal"},
        # Short enough that a redial the signal failed to stop happens during the test.
        redial={"max_attempts": 3, "initial_delay_s": 15},
    )
    client = dev_env.client
    handle = await start_call(client, request, task_queue=stack.task_queue)

    async def waiting() -> bool | None:
        return (await snapshot(handle)).phase == "waiting_to_redial" or None

    await eventually(waiting, what="the first attempt to end and the redial to wait")
    hashed = number_hash(SIM_KEY, callee)

    async def indexed() -> list[str] | None:
        query = f'{sa.TO_NUMBER_HASH.name} = "{hashed}"'
        found = [wf.id async for wf in client.list_workflows(query)]
        return found or None

    assert await eventually(indexed, what="visibility to index ToNumberHash") == [handle.id]

    played = await _call_back(stack, callee)
    inbound_id = played["call"]["call_id"]
    webhook = played["inbound_webhook"]
    assert webhook["delivered"], webhook
    answer = webhook["answer"]
    variables = answer["dynamic_variables"]
    assert variables["customer_name"] == "Ada"
    assert variables["topic"] == "renewal"
    assert variables["returned_call_workflow_id"] == handle.id
    assert variables["returned_call_last_attempt_at"]
    assert answer["metadata"] == {RETURNED_CALL_METADATA_KEY: handle.id}

    outcome = await asyncio.wait_for(handle.result(), timeout=30)
    assert outcome.status == OutcomeStatus.RETURNED_CALL
    assert outcome.call_id == inbound_id
    assert [a.status for a in outcome.attempts] == [OutcomeStatus.NO_ANSWER]
    dialed = [c for c in await stack.sim.calls(to_number=callee) if c["direction"] == "outbound"]
    assert len(dialed) == 1, dialed

    # The hash holds no number in clear, neither the callee's nor its digits.
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.TO_NUMBER_HASH) == hashed
    shown = json.dumps({p.key.name: p.value for p in attributes})
    assert callee not in shown
    assert callee[1:] not in shown

    # Calling again once the call is over: the variables still, and nothing else changes.
    again = (await _call_back(stack, callee))["inbound_webhook"]["answer"]
    assert again["dynamic_variables"]["returned_call_workflow_id"] == handle.id
    assert (await handle.result()).call_id == inbound_id


async def test_an_unknown_caller_gets_the_empty_answer(stack: LiveStack) -> None:
    webhook = (await _call_back(stack, _fresh_number()))["inbound_webhook"]
    assert webhook["delivered"], webhook
    assert webhook["answer_error"] is None
    assert webhook["answer"] == {}
