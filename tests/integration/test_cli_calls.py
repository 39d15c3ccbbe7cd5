"""The command line against the whole stack as processes (dev server, simulator, bridge,
worker), payloads encrypted as ``make run`` does: outcomes and exit codes, documents for
scripts, re-attaching, one-line errors, and the do-not-call list from the CLI."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.codec_keys import create_key_file
from adapters.dev_server_record import record_dev_server
from adapters.settings import ClientSettings
from adapters.temporal_client import connect_temporal
from cli.call_commands import LIST_COLUMNS
from cli.output import OutputFormat
from outbound_calls_client.models import CallOutcome, CallRequest
from outbound_calls_client.names import CALL_WORKFLOW, call_workflow_id
from stack.config import StackConfig
from stack.processes import ProcessStack
from tests.helpers.call_harness import eventually
from tests.helpers.cli_runner import CLI, CliRun, cli_env, run_cli

pytestmark = pytest.mark.integration

FROM = "+12125550199"


class CliStack:
    def __init__(self, stack: ProcessStack, key_file: Path, scratch: Path) -> None:
        self.stack = stack
        self.key_file = key_file
        self.scratch = scratch

    def env(self, *, keys: bool = True) -> dict[str, str]:
        settings = {
            "TEMPORAL_ADDRESS": self.stack.temporal_address,
            "TEMPORAL_TASK_QUEUE": self.stack.task_queue,
            "DO_NOT_CALL_DB": str(self.stack.data_dir / "do_not_call.sqlite3"),
        }
        if keys:
            settings["PAYLOAD_KEY_FILE"] = str(self.key_file)
        return cli_env(**settings)

    async def cli(self, *args: str, keys: bool = True, cwd: Path | None = None) -> CliRun:
        return await run_cli(*args, env=self.env(keys=keys), cwd=cwd or self.scratch)

    async def start_wait(
        self, key: str, *extra: str, to: str = "+14155550123", output: str = "json"
    ) -> CliRun:
        return await self.cli(
            "start", "--to", to, "--from", FROM, "--no-calling-window",
            "--dedupe-key", key, "--wait", "-o", output, *extra,
        )  # fmt: skip


@pytest.fixture(scope="module")
async def cli_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CliStack]:
    root = tmp_path_factory.mktemp("cli-stack")
    key_file = root / "payload-keys.json"
    create_key_file(key_file, "cli-test")
    scratch = root / "scratch"
    scratch.mkdir()
    stack = ProcessStack(root / "stack", StackConfig(env={"PAYLOAD_KEY_FILE": str(key_file)}))
    async with stack.running():
        yield CliStack(stack, key_file, scratch)


def _key() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


async def test_start_wait_json_is_one_document_and_the_exit_code_says_the_outcome(
    cli_stack: CliStack,
) -> None:
    keys = {"answered": _key(), "no_answer": _key(), "busy": _key()}
    runs = await asyncio.gather(
        *(cli_stack.start_wait(key, "--scenario", s) for s, key in keys.items())
    )
    expected = {"answered": ("completed", 0), "no_answer": ("no_answer", 3), "busy": ("busy", 3)}
    for (scenario, key), run in zip(keys.items(), runs, strict=True):
        document = json.loads(run.out)  # the whole of stdout: exactly one JSON document
        outcome = CallOutcome.model_validate(document)
        assert (outcome.status.value, run.code) == expected[scenario], run.err
        assert outcome.workflow_id == f"call-{key}"
        # The summary line and the UI link go to stderr, after the progress.
        err_lines = run.err.strip().splitlines()
        assert err_lines[-2].startswith(f"call-{key}: {expected[scenario][0]}")
        assert err_lines[-1] == f"http://localhost:8233/namespaces/default/workflows/call-{key}"


async def test_start_wait_table_ends_with_one_summary_line_and_the_link(
    cli_stack: CliStack,
) -> None:
    key = _key()
    run = await cli_stack.start_wait(key, output=OutputFormat.TABLE.value)
    assert run.code == 0, run.err
    summary, link = run.out.splitlines()
    assert summary.startswith(f"call-{key}: completed (user_hangup), 1 attempt, ")
    assert link.strip().endswith(f"/workflows/call-{key}")
    assert f"started call-{key}" in run.err
    assert "(attempt 1, call " in run.err  # progress on stderr


async def test_a_reused_dedupe_key_says_it_attached(cli_stack: CliStack) -> None:
    key = _key()
    first = await cli_stack.start_wait(key)
    assert first.code == 0, first.err
    again = await cli_stack.cli(
        "start", "--to", "+14155550123", "--from", FROM, "--no-calling-window",
        "--dedupe-key", key, "-o", "json",
    )  # fmt: skip
    assert again.code == 0, again.err
    assert json.loads(again.out)["attached"] is True
    assert f"exists (call-{key}, finished: completed): attached to it" in again.err
    assert len(await cli_stack.stack.sim.calls("+14155550123")) >= 1


async def test_result_reattaches_and_a_rejected_call_exits_4(cli_stack: CliStack) -> None:
    # A request the CLI would refuse up front, started by other means: the workflow rejects it.
    key = _key()
    settings = ClientSettings(
        temporal_address=cli_stack.stack.temporal_address, payload_key_file=cli_stack.key_file
    )
    client = await connect_temporal(settings)
    request = CallRequest(to_number="+1415555", from_number=FROM, dedupe_key=key)
    await client.start_workflow(
        CALL_WORKFLOW, request, id=call_workflow_id(key), task_queue=cli_stack.stack.task_queue
    )
    run = await cli_stack.cli("result", key)  # the dedupe key names the call
    assert run.code == 4, run.err
    assert run.out.startswith(f"call-{key}: rejected, 0 attempts, to_number:")


async def test_ctrl_c_stops_following_not_the_call(cli_stack: CliStack) -> None:
    key = _key()
    proc = await asyncio.create_subprocess_exec(
        CLI, "start", "--to", "+14155550123", "--from", FROM, "--no-calling-window",
        "--dedupe-key", key, "--metadata", "simulator_talk_ms=3000", "--wait",
        cwd=cli_stack.scratch, env=cli_stack.env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    seen: list[str] = []
    async with asyncio.timeout(60):
        while not any("(attempt 1" in line for line in seen):
            seen.append((await proc.stderr.readline()).decode())
    proc.send_signal(signal.SIGINT)
    rest = (await asyncio.wait_for(proc.stderr.read(), timeout=30)).decode()
    assert await proc.wait() == 130
    assert f"stopped following call-{key}; the call goes on" in rest
    assert "Traceback" not in "".join(seen) + rest
    again = await cli_stack.cli("result", f"call-{key}")
    assert again.code == 0, again.err
    assert again.out.startswith(f"call-{key}: completed")


async def test_list_csv_has_a_header_and_one_row_per_call(cli_stack: CliStack) -> None:
    keys = [_key(), _key()]
    await asyncio.gather(
        cli_stack.start_wait(keys[0]), cli_stack.start_wait(keys[1], "--scenario", "no_answer")
    )
    client = cli_stack.stack.client
    query = f'WorkflowType = "{CALL_WORKFLOW}"'

    async def indexed() -> set[str] | None:
        ids = {wf.id async for wf in client.list_workflows(query)}
        return ids if {f"call-{k}" for k in keys} <= ids else None

    every_call = await eventually(indexed, what="visibility to index the calls")
    run = await cli_stack.cli("list", "--limit", "1000", "-o", "csv")
    assert run.code == 0, run.err
    rows = list(csv.reader(io.StringIO(run.out)))
    assert rows[0] == list(LIST_COLUMNS)
    assert {row[0] for row in rows[1:]} >= every_call
    assert len(rows) - 1 == len({row[0] for row in rows[1:]})

    only = await cli_stack.cli("list", "--outcome", "no_answer", "-o", "json")
    assert f"call-{keys[1]}" in [row["workflow_id"] for row in json.loads(only.out)]
    assert {row["outcome"] for row in json.loads(only.out)} == {"no_answer"}

    cut = await cli_stack.cli("list", "--limit", "1")
    assert "more match: raise --limit" in cut.err


async def test_encrypted_history_without_keys_is_one_line_and_the_dev_key_file_is_found(
    cli_stack: CliStack, tmp_path: Path
) -> None:
    key = _key()
    assert (await cli_stack.start_wait(key)).code == 0
    run = await cli_stack.cli("status", key, keys=False)
    assert run.code == 1
    assert run.err.count("\n") == 1, run.err
    assert "encrypted" in run.err
    assert "PAYLOAD_KEY_FILE" in run.err
    assert "Traceback" not in run.err
    # Run from a checkout where `make run` wrote its key file for this server (and said so
    # next to it): found with no setting at all.
    (tmp_path / ".devstack").mkdir()
    shutil.copy(cli_stack.key_file, tmp_path / ".devstack" / "payload-keys.json")
    await record_dev_server(cli_stack.stack.client, tmp_path / ".devstack" / "payload-keys.json")
    found = await cli_stack.cli("status", key, "-o", "json", keys=False, cwd=tmp_path)
    assert found.code == 0, found.err
    snapshot: dict[str, Any] = json.loads(found.out)
    assert snapshot["phase"] == "finished"
    assert snapshot["outcome"]["status"] == "completed"


async def test_a_workflow_that_is_not_a_call_and_a_finished_cancel(cli_stack: CliStack) -> None:
    key = _key()
    assert (await cli_stack.start_wait(key)).code == 0
    slots = f"call-slots-{cli_stack.stack.task_queue}"
    run = await cli_stack.cli("status", slots)
    assert run.code == 1
    assert f"{slots} is a CallSlotsWorkflow, not a call" in run.err
    refused = await cli_stack.cli("cancel", key)
    assert refused.code == 1
    assert "already finished: completed" in refused.err
    missing = await cli_stack.cli("result", "no-such-key")
    assert missing.code == 1
    assert "no call no-such-key or call-no-such-key" in missing.err


async def test_dnc_add_then_the_call_ends_do_not_call_and_remove_then_it_is_dialed(
    cli_stack: CliStack,
) -> None:
    number = "+14155550177"
    added = await cli_stack.cli("dnc", "add", number, "--reason", "asked us to stop")
    assert added.code == 0, added.err
    refused = await cli_stack.start_wait(_key(), to=number)
    assert refused.code == 4, refused.err
    assert json.loads(refused.out)["status"] == "do_not_call"
    assert await cli_stack.stack.sim.calls(number) == []

    removed = await cli_stack.cli("dnc", "remove", number, "--reason", "consent renewed")
    assert removed.code == 0, removed.err
    dialed = await cli_stack.start_wait(_key(), to=number)
    assert dialed.code == 0, dialed.err
    assert json.loads(dialed.out)["status"] == "completed"
    assert len(await cli_stack.stack.sim.calls(number)) == 1


async def test_wait_dialed_prints_the_call_id_before_the_call_ends(cli_stack: CliStack) -> None:
    key = _key()
    args = (
        "start", "--to", "+14155550123", "--from", FROM, "--no-calling-window",
        "--dedupe-key", key, "--metadata", "simulator_ring_ms=600000", "--wait-dialed",
        "-o", "json",
    )  # fmt: skip
    first = await cli_stack.cli(*args)
    assert first.code == 0, first.err
    dial = json.loads(first.out)
    assert dial["dial"] == "dialed"
    ringing = [c for c in await cli_stack.stack.sim.calls() if c["call_id"] == dial["call_id"]]
    assert [c["call_status"] for c in ringing] == ["registered"]  # still ringing
    again = await cli_stack.cli(*args)  # the same dedupe key: the same call
    assert again.code == 0, again.err
    assert json.loads(again.out)["call_id"] == dial["call_id"]
    assert json.loads(again.out)["attached"] is True
    canceled = await cli_stack.cli("cancel", key, "--reason", "test over")
    assert canceled.code == 0, canceled.err


async def test_wait_dialed_says_why_a_call_was_refused(cli_stack: CliStack) -> None:
    number = "+14155550177"
    await cli_stack.stack.sim.mark_do_not_call(number)  # marked at Retell, not by us
    run = await cli_stack.cli(
        "start", "--to", number, "--from", FROM, "--no-calling-window",
        "--dedupe-key", _key(), "--wait-dialed",
    )  # fmt: skip
    assert run.code == 4, run.err  # refused
    assert "not dialed (do_not_call)" in run.out
    assert "do_not_call" in run.out
