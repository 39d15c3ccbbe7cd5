"""Campaigns from a contacts file on the dev server, every part real: simulator → bridge →
Temporal → worker in this process, the CLI as a subprocess.

Calls end by webhook (the simulator's fast time scale), so a campaign of thousands of rows
runs in real time within a minute or two on this machine.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from calls.contacts_file import PAGE_BUDGET_BYTES
from calls.slots import slots_workflow_id
from outbound_calls_client import bounds
from outbound_calls_client.call_ids import campaign_row_call_id
from outbound_calls_client.campaign import (
    CampaignRequest,
    CampaignSnapshot,
    CampaignSummary,
    campaign_workflow_id,
)
from outbound_calls_client.contacts import CallTemplate, ContactSource
from outbound_calls_client.models import CallingWindow, OutcomeStatus
from outbound_calls_client.names import SCENARIO_METADATA_KEY, WORKFLOW_ID_METADATA_KEY
from outbound_calls_client.start import start_call, start_campaign
from tests.helpers.call_harness import LiveStack, call_request, eventually, live_stack
from tests.helpers.cli_runner import cli_env, run_cli
from tests.integration.test_call_slots import max_open_calls
from workflows.call_slots import CallSlotsWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.outbound_call import OutboundCallWorkflow

pytestmark = pytest.mark.integration

Handle = WorkflowHandle[Any, CampaignSummary]
FROM = "+12125550199"
CAP = 20  # MAX_CONCURRENT_CALLS of the test worker (call_worker's default)
# The big one: 150 rows in CI (about 15 s here: 2 shared cores, the whole stack in one
# process), still three runs with calls open at each continue-as-new; `make load` runs it at
# 3,000 (CAMPAIGN_ROWS), bench/campaign_file.py at 10,000 and more.
BIG_ROWS = int(os.environ.get("CAMPAIGN_ROWS", "150"))
BIG_IN_FLIGHT = 20
BIG_PER_RUN = 50
BAD_LINES = (17, 80, 149)  # lines (1 = header) whose number is broken
LIVE = {"registered", "ongoing"}


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client, time_scale=0.002) as running:
        yield running


def _number(i: int) -> str:
    return f"+1415555{i % 10000:04d}"


def _write_csv(
    path: Path,
    rows: int,
    scenario: str = "answered",
    bad: tuple[int, ...] = (),
    talk_ms: int | None = None,
) -> None:
    talk = ["metadata.simulator_talk_ms"] if talk_ms is not None else []
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["to_number", "customer_name", "metadata.simulator_scenario", *talk])
        for line in range(2, rows + 2):
            number = "+1415" if line in bad else _number(line)
            writer.writerow([number, f"Ada {line}", scenario, *([str(talk_ms)] if talk else [])])


def _campaign(path: Path, **overrides: Any) -> CampaignRequest:
    fields: dict[str, Any] = {
        "campaign_id": f"file-{uuid.uuid4().hex[:8]}",
        "contacts": ContactSource(
            location=str(path),
            template=CallTemplate(
                from_number=FROM, agent_id="agent_test", calling_window=CallingWindow(enabled=False)
            ),
        ),
        "max_in_flight": 4,
    }
    fields.update(overrides)
    return CampaignRequest(**fields)


async def _live(stack: LiveStack) -> list[dict[str, Any]]:
    return [c for c in await stack.sim.calls() if c["call_status"] in LIVE]


async def _nothing_live(stack: LiveStack) -> None:
    async def probe() -> bool:
        return not await _live(stack)

    await eventually(probe, timeout_s=30, what="no call live at the simulator")


async def _continued_with_calls_open(env: WorkflowEnvironment, handle: Handle) -> list[int]:
    """For each continue-as-new of the campaign, how many calls it carried open."""
    carried: list[int] = []
    run_id: str | None = handle.first_execution_run_id or handle.result_run_id
    while run_id:
        events = [
            e
            async for e in env.client.get_workflow_handle(
                handle.id, run_id=run_id
            ).fetch_history_events()
        ]
        last = events[-1]
        run_id = None
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            attrs = last.workflow_execution_continued_as_new_event_attributes
            request = json.loads(attrs.input.payloads[0].data)
            carried.append(len(request["progress"]["in_flight"]))
            run_id = attrs.new_execution_run_id
    return carried


async def test_a_large_csv_through_the_cli(
    dev_env: WorkflowEnvironment, stack: LiveStack, tmp_path: Path
) -> None:
    contacts = tmp_path / "contacts.csv"
    _write_csv(contacts, BIG_ROWS, bad=BAD_LINES)
    env = cli_env(
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        TEMPORAL_TASK_QUEUE=stack.task_queue,
    )
    campaign_id = f"big-{uuid.uuid4().hex[:8]}"
    # The CLI has no --calls-per-run: a first start from the library sets it, and the CLI's
    # start (the same id) attaches to that campaign, as a repeated start does.
    request = _campaign(
        contacts, campaign_id=campaign_id, max_in_flight=BIG_IN_FLIGHT, calls_per_run=BIG_PER_RUN
    )
    handle = await start_campaign(dev_env.client, request, task_queue=stack.task_queue)
    started = await run_cli(
        "campaign", "start", campaign_id, "--contacts", str(contacts), "--from", FROM,
        "--agent-id", "agent_test", "--no-calling-window", "--wait", "-o", "json",
        env=env, cwd=tmp_path, timeout_s=max(300, BIG_ROWS // 2),
    )  # fmt: skip
    assert started.code == 0, started.err
    shown = json.loads(started.out)
    good = BIG_ROWS - len(BAD_LINES)
    assert shown.pop("reached") == good  # the CLI's figure, beside the summary's fields
    summary = CampaignSummary.model_validate(shown)
    assert (summary.total, summary.invalid_rows, summary.finished) == (BIG_ROWS, 3, good)
    assert summary.counts == {OutcomeStatus.COMPLETED: good}
    assert [b.row for b in summary.bad_rows] == list(BAD_LINES)
    assert {(b.field, b.rule) for b in summary.bad_rows} == {("to_number", "e164")}

    # One call per good row at the simulator, under the row's id; the cap held.
    dialed = Counter(c["metadata"][WORKFLOW_ID_METADATA_KEY] for c in await stack.sim.calls())
    good_lines = [line for line in range(2, BIG_ROWS + 2) if line not in BAD_LINES]
    assert dialed == Counter(campaign_row_call_id(campaign_id, line) for line in good_lines)
    assert await max_open_calls(stack.sim) <= CAP
    # Runs continued as new with calls still open (not drained).
    carried = await _continued_with_calls_open(dev_env, handle)
    assert len([n for n in carried if n > 0]) >= 2, carried

    out = tmp_path / "results.csv"
    exported = await run_cli(
        "campaign", "results", campaign_id, "--out", str(out), env=env, cwd=tmp_path, timeout_s=300
    )
    assert exported.code == 0, exported.err
    with out.open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == BIG_ROWS
    assert [int(r["row"]) for r in rows] == list(range(2, BIG_ROWS + 2))
    by_status = Counter(r["status"] for r in rows)
    assert by_status == {"completed": good, "invalid_row": 3}
    answered = next(r for r in rows if r["status"] == "completed")
    assert answered["call_id"].startswith("call_")
    assert answered["attempts"] == "1"
    assert answered["disconnection_reason"] == "user_hangup"
    assert answered["to_number_masked"].startswith("+1")
    assert "*" in answered["to_number_masked"]
    assert answered["started_at"]
    assert answered["ended_at"]


async def test_bad_rows_by_line_and_strict_refuses(
    dev_env: WorkflowEnvironment, stack: LiveStack, tmp_path: Path
) -> None:
    contacts = tmp_path / "contacts.csv"
    dup = f"dup-{uuid.uuid4().hex[:6]}"
    contacts.write_text(
        "to_number,dedupe_key,name\n"
        f"{_number(1)},k-{uuid.uuid4().hex[:6]}-a,Ada\n"  # line 2: good
        "+99912,,Bob\n"  # line 3: not a number
        f"{_number(2)},{dup},Cy\n"
        f"{_number(3)},{dup},Di\n"  # line 5: same key as line 4
        f"{_number(4)}\n"  # line 6: missing columns
        ",,Ed\n"  # line 7: no number
    )
    request = _campaign(contacts)
    handle = await start_campaign(dev_env.client, request, task_queue=stack.task_queue)
    summary = await handle.result()
    assert (summary.total, summary.invalid_rows, summary.finished) == (6, 4, 2)
    assert [(b.row, b.field, b.rule) for b in summary.bad_rows] == [
        (3, "to_number", "e164"),
        (5, "dedupe_key", "unique"),
        (6, "dedupe_key", "missing"),
        (7, "to_number", "required"),
    ]

    assert request.contacts is not None
    strict = _campaign(contacts, contacts=request.contacts.model_copy(update={"strict": True}))
    handle = await start_campaign(dev_env.client, strict, task_queue=stack.task_queue)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    message = str(failed.value.cause)
    assert "strict mode: 4 bad row(s)" in message
    assert "row 3 to_number (e164)" in message
    assert "row 7 to_number (required)" in message


def _write_largest_rows(path: Path, rows: int) -> None:
    """Rows whose metadata and dynamic variables are each within a few bytes of their caps:
    the largest contacts a CSV row can make (~41 kB as a call request)."""
    metadata = {SCENARIO_METADATA_KEY: "answered", "pad": ""}
    meta_pad = bounds.MAX_METADATA_BYTES - bounds.json_bytes(metadata)
    note_pad = bounds.MAX_DYNAMIC_VARIABLES_BYTES - bounds.json_bytes({"note": ""})
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["to_number", f"metadata.{SCENARIO_METADATA_KEY}", "metadata.pad", "note"])
        for line in range(2, rows + 2):
            writer.writerow([_number(line), "answered", "m" * meta_pad, "v" * note_pad])


async def _page_payload_sizes(env: WorkflowEnvironment, handle: Handle) -> list[int]:
    """The bytes of every contacts page the campaign's runs received, from their histories."""
    sizes: list[int] = []
    run_id: str | None = handle.first_execution_run_id or handle.result_run_id
    while run_id:
        names: dict[int, str] = {}
        run = env.client.get_workflow_handle(handle.id, run_id=run_id)
        run_id = None
        async for event in run.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                names[event.event_id] = attrs.activity_type.name
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                done = event.activity_task_completed_event_attributes
                if names[done.scheduled_event_id] == "read_contacts_page":
                    sizes.append(len(done.result.payloads[0].data))
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                run_id = (
                    event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                )
    return sizes


async def test_pages_of_the_largest_rows_stay_within_the_page_budget(
    dev_env: WorkflowEnvironment, stack: LiveStack, tmp_path: Path
) -> None:
    # 60 rows of ~41 kB: one page of them all would be ~2.5 MB, past Temporal's 2 MB.
    rows = 60
    contacts = tmp_path / "largest.csv"
    _write_largest_rows(contacts, rows)
    request = _campaign(contacts, page_size=1000, max_in_flight=10)
    handle = await start_campaign(dev_env.client, request, task_queue=stack.task_queue)
    summary = await asyncio.wait_for(handle.result(), 120)
    assert (summary.total, summary.invalid_rows) == (rows, 0)
    assert summary.counts == {OutcomeStatus.COMPLETED: rows}
    sizes = await _page_payload_sizes(dev_env, handle)
    assert len(sizes) >= 3, sizes
    assert max(sizes) <= PAGE_BUDGET_BYTES, sizes
    # Every row called once, under its row's id.
    dialed = Counter(c["metadata"][WORKFLOW_ID_METADATA_KEY] for c in await stack.sim.calls())
    campaign_id = request.campaign_id
    assert dialed == Counter(campaign_row_call_id(campaign_id, line) for line in range(2, rows + 2))


async def _two_talking(stack: LiveStack, what: str) -> None:
    async def two_talking() -> bool:
        return len(await _live(stack)) == 2

    await eventually(two_talking, timeout_s=30, what=what)


async def _two_talking_of_four(
    dev_env: WorkflowEnvironment, stack: LiveStack, contacts: Path
) -> Handle:
    """A campaign of four calls that never end by themselves, two pages of two, its first
    page talking: the next page is read only when a call ends."""
    _write_csv(contacts, 4, scenario="hangs_ongoing")
    request = _campaign(contacts, max_in_flight=2, page_size=2)
    handle = await start_campaign(dev_env.client, request, task_queue=stack.task_queue)
    await _two_talking(stack, "two calls talking")
    return handle


async def test_a_file_changed_after_the_start_is_refused(
    dev_env: WorkflowEnvironment, stack: LiveStack, tmp_path: Path
) -> None:
    contacts = tmp_path / "contacts.csv"
    handle = await _two_talking_of_four(dev_env, stack, contacts)
    with contacts.open("a") as out:
        out.write(f"{_number(99)},Eve,answered\n")
    await _cancel_live_calls(dev_env, stack)  # the next page is read when a call ends
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 60)
    message = str(failed.value.cause)
    assert f"contacts file {contacts} changed since the campaign started" in message
    assert len(await stack.sim.calls()) == 2  # nothing dialed from the changed file


async def test_a_file_out_of_reach_for_a_while_is_read_again(
    dev_env: WorkflowEnvironment, stack: LiveStack, tmp_path: Path
) -> None:
    """Readable at the start, then gone for a moment (a mount's hiccup, a worker out of
    step): the page read is retried and the campaign goes on, rather than failing."""
    contacts = tmp_path / "contacts.csv"
    handle = await _two_talking_of_four(dev_env, stack, contacts)
    away = contacts.rename(tmp_path / "away.csv")
    await _cancel_live_calls(dev_env, stack)  # the next page is read when a call ends

    async def page_read_failed() -> bool:
        described = await handle.describe()
        pending = described.raw_description.pending_activities
        return any(a.activity_type.name == "read_contacts_page" and a.attempt > 1 for a in pending)

    await eventually(page_read_failed, timeout_s=30, what="a failed page read being retried")
    away.rename(contacts)
    await _two_talking(stack, "the second page's calls talking")
    await _cancel_live_calls(dev_env, stack)
    summary = await asyncio.wait_for(handle.result(), 60)
    assert (summary.total, summary.finished) == (4, 4)
    assert summary.counts == {OutcomeStatus.CANCELED: 4}
    assert len(await stack.sim.calls()) == 4


async def _cancel_live_calls(dev_env: WorkflowEnvironment, stack: LiveStack) -> None:
    for call in await _live(stack):
        wid = call["metadata"][WORKFLOW_ID_METADATA_KEY]
        await dev_env.client.get_workflow_handle(wid).execute_update(
            OutboundCallWorkflow.cancel, "test"
        )


async def _snapshot(handle: Handle) -> CampaignSnapshot:
    snapshot: CampaignSnapshot = await handle.query(CampaignWorkflow.progress)
    return snapshot


async def test_pause_resume_and_cancel_in_the_middle(
    dev_env: WorkflowEnvironment, stack: LiveStack, tmp_path: Path
) -> None:
    contacts = tmp_path / "contacts.csv"
    _write_csv(contacts, 600, scenario="hangs_ongoing")
    request = _campaign(contacts, max_in_flight=10, page_size=50, calls_per_run=25)
    handle = await start_campaign(dev_env.client, request, task_queue=stack.task_queue)

    async def in_flight(count: int) -> bool:
        return (await _snapshot(handle)).in_flight == count and len(await _live(stack)) == count

    await eventually(lambda: in_flight(10), timeout_s=30, what="10 calls open")
    await handle.execute_update(CampaignWorkflow.pause, "test")
    # Paused: ending the open calls starts no new ones.
    for call in await _live(stack):
        wid = call["metadata"][WORKFLOW_ID_METADATA_KEY]
        await dev_env.client.get_workflow_handle(wid).execute_update(
            OutboundCallWorkflow.cancel, "test"
        )
    await eventually(lambda: in_flight(0), timeout_s=30, what="the open calls to be counted")
    paused = await _snapshot(handle)
    assert (paused.started, paused.finished, paused.paused) == (10, 10, True)
    assert len(await stack.sim.calls()) == 10

    await handle.execute_update(CampaignWorkflow.resume)
    await eventually(lambda: in_flight(10), timeout_s=30, what="10 calls open again")
    summary = await handle.execute_update(CampaignWorkflow.cancel, "test")
    assert summary.canceled
    assert summary.counts == {OutcomeStatus.CANCELED: 20}
    assert summary.finished + summary.skipped == 600
    assert len(await stack.sim.calls()) == 20
    await _nothing_live(stack)


async def test_a_single_call_gets_a_slot_during_a_saturated_campaign(
    dev_env: WorkflowEnvironment, stack: LiveStack, tmp_path: Path
) -> None:
    contacts = tmp_path / "contacts.csv"
    _write_csv(contacts, 60, talk_ms=6000)
    request = _campaign(contacts, max_in_flight=40)
    handle = await start_campaign(dev_env.client, request, task_queue=stack.task_queue)
    pool = dev_env.client.get_workflow_handle(slots_workflow_id(stack.task_queue))
    queued_before: set[str] = set()

    async def saturated() -> bool:
        try:
            slots = await pool.query(CallSlotsWorkflow.slots)
        except RPCError:  # the pool starts with the first request
            return False
        queued_before.clear()
        queued_before.update(slots.waiting)
        return len(slots.waiting) == 40 - len(slots.holders) > 0 and len(await _live(stack)) > 0

    await eventually(saturated, timeout_s=30, what="campaign calls waiting for slots")
    single = await start_call(dev_env.client, call_request("answered"), task_queue=stack.task_queue)
    outcome = await asyncio.wait_for(single.result(), 60)
    assert outcome.status == OutcomeStatus.COMPLETED
    # Fair share: the single call did not wait behind every campaign call queued before it.
    created = {
        r["call_id"]: r["received_ms"] for r in await stack.sim.requests("/create-phone-call")
    }
    owner = {
        c["call_id"]: c["metadata"].get(WORKFLOW_ID_METADATA_KEY) for c in await stack.sim.calls()
    }
    single_at = created[outcome.call_id or ""]
    # Strict FIFO would create every call queued before it first (a whole round earlier);
    # a round's creates race each other, so the single call only has to be in an earlier one.
    ahead = [
        cid for cid, at in created.items() if owner.get(cid) in queued_before and at < single_at
    ]
    assert len(ahead) < len(queued_before), "the single call waited behind the whole queue"
    await handle.execute_update(CampaignWorkflow.cancel, "test")
    await _nothing_live(stack)
    assert await max_open_calls(stack.sim) <= CAP
    await dev_env.client.get_workflow_handle(campaign_workflow_id(request.campaign_id)).result()
