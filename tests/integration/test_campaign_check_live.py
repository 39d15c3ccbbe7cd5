"""``campaign check`` against what the campaign then does, on the dev server with every part
real (simulator → bridge → Temporal → a worker in this process, the CLI as a subprocess):
the worker and the CLI share one DO_NOT_CALL_DB (our list, a registry source, the caller-ID
pools, the contact log). The rows check says would be called now are exactly the calls the
simulator received, each refused row ends with the status check named in the results CSV,
and each held row is a call waiting for what check said holds it."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.caller_ids import SqliteCallerIdStore
from adapters.contact_log import SqliteContactLog
from adapters.settings import BridgeSettings, SimulatorSettings
from bridge.app import create_app
from calls.contact_limits import parse_limits
from calls.returned_call import number_hash
from outbound_calls_client.campaign import CampaignSummary, campaign_workflow_id
from simulator.server import running_simulator, serve_asgi_app
from tests.helpers.call_harness import FROM_NUMBER, SIM_KEY, SimulatorAdmin, call_worker, eventually
from tests.helpers.cli_runner import CliRun, cli_env, run_cli
from tests.helpers.local_hours import zone_at_hour

pytestmark = pytest.mark.integration

LIMITS = "2/24h"
AT_LIMIT = ("+14155550205", "+14155550206")  # contacted twice in the last hour already
# The phase a held call waits in, for each reason check gives.
HELD_PHASES = {
    "contact_limit": "waiting_for_contact_limit",
    "regional_rule": "waiting_for_window",
    "outside_hours": "waiting_for_window",
    "caller_id_pool": "waiting_for_caller_id",
}


def _contacts(path: Path) -> dict[int, str]:
    """The file, one JSON line a row; answers each line's number."""
    night = zone_at_hour(3)  # outside every window and rule for hours
    lines: list[dict[str, Any]] = [
        {"to_number": "+14155550201"},  # 1 called
        {"to_number": "+1415555"},  # 2 bad row
        {"to_number": "+14155550203"},  # 3 our list
        {"to_number": "+14155550204"},  # 4 registry source
        {"to_number": AT_LIMIT[0]},  # 5 held by the contact limit
        {"to_number": AT_LIMIT[1], "timeouts": {"max_hold_s": 60}},  # 6 refused: too long
        {
            "to_number": "+13055550207",  # 7 held by Florida's hours (night in its zone)
            "calling_window": {"enabled": False, "regional_rules": True, "time_zone": night},
        },
        {
            "to_number": "+14155550208",  # 8 held by its own window
            "calling_window": {"regional_rules": False, "time_zone": night},
        },
        {
            "to_number": "+13055550209",  # 9 refused: a window Florida never opens
            "calling_window": {"start": "06:00", "end": "07:30", "regional_rules": True},
        },
        {"to_number": "+14155550210", "caller_id_pool": "rested"},  # 10 held: none usable
        {"to_number": "+14155550211", "caller_id_pool": "ghost"},  # 11 refused: no numbers
        {"to_number": "+14155550212", "caller_id_pool": "sales"},  # 12 called from the pool
        {"to_number": "+14155550213"},  # 13 called
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return {row: line["to_number"] for row, line in enumerate(lines, start=1)}


async def _fill_stores(db: Path, cli: Cli) -> None:
    await cli.ok("dnc", "add", "+14155550203")
    registry = db.parent / "national.txt"
    registry.write_text("415,5550204\n")
    await cli.ok("dnc", "import", str(registry), "--source", "national-2026-12")
    now = datetime.now(UTC)
    pools = SqliteCallerIdStore(db)
    await pools.add("+12125550100", "rested", None)
    assert await pools.rest("+12125550100", now + timedelta(hours=2), "test")
    await pools.add("+14155550100", "sales", None)
    log = SqliteContactLog(db)
    for number in AT_LIMIT:
        for n in range(2):
            claim = await log.claim(
                f"earlier:{number}:{n}",
                number_hash(SIM_KEY, number),  # the worker's key: its RETELL_API_KEY
                parse_limits(LIMITS),
                now - timedelta(hours=1),
            )
            assert claim.allowed


class Cli:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self._cwd = env, cwd

    async def run(self, *args: str) -> CliRun:
        return await run_cli(*args, env=self.env, cwd=self._cwd, timeout_s=180)

    async def ok(self, *args: str) -> str:
        run = await self.run(*args)
        assert run.code == 0, run.err
        return run.out


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[Cli, SimulatorAdmin]]:
    """The simulator sending webhooks through the bridge, a worker whose stores are all in
    one SQLite file, and the CLI with the worker's settings for it."""
    client = dev_env.client
    db = tmp_path / "dnc.sqlite3"
    async with AsyncExitStack() as stack:
        bridge = await stack.enter_async_context(
            serve_asgi_app(create_app(BridgeSettings(retell_api_key=SIM_KEY), client=client))
        )
        sim = await stack.enter_async_context(
            running_simulator(
                SimulatorSettings(
                    simulator_time_scale=0.002,
                    simulator_webhook_url=f"{bridge.base_url}/webhooks/retell",
                )
            )
        )
        queue = await stack.enter_async_context(
            call_worker(client, sim.base_url, do_not_call_db=db, contact_limits=LIMITS)
        )
        admin = SimulatorAdmin(sim.base_url)
        stack.push_async_callback(admin.aclose)
        env = cli_env(
            TEMPORAL_ADDRESS=client.service_client.config.target_host,
            TEMPORAL_TASK_QUEUE=queue,
            DO_NOT_CALL_DB=str(db),
            RETELL_API_KEY=SIM_KEY,
            CONTACT_LIMITS=LIMITS,
        )
        yield Cli(env, tmp_path), admin


async def _results(cli: Cli, campaign_id: str, out: Path) -> dict[int, dict[str, str]]:
    await cli.ok("campaign", "results", campaign_id, "--out", str(out))
    with out.open(newline="") as stream:
        return {int(r["row"]): r for r in csv.DictReader(stream)}


async def test_check_says_what_the_campaign_then_does(
    dev_env: WorkflowEnvironment, stack: tuple[Cli, SimulatorAdmin], tmp_path: Path
) -> None:
    cli, sim = stack
    await _fill_stores(tmp_path / "dnc.sqlite3", cli)
    contacts = tmp_path / "contacts.jsonl"
    numbers = _contacts(contacts)
    options = ("--contacts", str(contacts), "--from", FROM_NUMBER, "--no-calling-window")

    report = json.loads(await cli.ok("campaign", "check", *options, "-o", "json"))
    assert (report["called"], report["refused"], report["held"]) == (3, 6, 4)
    refused = {r["row"]: r["ends"] for r in report["refused_rows"]}
    held = {r["row"]: r["reason"] for r in report["held_rows"]}
    called = set(numbers) - set(refused) - set(held)
    assert called == {1, 12, 13}

    campaign_id = f"check-{uuid.uuid4().hex[:8]}"
    await cli.ok("campaign", "start", campaign_id, *options, "--agent-id", "agent_test")
    results = tmp_path / "results.csv"

    async def settled() -> dict[int, dict[str, str]] | None:
        # Every row either ended or waits before its dial (visibility's CallStatus trails a
        # little); whatever check said of it.
        rows = await _results(cli, campaign_id, results)
        waits = set(HELD_PHASES.values())
        still = [r for r in rows.values() if r["status"] == "in_progress"]
        if len(rows) < len(numbers) or any(r["detail"] not in waits for r in still):
            return None
        return rows

    rows = await eventually(settled, timeout_s=90, what="every row to end or wait")
    dialed = [c["to_number"] for c in await sim.calls()]
    assert sorted(dialed) == sorted(numbers[r] for r in called)  # each once, no other
    assert {r for r, row in rows.items() if row["status"] == "completed"} == called
    assert {r: rows[r]["status"] for r in refused} == refused
    waiting = {r: row["detail"] for r, row in rows.items() if row["status"] == "in_progress"}
    assert waiting == {r: HELD_PHASES[why] for r, why in held.items()}

    handle = dev_env.client.get_workflow_handle(
        campaign_workflow_id(campaign_id), result_type=CampaignSummary
    )
    await cli.ok("campaign", "cancel", campaign_id, "--reason", "test over")
    summary = await handle.result()
    assert summary.canceled
