"""Campaigns and the people they reach, on the dev server with every part real (simulator →
bridge → Temporal → worker in this process, the CLI as a subprocess): a campaign started
``--from-pool`` dials each contact from the pool's local number, a row's own caller ID wins,
the results CSV names the number each call dialed from; a contact who calls back counts as
reached."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.caller_ids import SqliteCallerIdStore
from calls.returned_call import number_hash
from outbound_calls_client import search_attributes as sa
from outbound_calls_client.call_ids import campaign_row_call_id
from outbound_calls_client.campaign import CampaignRequest
from outbound_calls_client.contacts import CallTemplate, ContactSource
from outbound_calls_client.models import CallingWindow, OutcomeStatus, RedialPolicy
from outbound_calls_client.names import CALL_WORKFLOW
from outbound_calls_client.start import start_campaign
from tests.helpers.call_harness import (
    FROM_NUMBER,
    SIM_KEY,
    LiveStack,
    eventually,
    live_stack,
    snapshot,
)
from tests.helpers.cli_runner import cli_env, run_cli

pytestmark = pytest.mark.integration

# Ours, in the pool "sales", one per area code: San Francisco, New York, Chicago.
LOCAL = {"415": "+14155550100", "212": "+12125550100", "312": "+13125550100"}
BOSTON = "+16175550100"  # alone in the pool "vip"
OWN = "+19175550100"  # in no pool: a row's own from_number


@pytest.fixture
async def store(tmp_path: Path) -> SqliteCallerIdStore:
    pools = SqliteCallerIdStore(tmp_path / "pools.sqlite3")
    for number in LOCAL.values():
        await pools.add(number, "sales", None)
    await pools.add(BOSTON, "vip", None)
    return pools


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment, store: SqliteCallerIdStore
) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client, time_scale=0.002, caller_ids=store) as running:
        yield running


def _cli_env(dev_env: WorkflowEnvironment, stack: LiveStack) -> dict[str, str]:
    return cli_env(
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        TEMPORAL_TASK_QUEUE=stack.task_queue,
    )


async def test_a_campaign_from_a_pool_dials_local_numbers_and_the_csv_names_them(
    dev_env: WorkflowEnvironment, stack: LiveStack, tmp_path: Path
) -> None:
    # Callees by line: three area codes from the pool; one row naming another pool, one its
    # own number (both in San Francisco, where "sales" has a local number they must not get).
    callees = {
        2: ("+14155550177", "", ""),
        3: ("+12125550177", "", ""),
        4: ("+13125550177", "", ""),
        5: ("+14155550178", "vip", ""),
        6: ("+14155550179", "", OWN),
    }
    expected = {2: LOCAL["415"], 3: LOCAL["212"], 4: LOCAL["312"], 5: BOSTON, 6: OWN}
    contacts = tmp_path / "contacts.csv"
    with contacts.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["to_number", "caller_id_pool", "from_number"])
        for callee, pool, own in callees.values():
            writer.writerow([callee, pool, own])
    env = _cli_env(dev_env, stack)
    campaign_id = f"pool-{uuid.uuid4().hex[:8]}"
    started = await run_cli(
        "campaign", "start", campaign_id, "--contacts", str(contacts), "--from-pool", "sales",
        "--agent-id", "agent_test", "--no-calling-window", "--wait", "-o", "json",
        env=env, cwd=tmp_path, timeout_s=180,
    )  # fmt: skip
    assert started.code == 0, started.err
    summary = json.loads(started.out)
    assert summary["counts"] == {"completed": 5}
    assert summary["reached"] == 5

    # What the simulator was asked to dial from, per callee.
    dialed = {c["to_number"]: c["from_number"] for c in await stack.sim.calls()}
    assert dialed == {callees[line][0]: number for line, number in expected.items()}

    running = (
        f'WorkflowType = "{CALL_WORKFLOW}" AND CampaignId = "{campaign_id}"'
        ' AND ExecutionStatus = "Running"'
    )

    async def closed() -> bool:
        return (await dev_env.client.count_workflows(running)).count == 0

    await eventually(closed, timeout_s=30, what="the campaign's calls to close")
    results = tmp_path / "results.csv"
    exported = await run_cli(
        "campaign", "results", campaign_id, "--out", str(results), env=env, cwd=tmp_path
    )
    assert exported.code == 0, exported.err
    assert "reached 5 of 5 finished" in exported.err
    with results.open(newline="") as stream:
        reader = csv.DictReader(stream)
        assert reader.fieldnames is not None
        assert reader.fieldnames[-1] == "from_number"  # appended: positions before it kept
        rows = {int(r["row"]): r for r in reader}
    assert {line: r["from_number"] for line, r in rows.items()} == expected
    assert {r["status"] for r in rows.values()} == {"completed"}


async def test_a_campaign_start_names_one_caller_id(tmp_path: Path) -> None:
    """Refused before anything connects (no server here), in the words of a call's start."""
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("to_number\n+14155550177\n")
    env = cli_env(TEMPORAL_ADDRESS="127.0.0.1:9")
    for caller_id in ([], ["--from", FROM_NUMBER, "--from-pool", "sales"]):
        refused = await run_cli(
            "campaign", "start", "refused", "--contacts", str(contacts), *caller_id,
            "--agent-id", "agent_test", env=env, cwd=tmp_path,
        )  # fmt: skip
        assert refused.code == 2, refused.err
        assert "give from_number or caller_id_pool, exactly one (rule: one_caller_id)" in (
            refused.err
        )


async def test_a_contact_who_calls_back_counts_as_reached(
    dev_env: WorkflowEnvironment, stack: LiveStack, tmp_path: Path
) -> None:
    client = dev_env.client
    missed = f"+1646555{uuid.uuid4().int % 10_000:04d}"
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "to_number,metadata.simulator_scenario\n"
        f"+1415555{uuid.uuid4().int % 10_000:04d},answered\n"  # line 2
        f"{missed},no_answer\n"  # line 3: missed, then calls back
        f"+1415555{uuid.uuid4().int % 10_000:04d},busy\n"  # line 4: not reached
    )
    campaign_id = f"back-{uuid.uuid4().hex[:8]}"
    request = CampaignRequest(
        campaign_id=campaign_id,
        contacts=ContactSource(
            location=str(contacts),
            template=CallTemplate(
                from_number=FROM_NUMBER,
                agent_id="agent_test",
                calling_window=CallingWindow(enabled=False),
                # Long enough that the call waits for its redial when the person calls back;
                # busy is not redialed.
                redial=RedialPolicy(
                    max_attempts=2,
                    initial_delay_s=120,
                    retry_on=frozenset({OutcomeStatus.NO_ANSWER}),
                ),
            ),
        ),
    )
    handle = await start_campaign(client, request, task_queue=stack.task_queue)
    call = client.get_workflow_handle(campaign_row_call_id(campaign_id, 3))

    async def waiting() -> bool | None:
        try:
            return (await snapshot(call)).phase == "waiting_to_redial" or None
        except RPCError:  # not started yet
            return None

    await eventually(waiting, timeout_s=60, what="the missed call to wait for its redial")
    query = f'{sa.TO_NUMBER_HASH.name} = "{number_hash(SIM_KEY, missed)}"'

    async def indexed() -> bool:
        return (await client.count_workflows(query)).count > 0

    await eventually(indexed, timeout_s=30, what="visibility to index ToNumberHash")
    async with httpx.AsyncClient(base_url=stack.sim.base_url, timeout=15) as http:
        called_back = await http.post(
            "/_sim/inbound-call", json={"from_number": missed, "to_number": FROM_NUMBER}
        )
    assert called_back.status_code == 201, called_back.text

    summary = await handle.result()
    assert summary.counts == {
        OutcomeStatus.COMPLETED: 1,
        OutcomeStatus.RETURNED_CALL: 1,
        OutcomeStatus.BUSY: 1,
    }
    env = _cli_env(dev_env, stack)
    status = await run_cli("campaign", "status", campaign_id, "-o", "json", env=env, cwd=tmp_path)
    assert status.code == 0, status.err
    shown = json.loads(status.out)
    assert shown["reached"] == 2
    assert shown["counts"] == {"busy": 1, "completed": 1, "returned_call": 1}
    table = await run_cli("campaign", "status", campaign_id, "-o", "csv", env=env, cwd=tmp_path)
    assert table.code == 0, table.err
    (row,) = csv.DictReader(table.out.splitlines())
    assert row["reached"] == "2"
