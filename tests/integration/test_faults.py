"""Calls survive faults: every part of the stack is a real process, and each test breaks one.

The stack (Temporal dev server on a SQLite file, simulator, bridge, worker; see
``stack/processes.py``) is shared by the module; each test places a few calls, breaks
something while they are in flight, repairs it, and then audits every call
(``tests/fault_checks.py``): exactly one final outcome per call, and the right one (what the
simulator played, analysis included, so no webhook was lost for good: Retell's retries and
the workflow's get-call poll cover every delivery that failed), and exactly one dial per
attempt (one simulated call per idempotency key).

Each test also checks that its fault really hit the calls (webhooks sent while Temporal was
down, deliveries refused and last webhooks abandoned while the bridge was, signals recorded
while no worker ran), so that a fault that misses its moment fails instead of passing
vacuously; and the last test shows that the audit itself catches a double dial and a lost
call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

from outbound_calls_client.models import CallTimeouts
from stack.config import StackConfig
from stack.processes import ProcessStack
from tests.helpers.call_harness import SIM_KEY
from tests.helpers.fault_checks import (
    Audit,
    PlacedCall,
    audit_calls,
    place_call,
    sim_calls_by_workflow,
    wait_until_dialed,
    webhook_records,
)

pytestmark = pytest.mark.integration

# Slow enough that calls are still ringing or talking when the fault strikes: at this scale
# a webhook delivery is tried 4 times within about a second, then abandoned.
TIME_SCALE = 0.3
OUTCOME_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ProcessStack]:
    config = StackConfig(
        time_scale=TIME_SCALE,
        # lost_response holds the first create answer for 3 s: give up on it after 2.
        env={"RETELL_READ_TIMEOUT_S": "2", "RETELL_CREATE_TIMEOUT_S": "2"},
    )
    async with ProcessStack(tmp_path_factory.mktemp("fault-stack"), config).running() as running:
        yield running


@pytest.fixture
async def healthy(stack: ProcessStack) -> AsyncIterator[ProcessStack]:
    """The shared stack, whole again after a test that failed half-way through its fault."""
    yield stack
    for name in stack.components:
        if not stack.is_running(name):
            await stack.start_component(name)


def _assert_clean(audit: Audit, stack: ProcessStack, placed: Sequence[PlacedCall]) -> None:
    assert audit.problems == [], "\n".join(audit.problems) + "\n" + stack.logs_summary()
    figures = {"calls": len(placed), "finished": len(placed), "lost": 0, "double_dialed": 0}
    assert audit.figures() == figures


async def _attempts_between(
    stack: ProcessStack, placed: Sequence[PlacedCall], start_s: float, end_s: float
) -> list[dict[str, Any]]:
    """Every webhook delivery attempt the simulator started within [start_s, end_s] (epoch)."""
    found: list[dict[str, Any]] = []
    grouped = await sim_calls_by_workflow(stack)
    for p in placed:
        for call in grouped.get(p.workflow_id, []):
            for record in await webhook_records(stack, call["call_id"]):
                for attempt in record["attempts"]:
                    if start_s * 1000 <= attempt["started_ms"] <= end_s * 1000:
                        found.append({**attempt, "event": record["event"]})
    return found


async def _place_staggered(stack: ProcessStack, label: str, count: int) -> list[PlacedCall]:
    """Answered calls whose rings end at different moments: when all of them are dialed,
    some still ring, some talk."""
    return [
        await place_call(stack, label, ring_ms=400 + 700 * i, talk_ms=1500) for i in range(count)
    ]


async def test_worker_killed_mid_call_resumes_every_call_without_redialing(
    healthy: ProcessStack,
) -> None:
    stack = healthy
    placed = await _place_staggered(stack, "kill-worker", 6)
    dialed = await wait_until_dialed(stack, placed)
    ringing = [c for p in placed for c in dialed[p.workflow_id] if c["call_status"] == "registered"]
    assert ringing, "no call was ringing when the worker was killed"

    await stack.kill("worker")
    killed_at = time.time()
    await asyncio.sleep(2.0)  # webhooks keep arriving: signals wait in Temporal for a worker
    restarted_at = time.time()
    await stack.start_component("worker")

    audit = await audit_calls(stack, placed, timeout_s=OUTCOME_TIMEOUT_S)
    _assert_clean(audit, stack, placed)
    while_down = await _attempts_between(stack, placed, killed_at, restarted_at)
    accepted = [a for a in while_down if a["status_code"] == 204]
    assert accepted, "no webhook reached Temporal while the worker was down"


async def test_temporal_restart_mid_call_loses_no_call_and_dials_once(
    healthy: ProcessStack,
) -> None:
    stack = healthy
    placed = await _place_staggered(stack, "restart-temporal", 6)
    await wait_until_dialed(stack, placed)

    await stack.kill("temporal")  # a crash: no shutdown; the SQLite file keeps what it had
    down_at = time.time()
    await asyncio.sleep(2.0)  # deliveries answered 503 (or refused) until Retell gives up
    await stack.start_component("temporal")  # same port, same database file
    up_at = time.time()

    audit = await audit_calls(stack, placed, timeout_s=OUTCOME_TIMEOUT_S)
    _assert_clean(audit, stack, placed)
    # Deliveries sent during the outage were answered 503 (or held until Temporal was back)
    # and retried by the simulator, as Retell does.
    assert await _attempts_between(stack, placed, down_at, up_at), "no webhook during the outage"
    assert stack.is_running("worker"), "the worker did not survive the outage"
    assert stack.is_running("bridge"), "the bridge did not survive the outage"


@pytest.mark.parametrize(
    ("scenario", "create_statuses"),
    [
        ("server_errors", [500, 503, 201]),
        ("rate_limited", [429, 201]),
        # The answer is held past the client's create timeout; the retry sends the same
        # idempotency key and Retell answers the call it already created.
        ("lost_response", [201]),
    ],
)
async def test_retell_errors_and_hangs_are_retried_into_one_call(
    healthy: ProcessStack, scenario: str, create_statuses: list[int]
) -> None:
    stack = healthy
    # The stack is shared by the module: count only this test's lookups.
    lookups_before = len(await stack.sim.requests("/v3/list-calls"))
    placed = [
        await place_call(stack, scenario, scenario, extra_metadata={"simulator_hold_s": "3"})
        for _ in range(2)
    ]
    audit = await audit_calls(stack, placed, timeout_s=OUTCOME_TIMEOUT_S)
    _assert_clean(audit, stack, placed)

    creates = await stack.sim.requests("/v2/create-phone-call")
    for p in placed:
        key = audit.outcomes[p.workflow_id].attempts[0].idempotency_key
        statuses = [r["status_code"] for r in creates if r["idempotency_key"] == key]
        if scenario == "lost_response":
            # Answered after the client gave up (the status may never have been sent), then
            # the retry with the same key: one call either way.
            assert len(statuses) == 2, statuses
            assert statuses[-1] == 201
        else:
            assert statuses == create_statuses
    if scenario == "lost_response":
        # The retried create itself answered: no reconciling lookup was needed.
        assert len(await stack.sim.requests("/v3/list-calls")) == lookups_before


async def test_bridge_killed_mid_delivery_loses_no_event(healthy: ProcessStack) -> None:
    stack = healthy
    # Short calls, one after another: some live their whole life while the bridge is down,
    # so every one of their webhooks is abandoned and only the get-call poll can tell.
    placed = [
        await place_call(stack, "kill-bridge", ring_ms=200 + 500 * i, talk_ms=600) for i in range(6)
    ]
    await wait_until_dialed(stack, placed)

    await stack.kill("bridge")  # in-flight requests are cut; nothing is acknowledged
    down_at = time.time()
    await asyncio.sleep(3.5)  # far longer than the simulator's four tries of one delivery
    await stack.start_component("bridge")  # same port
    up_at = time.time()

    audit = await audit_calls(stack, placed, timeout_s=OUTCOME_TIMEOUT_S)
    _assert_clean(audit, stack, placed)
    while_down = await _attempts_between(stack, placed, down_at, up_at)
    assert any(a["error"] for a in while_down), "no delivery failed while the bridge was down"
    never_analysed = []
    for p in placed:
        records = await webhook_records(stack, audit.outcomes[p.workflow_id].call_id or "")
        if not any(r["delivered"] for r in records if r["event"] == "call_analyzed"):
            never_analysed.append(p.workflow_id)
    # Retell gave up on these calls' last webhook: their outcomes (checked above, analysis
    # included) came from the workflow's get-call poll.
    assert never_analysed, "every call_analyzed got through: the fault missed the calls"


async def test_the_audit_sees_a_double_dial_and_a_lost_call(healthy: ProcessStack) -> None:
    """The checks above can fail: a call dialed twice and a call that never ends are caught."""
    stack = healthy
    dialed_twice = await place_call(stack, "audit-double")
    never_ends = await place_call(
        stack,
        "audit-lost",
        "webhooks_lost",
        # No poll for an hour: with every webhook lost, nothing can end this call.
        timeouts=CallTimeouts(ring_timeout_s=3600, poll_interval_s=3600, analysis_timeout_s=3600),
    )
    grouped = await wait_until_dialed(stack, [dialed_twice])
    first = grouped[dialed_twice.workflow_id][0]
    await stack.sim.forget_idempotency()  # as if the key's hour had passed
    async with httpx.AsyncClient(base_url=stack.simulator_url, trust_env=False) as http:
        again = await http.post(
            "/v2/create-phone-call",
            headers={"authorization": f"Bearer {SIM_KEY}"},
            json={
                "from_number": first["from_number"],
                "to_number": first["to_number"],
                "metadata": first["metadata"],
                "idempotency_key": first["metadata"]["idempotency_key"],
            },
        )
        assert again.status_code == 201

    # The answered call ends by itself; the other never does, so the audit waits only briefly.
    await asyncio.wait_for(dialed_twice.handle.result(), OUTCOME_TIMEOUT_S)
    audit = await audit_calls(stack, [dialed_twice, never_ends], timeout_s=1)
    await never_ends.handle.terminate("audit self-test done")
    assert (audit.lost, audit.double_dialed, audit.finished) == (1, 1, 1), audit.problems
    assert any("no outcome" in problem for problem in audit.problems)
    assert any("2 dials for 1 attempt" in problem for problem in audit.problems)
