"""Place calls through a :class:`~stack.processes.ProcessStack` (``stack.calls.place_call``)
and audit what became of them.

The audit compares three independent records of every call: the workflow's result (its
``CallOutcome``), Temporal's own view of the execution (``describe``), and what the Retell
simulator saw (``/_sim/calls``: one dial per attempt, one call per idempotency key, and the
call's true end). A call is

- *lost* when its workflow gave no result in time, failed, or ended differently from what
  the simulator played (a webhook that nothing made up for);
- *finished* when it ended with the outcome its scenario calls for, matching the simulator;
- *double-dialed* when the simulator holds more than one call for one idempotency key, or
  more calls than the workflow made attempts.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from outbound_calls_client.models import CallOutcome
from stack.calls import EXPECTED_STATUS as EXPECTED_STATUS
from stack.calls import QUICK_TIMEOUTS as QUICK_TIMEOUTS
from stack.calls import PlacedCall as PlacedCall
from stack.calls import place_call as place_call
from stack.calls import webhook_records as webhook_records
from stack.processes import ProcessStack


async def sim_calls_by_workflow(stack: ProcessStack) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in await stack.sim.calls():
        workflow_id = (call.get("metadata") or {}).get("temporal_workflow_id")
        if isinstance(workflow_id, str):
            grouped[workflow_id].append(call)
    return grouped


async def wait_until_dialed(
    stack: ProcessStack, placed: Sequence[PlacedCall], *, timeout_s: float = 30.0
) -> dict[str, list[dict[str, Any]]]:
    """Until the simulator holds a call for every workflow; answers the calls by workflow."""
    wanted = {p.workflow_id for p in placed}
    async with asyncio.timeout(timeout_s):
        while True:
            grouped = await sim_calls_by_workflow(stack)
            if wanted <= grouped.keys():
                return grouped
            await asyncio.sleep(0.05)


async def result_or_none(
    placed: PlacedCall, *, timeout_s: float
) -> CallOutcome | WorkflowFailureError | None:
    try:
        async with asyncio.timeout(timeout_s):
            return await placed.handle.result()
    except TimeoutError:
        return None
    except WorkflowFailureError as err:
        return err


@dataclass
class Audit:
    calls: int = 0
    finished: int = 0
    lost: int = 0
    double_dialed: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    outcomes: dict[str, CallOutcome] = field(default_factory=dict)

    def figures(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "finished": self.finished,
            "lost": self.lost,
            "double_dialed": self.double_dialed,
        }


async def audit_calls(
    stack: ProcessStack,
    placed: Sequence[PlacedCall],
    *,
    timeout_s: float = 60.0,
    concurrency: int = 200,
) -> Audit:
    """Wait (bounded) for every call's result, then compare it with Temporal and the simulator."""
    gate = asyncio.Semaphore(concurrency)

    async def one(p: PlacedCall) -> CallOutcome | WorkflowFailureError | None:
        async with gate:
            return await result_or_none(p, timeout_s=timeout_s)

    async with asyncio.timeout(timeout_s + 30):
        results = await asyncio.gather(*(one(p) for p in placed))
    grouped = await sim_calls_by_workflow(stack)
    audit = Audit(calls=len(placed))
    for p, result in zip(placed, results, strict=True):
        sim_calls = grouped.get(p.workflow_id, [])
        if _double_dialed(p, result, sim_calls, audit.problems):
            audit.double_dialed += 1
        if not isinstance(result, CallOutcome):
            audit.lost += 1
            audit.problems.append(f"{p.workflow_id} ({p.scenario}): no outcome: {result!r}")
            continue
        audit.outcomes[p.workflow_id] = result
        audit.by_status[result.status.value] += 1
        description = await p.handle.describe()
        if description.status != WorkflowExecutionStatus.COMPLETED:
            audit.problems.append(f"{p.workflow_id}: execution {description.status}")
        wrong = _wrong_outcome(p, result, sim_calls)
        if wrong:
            audit.lost += 1
            audit.problems.append(f"{p.workflow_id} ({p.scenario}): {wrong}")
        else:
            audit.finished += 1
    return audit


def _double_dialed(
    placed: PlacedCall,
    result: CallOutcome | WorkflowFailureError | None,
    sim_calls: Iterable[dict[str, Any]],
    problems: list[str],
) -> bool:
    calls = list(sim_calls)
    keys = Counter((c.get("metadata") or {}).get("idempotency_key") for c in calls)
    repeated = {key: n for key, n in keys.items() if n > 1}
    attempts = len(result.attempts) if isinstance(result, CallOutcome) else None
    if repeated or (attempts is not None and len(calls) > attempts):
        problems.append(
            f"{placed.workflow_id}: {len(calls)} dials for {attempts} attempt(s); "
            f"repeated idempotency keys {repeated}"
        )
        return True
    return False


def _wrong_outcome(
    placed: PlacedCall, outcome: CallOutcome, sim_calls: list[dict[str, Any]]
) -> str:
    """Why the outcome disagrees with what the simulator played, or '' when it agrees."""
    if outcome.status != placed.expected:
        return f"ended {outcome.status.value}, expected {placed.expected.value} ({outcome.detail})"
    if len(outcome.attempts) != 1:
        return f"{len(outcome.attempts)} attempts, expected 1"
    played = next((c for c in sim_calls if c["call_id"] == outcome.call_id), None)
    if played is None:
        return f"call id {outcome.call_id}, which the simulator never dialed"
    if outcome.disconnection_reason != played.get("disconnection_reason"):
        return (
            f"reason {outcome.disconnection_reason}, "
            f"the call ended with {played.get('disconnection_reason')}"
        )
    if outcome.duration_ms != played.get("duration_ms"):
        return f"duration {outcome.duration_ms} ms, the call lasted {played.get('duration_ms')} ms"
    if played.get("call_analysis") and outcome.call_analysis is None:
        return "no call analysis, though the simulator analysed the call"
    return ""
