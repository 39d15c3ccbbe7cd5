"""Record real histories of CampaignWorkflow (every run, across continue-as-new) and of the
slot pool, into ``tests/histories/<release>/campaign/`` (``make histories`` runs it too).

A campaign of a contacts file with a bad row, calls still open when each run continues as new,
paused and resumed once, on the dev server with the simulator and the bridge; the slot pool's
runs of the same task queue are recorded beside it. tests/workflow/test_replay.py replays them all.

``python -m tests.histories.record_campaign``
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client.campaign import CampaignRequest, CampaignSnapshot, CampaignSummary
from outbound_calls_client.contacts import CallTemplate, ContactSource
from outbound_calls_client.models import CallingWindow, CallTimeouts
from outbound_calls_client.names import CAMPAIGN_WORKFLOW, SLOTS_WORKFLOW
from outbound_calls_client.search_attributes import ALL_SEARCH_ATTRIBUTES
from outbound_calls_client.start import start_campaign
from stack.binaries import server_binary
from tests.helpers.call_harness import eventually, live_stack
from tests.histories.record import RELEASE, recorded_runs, save_runs
from workflows.campaign import CampaignWorkflow

HERE = Path(__file__).resolve().parent
OUT = HERE / RELEASE / "campaign"
CAMPAIGN_ID = "history-campaign"
# The workflow types recorded here (the calls' own histories are recorded by record.py).
RECORDED_TYPES = (CAMPAIGN_WORKFLOW, SLOTS_WORKFLOW)
QUICK = CallTimeouts(ring_timeout_s=2, poll_interval_s=1, analysis_timeout_s=2, max_duration_s=6)


def _contacts(path: Path) -> None:
    rows = ["to_number,dedupe_key,customer_name,metadata.simulator_scenario"]
    scenarios = ["answered", "no_answer", "busy", "answered"]
    for n in range(12):
        rows.append(f"+1212555{300 + n:04d},history-campaign-{n},Ada {n},{scenarios[n % 4]}")
    rows.append("not-a-number,history-campaign-bad,Bad,answered")  # reported by its line
    path.write_text("\n".join(rows) + "\n")


async def record() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=server_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    async with env, live_stack(env.client) as stack:
        with tempfile.TemporaryDirectory() as tmp:
            contacts = Path(tmp) / "contacts.csv"
            _contacts(contacts)
            template = CallTemplate(
                from_number="+12125550199",
                agent_id="agent_history",
                timeouts=QUICK,
                calling_window=CallingWindow(enabled=False),
            )
            request = CampaignRequest(
                campaign_id=CAMPAIGN_ID,
                contacts=ContactSource(location=str(contacts), template=template),
                max_in_flight=3,
                calls_per_run=4,
                page_size=5,
                reconcile_every_s=5,
            )
            handle = await start_campaign(env.client, request, task_queue=stack.task_queue)

            async def some_started() -> bool:
                snap: CampaignSnapshot = await handle.query(CampaignWorkflow.progress)
                return snap.started >= 3

            await eventually(some_started, timeout_s=60, what="calls to start")
            await handle.execute_update(CampaignWorkflow.pause, "history pause")
            await asyncio.sleep(1)
            await handle.execute_update(CampaignWorkflow.resume)
            summary: CampaignSummary = await asyncio.wait_for(handle.result(), 180)
            await asyncio.sleep(3)  # let the slot pool close once idle
            written = await save_runs(env.client, stack.task_queue, RECORDED_TYPES, OUT)
    print(f"{OUT.relative_to(HERE)}: {summary.counts} in {summary.runs} runs")
    print("\n".join(written))


def recorded(release: str = "*") -> list[tuple[str, Path]]:
    """(workflow id, file) of every recorded campaign and slot-pool history."""
    return recorded_runs("campaign", release)


if __name__ == "__main__":
    asyncio.run(record())
