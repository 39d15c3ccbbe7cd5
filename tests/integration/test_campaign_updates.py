"""A campaign's updates (pause, resume, cancel) and Temporal's cancel, on the dev server.

The whole stack runs on wall-clock time: simulator, bridge and webhooks, worker. Updates stay
off the time-skipping test server, which now and then refuses the workflow task that completes
an update ("invalid history builder state for action") and leaves the campaign hanging.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client.campaign import CampaignRequest, CampaignSnapshot, CampaignSummary
from outbound_calls_client.models import CallRequest, OutcomeStatus
from outbound_calls_client.start import start_campaign
from simulator.scenarios import TALK_MS_KEY
from tests.helpers.call_harness import (
    LiveStack,
    SimulatorAdmin,
    call_request,
    eventually,
    live_stack,
)
from workflows.campaign import MAX_REASON_CHARS, CampaignWorkflow, campaign_call_id

pytestmark = pytest.mark.integration

Handle = WorkflowHandle[Any, CampaignSummary]
T = TypeVar("T")
LIVE = ("registered", "ongoing")
# Long enough to still be talking when the test pauses the campaign right after the dials.
LONG_TALK_MS = 3000
# How long a paused campaign is watched for a dial it must not make.
QUIET_S = 1.0


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client, time_scale=0.002) as running:
        yield running


async def _bounded(awaitable: Awaitable[T], seconds: float = 60.0) -> T:
    async with asyncio.timeout(seconds):
        return await awaitable


def _campaign_id(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:10]}"


def _calls(size: int, scenario_at: Callable[[int], str], talk_ms_at: int = 0) -> list[CallRequest]:
    """``size`` calls; the first ``talk_ms_at`` of them talk for LONG_TALK_MS. No dedupe key:
    the campaign derives each child's id from its own id and the index."""
    calls = []
    for i in range(size):
        metadata = {"simulator_scenario": scenario_at(i)}
        if i < talk_ms_at:
            metadata[TALK_MS_KEY] = str(LONG_TALK_MS)
        calls.append(call_request(metadata=metadata, dedupe_key=None))
    return calls


async def _start(stack: LiveStack, env: WorkflowEnvironment, request: CampaignRequest) -> Handle:
    return await start_campaign(env.client, request, task_queue=stack.task_queue)


async def _progress(handle: Handle) -> CampaignSnapshot:
    snapshot: CampaignSnapshot = await handle.query(CampaignWorkflow.progress)
    return snapshot


async def _created(sim: SimulatorAdmin, count: int) -> None:
    async def probe() -> bool:
        return len(await sim.calls()) >= count

    await eventually(probe, what=f"{count} calls to be created")


async def _nothing_live(sim: SimulatorAdmin) -> None:
    async def probe() -> bool:
        return not [c for c in await sim.calls() if c["call_status"] in LIVE]

    await eventually(probe, timeout_s=30, what="no call live at the simulator")


async def test_pause_stops_new_calls_until_resume(
    dev_env: WorkflowEnvironment, stack: LiveStack
) -> None:
    size, window = 9, 3
    request = CampaignRequest(
        campaign_id=_campaign_id("pause"),
        calls=_calls(size, lambda _: "answered", talk_ms_at=window),
        max_in_flight=window,
    )
    handle = await _start(stack, dev_env, request)
    # The first calls are still talking: in flight when the pause comes.
    await _created(stack.sim, window)
    paused = await handle.execute_update(CampaignWorkflow.pause, "script change")
    assert paused.paused
    assert paused.pause_reason == "script change"
    assert (paused.started, paused.in_flight) == (window, window)

    with pytest.raises(WorkflowUpdateFailedError) as again:
        await handle.execute_update(CampaignWorkflow.pause, "twice")
    assert "already paused" in str(again.value.cause)

    # The open calls end, and nothing new starts while paused.
    async def drained() -> CampaignSnapshot | None:
        snapshot = await _progress(handle)
        return snapshot if snapshot.finished >= window else None

    state = await eventually(drained, timeout_s=30, what="the open calls to finish")
    assert (state.started, state.in_flight, state.paused) == (window, 0, True)
    await asyncio.sleep(QUIET_S)
    assert len(await stack.sim.calls()) == window
    assert (await _progress(handle)).started == window

    resumed = await handle.execute_update(CampaignWorkflow.resume)
    assert not resumed.paused
    with pytest.raises(WorkflowUpdateFailedError) as running:
        await handle.execute_update(CampaignWorkflow.resume)
    assert "not paused" in str(running.value.cause)

    summary = await _bounded(handle.result())
    assert summary.counts == {OutcomeStatus.COMPLETED: size}
    assert len(await stack.sim.calls()) == size
    # A closed campaign takes no updates at all: the server refuses them.
    with pytest.raises(RPCError):
        await handle.execute_update(CampaignWorkflow.pause)


async def _start_hanging_campaign(
    env: WorkflowEnvironment, stack: LiveStack, size: int, window: int
) -> Handle:
    # Calls that stay connected until hung up: only a cancel ends them early.
    request = CampaignRequest(
        campaign_id=_campaign_id("hang"),
        calls=_calls(size, lambda _: "hangs_ongoing"),
        max_in_flight=window,
    )
    handle = await _start(stack, env, request)
    await _created(stack.sim, window)
    return handle


async def _assert_canceled(
    summary: CampaignSummary, sim: SimulatorAdmin, size: int, window: int
) -> None:
    assert summary.canceled
    assert summary.counts == {OutcomeStatus.CANCELED: window}
    assert (summary.finished, summary.skipped) == (window, size - window)
    # The open calls were hung up; the others were never dialed.
    await _nothing_live(sim)
    dialed = await sim.calls()
    assert len(dialed) == window
    assert {c["disconnection_reason"] for c in dialed} == {"manual_stopped"}
    assert len(await sim.requests("/v2/stop-call")) == window


async def test_cancel_hangs_up_open_calls_and_dials_no_more(
    dev_env: WorkflowEnvironment, stack: LiveStack
) -> None:
    size, window = 10, 3
    handle = await _start_hanging_campaign(dev_env, stack, size, window)
    # A reason is carried from run to run: a long one is refused before anything changes.
    for update in (CampaignWorkflow.pause, CampaignWorkflow.cancel):
        with pytest.raises(WorkflowUpdateFailedError) as long_reason:
            await handle.execute_update(update, "x" * (MAX_REASON_CHARS + 1))
        assert "rule: max_length" in str(long_reason.value.cause)
    assert not (await _progress(handle)).paused
    summary = await _bounded(handle.execute_update(CampaignWorkflow.cancel, "wrong list"))
    await _assert_canceled(summary, stack.sim, size, window)
    assert await _bounded(handle.result()) == summary
    with pytest.raises(RPCError):
        await handle.execute_update(CampaignWorkflow.resume)


async def test_temporal_cancel_is_a_campaign_cancel(
    dev_env: WorkflowEnvironment, stack: LiveStack
) -> None:
    size, window = 8, 2
    handle = await _start_hanging_campaign(dev_env, stack, size, window)
    await handle.cancel()  # the UI's cancel button
    await _assert_canceled(await _bounded(handle.result()), stack.sim, size, window)


async def test_account_error_pauses_the_campaign(
    dev_env: WorkflowEnvironment, stack: LiveStack
) -> None:
    size, broken = 6, 2
    request = CampaignRequest(
        campaign_id=_campaign_id("broken"),
        calls=_calls(size, lambda i: "account_problem" if i == broken else "answered"),
        max_in_flight=1,
    )
    handle = await _start(stack, dev_env, request)

    async def paused() -> CampaignSnapshot | None:
        snapshot = await _progress(handle)
        return snapshot if snapshot.paused else None

    state = await eventually(paused, timeout_s=30, what="the campaign to pause")
    assert state.pause_reason is not None
    assert "account_error" in state.pause_reason
    assert (
        campaign_call_id(request.campaign_id, broken, request.calls[broken]) in state.pause_reason
    )
    assert (state.started, state.finished) == (broken + 1, broken + 1)
    assert state.counts == {OutcomeStatus.COMPLETED: broken, OutcomeStatus.ACCOUNT_ERROR: 1}
    await asyncio.sleep(QUIET_S)
    assert len(await stack.sim.calls()) == broken + 1

    await handle.execute_update(CampaignWorkflow.resume)
    summary = await _bounded(handle.result())
    assert summary.counts == {OutcomeStatus.COMPLETED: size - 1, OutcomeStatus.ACCOUNT_ERROR: 1}
    assert len(await stack.sim.calls()) == size
    await _nothing_live(stack.sim)
