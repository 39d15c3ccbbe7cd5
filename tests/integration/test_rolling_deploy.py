"""A rolling deploy of changed workflow code, as docs/changing-workflows.md ships one.

On the dev server, with the simulator sending signed webhooks through the bridge: calls (three
talking, one waiting to redial), a campaign that continues as new with its calls queued for a
slot, and the slot pool they share all start on the 1.0 build. Then the next build's worker
starts on the same task queue (its workflows changed at a point every open run has passed,
behind ``workflow.patched``: tests/helpers/next_build.py) and the 1.0 worker drains and stops. Every
run finishes correctly on the next build, runs started after the deploy take the new path, and
nothing is left live at the simulator. The same change without the patch cannot replay the
runs that were open at the deploy: the patch is what makes the deploy safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.workflow import NondeterminismError

from adapters.do_not_call import SqliteDoNotCallList
from adapters.settings import BridgeSettings, SimulatorSettings
from bridge.app import create_app
from calls.slots import SlotsSnapshot, slots_workflow_id
from outbound_calls_client.campaign import CampaignRequest, CampaignSnapshot, CampaignSummary
from outbound_calls_client.contacts import CallTemplate, ContactSource
from outbound_calls_client.models import CallingWindow, CallOutcome, CallTimeouts, OutcomeStatus
from outbound_calls_client.start import start_call, start_campaign
from simulator.server import running_simulator, serve_asgi_app
from tests.helpers.call_harness import (
    SIM_KEY,
    SimulatorAdmin,
    call_request,
    call_worker,
    eventually,
    replayer_for,
    snapshot,
    task_builds,
)
from tests.helpers.next_build import (
    BUILD_MEMO,
    NEXT_BUILD,
    NextCallSlotsWorkflow,
    NextCampaignWorkflow,
    NextOutboundCallWorkflow,
    UnguardedCallSlotsWorkflow,
    UnguardedCampaignWorkflow,
    UnguardedOutboundCallWorkflow,
)
from worker import PRODUCT_VERSION, WORKFLOWS
from workflows.call_slots import CallSlotsWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.outbound_call import OutboundCallWorkflow

pytestmark = pytest.mark.integration

CAP = 3
CONTACTS = 6
QUICK = CallTimeouts(ring_timeout_s=5, poll_interval_s=5, analysis_timeout_s=5, max_duration_s=60)
# Long enough for the deploy to happen while the call talks.
TALK_MS = "6000"
GUARDED = (NextOutboundCallWorkflow, NextCampaignWorkflow, NextCallSlotsWorkflow)
UNGUARDED = (UnguardedOutboundCallWorkflow, UnguardedCampaignWorkflow, UnguardedCallSlotsWorkflow)
# The workflow types this change leaves alone.
UNCHANGED = tuple(
    w for w in WORKFLOWS if w not in (OutboundCallWorkflow, CampaignWorkflow, CallSlotsWorkflow)
)
NEXT_WORKFLOWS = (*GUARDED, *UNCHANGED)
NON_DETERMINISTIC = "WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR"


@dataclass(frozen=True)
class Deployment:
    client: Client
    sim: SimulatorAdmin
    queue: str
    dnc: SqliteDoNotCallList


@contextlib.asynccontextmanager
async def _deployment(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Deployment]:
    client = env.client
    bridge_app = create_app(BridgeSettings(retell_api_key=SIM_KEY), client=client)
    async with serve_asgi_app(bridge_app) as bridge:
        settings = SimulatorSettings(
            simulator_time_scale=0.2, simulator_webhook_url=f"{bridge.base_url}/webhooks/retell"
        )
        async with running_simulator(settings) as running:
            sim = SimulatorAdmin(running.base_url)
            try:
                yield Deployment(
                    client,
                    sim,
                    f"deploy-{tmp_path.name[-8:]}",
                    SqliteDoNotCallList(tmp_path / "dnc.sqlite3"),
                )
            finally:
                await sim.aclose()


def _build(deployment: Deployment, **build: Any) -> contextlib.AbstractAsyncContextManager[str]:
    """One build's worker on the deployment's queue; it drains for 5 s when it stops."""
    return call_worker(
        deployment.client,
        deployment.sim.base_url,
        temporal_task_queue=deployment.queue,
        do_not_call=deployment.dnc,
        max_concurrent_calls=CAP,
        worker_graceful_shutdown_s=5,
        **build,
    )


def _contacts(path: Path) -> Path:
    rows = ["to_number,dedupe_key,metadata.simulator_scenario"]
    rows += [f"+1212555{400 + n:04d},deploy-contact-{n},answered" for n in range(CONTACTS)]
    path.write_text("\n".join(rows) + "\n")
    return path


async def _history_events(handle: WorkflowHandle[Any, Any]) -> list[dict[str, Any]]:
    history = await handle.fetch_history()
    events: list[dict[str, Any]] = json.loads(history.to_json())["events"]
    return events


async def _memo_build(client: Client, workflow_id: str, run_id: str | None = None) -> Any:
    described = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    return (await described.memo()).get(BUILD_MEMO)


async def _replay_failures(
    workflows: Sequence[type], histories: Sequence[WorkflowHistory]
) -> dict[str, str]:
    replayer = replayer_for(workflows)
    failures: dict[str, str] = {}
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[history.workflow_id] = type(result.replay_failure).__name__
    return failures


async def test_a_rolling_deploy_finishes_every_run_started_on_the_old_build(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with _deployment(dev_env, tmp_path) as deployment:
        client = deployment.client
        old_build = contextlib.AsyncExitStack()
        await old_build.enter_async_context(_build(deployment, close_pools=False))

        # On the 1.0 build: one call dials, finds nobody and waits to redial; three take the
        # cap's slots and talk on; the campaign's calls queue for a slot behind them.
        redial = await start_call(
            client,
            call_request(
                "answered",
                dedupe_key="deploy-redial",
                to_number="+12125550390",
                timeouts=QUICK,
                metadata={"simulator_scenario": "no_answer,answered"},
                redial={"max_attempts": 2, "initial_delay_s": 8},
            ),
            task_queue=deployment.queue,
        )
        talking = [
            await start_call(
                client,
                call_request(
                    "answered",
                    dedupe_key=f"deploy-talk-{n}",
                    to_number=f"+1212555{300 + n:04d}",
                    timeouts=QUICK,
                    metadata={"simulator_scenario": "answered", "simulator_talk_ms": TALK_MS},
                ),
                task_queue=deployment.queue,
            )
            for n in range(3)
        ]
        campaign = await start_campaign(
            client,
            CampaignRequest(
                campaign_id=f"deploy-{deployment.queue}",
                contacts=ContactSource(
                    location=str(_contacts(tmp_path / "contacts.csv")),
                    template=CallTemplate(
                        from_number="+12125550199",
                        agent_id="agent_deploy",
                        timeouts=QUICK,
                        calling_window=CallingWindow(enabled=False),
                    ),
                ),
                max_in_flight=2,
                calls_per_run=2,
                page_size=3,
                reconcile_every_s=5,
            ),
            task_queue=deployment.queue,
        )
        pool = client.get_workflow_handle(slots_workflow_id(deployment.queue))

        async def mid_flight() -> bool:
            phases = [(await snapshot(h)).phase for h in (*talking, redial)]
            slots: SlotsSnapshot = await pool.query(CallSlotsWorkflow.slots)
            progress: CampaignSnapshot = await campaign.query(CampaignWorkflow.progress)
            return (
                phases == ["in_call", "in_call", "in_call", "waiting_to_redial"]
                and len(slots.waiting) >= 1
                and progress.started >= 1
            )

        await eventually(mid_flight, timeout_s=60, what="calls, campaign and pool mid-flight")
        # The latest run of each (the campaign may have continued as new already).
        open_at_deploy = [
            client.get_workflow_handle(h.id) for h in (*talking, redial, campaign, pool)
        ]
        histories_at_deploy = [await h.fetch_history() for h in open_at_deploy]
        runs_at_deploy = [(await h.describe()).run_id for h in open_at_deploy]

        # The deploy: the next build starts beside the old one, then the old one drains.
        async with _build(
            deployment,
            workflows=NEXT_WORKFLOWS,
            pool_workflow=NextCallSlotsWorkflow,
            worker_build_id=NEXT_BUILD,
        ):
            await old_build.aclose()
            # Still open when the old build is gone: the next build finishes them.
            for handle, run_id in zip(open_at_deploy, runs_at_deploy, strict=True):
                described = await client.get_workflow_handle(handle.id, run_id=run_id).describe()
                assert described.status == WorkflowExecutionStatus.RUNNING, handle.id

            outcomes: list[CallOutcome] = [
                await asyncio.wait_for(h.result(), 120) for h in (*talking, redial)
            ]
            summary: CampaignSummary = await asyncio.wait_for(campaign.result(), 180)

            async def pool_closed() -> bool:
                return (await pool.describe()).status == WorkflowExecutionStatus.COMPLETED

            await eventually(pool_closed, timeout_s=60, what="the slot pool to close when idle")
            # After the deploy: a call, and the fresh pool run it starts, take the new path.
            after = await start_call(
                client,
                call_request("answered", dedupe_key="deploy-after", to_number="+12125550391"),
                task_queue=deployment.queue,
            )
            after_outcome: CallOutcome = await asyncio.wait_for(after.result(), 60)

        assert [o.status for o in outcomes] == [OutcomeStatus.COMPLETED] * 4
        assert [a.status for a in outcomes[3].attempts] == [
            OutcomeStatus.NO_ANSWER,
            OutcomeStatus.COMPLETED,
        ]
        assert summary.finished == CONTACTS
        assert summary.counts == {OutcomeStatus.COMPLETED: CONTACTS}
        assert summary.runs > 1  # it continued as new across the deploy
        assert after_outcome.status == OutcomeStatus.COMPLETED

        # Runs open at the deploy kept the 1.0 path; runs started on the next build took the
        # new one (the campaign's later runs, the fresh pool run, the call after the deploy).
        for handle in (*talking, redial):
            assert await _memo_build(client, handle.id) is None, handle.id
        assert await _memo_build(client, campaign.id, runs_at_deploy[4]) is None
        assert await _memo_build(client, campaign.id) == NEXT_BUILD
        assert await _memo_build(client, after.id) == NEXT_BUILD
        assert (await pool.describe()).run_id != runs_at_deploy[5]
        assert await _memo_build(client, pool.id) == NEXT_BUILD

        # Each run open at the deploy began on the old build and was finished by the next,
        # and none of its workflow tasks failed as non-deterministic there.
        for handle, run_id in zip(open_at_deploy, runs_at_deploy, strict=True):
            events = await _history_events(client.get_workflow_handle(handle.id, run_id=run_id))
            builds = task_builds(events)
            assert builds[0] == PRODUCT_VERSION, handle.id
            assert builds[-1] == NEXT_BUILD, handle.id
            causes = [e.get("workflowTaskFailedEventAttributes", {}).get("cause") for e in events]
            assert NON_DETERMINISTIC not in causes, handle.id
        assert set(task_builds(await _history_events(after))) == {NEXT_BUILD}

        async def nothing_live() -> bool:
            return all(
                c["call_status"] not in {"registered", "ongoing"}
                for c in await deployment.sim.calls()
            )

        await eventually(nothing_live, timeout_s=30, what="no call left live at the simulator")

    # The same change without the patch: every run open at the deploy fails to replay.
    unguarded = await _replay_failures([*UNGUARDED, *UNCHANGED], histories_at_deploy)
    assert unguarded == {h.workflow_id: NondeterminismError.__name__ for h in histories_at_deploy}
    assert await _replay_failures(NEXT_WORKFLOWS, histories_at_deploy) == {}
