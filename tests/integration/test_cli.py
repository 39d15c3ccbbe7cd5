"""The command line without a server: help, version, completion, bad input, the do-not-call
list, and what it says when Temporal cannot be reached (each run as a real subprocess)."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest

from cli.calls import progress_line
from outbound_calls_client.bounds import MAX_METADATA_BYTES
from outbound_calls_client.models import CallSnapshot
from tests.helpers.cli_runner import cli_env, run_cli

GOOD = ("--to", "+14155550123", "--from", "+12125550199")
NUMBER = "+14155550123"


def _closed_port() -> str:
    # Bound, never listening: a connect is refused at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def down_env() -> dict[str, str]:
    """Settings pointing at an address where no Temporal listens."""
    return cli_env(TEMPORAL_ADDRESS=_closed_port())


# Every command and group, the bare program first.
COMMANDS: list[list[str]] = [
    [],
    ["start"],
    ["result"],
    ["status"],
    ["cancel"],
    ["list"],
    ["report"],
    ["register-search-attributes"],
    ["campaign"],
    ["campaign", "check"],
    ["campaign", "status"],
    ["campaign", "pause"],
    ["campaign", "resume"],
    ["campaign", "cancel"],
    ["campaign", "results"],
    ["campaign", "report"],
    ["dnc"],
    ["dnc", "list"],
    ["dnc", "add"],
    ["dnc", "remove"],
    ["dnc", "check"],
    ["dnc", "import"],
    ["dnc", "sources"],
    ["dnc", "remove-source"],
    ["worker"],
    ["bridge"],
    ["simulator"],
    ["dev"],
]


async def test_every_command_has_help(tmp_path: Path) -> None:
    # All at once: each run is an interpreter start, and none depends on another.
    runs = await asyncio.gather(
        *(run_cli(*command, "--help", env=cli_env(), cwd=tmp_path) for command in COMMANDS)
    )
    for command, run in zip(COMMANDS, runs, strict=True):
        where = " ".join(command) or "(the program)"
        assert run.code == 0, (where, run.err)
        assert "usage" in run.out.lower(), where
        if command and command[0] in ("worker", "bridge", "simulator", "dev"):
            # The component's own options answer: they are passed through, not refused.
            assert "unrecognized arguments" not in run.err, where
            assert "--log-level" in run.out or "--once" in run.out or "--port" in run.out, where
        else:
            assert "Examples:" in run.out, where
            assert "Exit codes:" in run.out, where
            assert "TEMPORAL_ADDRESS" in run.out, where


async def test_the_cli_loads_none_of_the_components_it_can_run(tmp_path: Path) -> None:
    # The process commands import theirs when they run; the simulator is no part of a
    # deployment, so a production CLI must not need it to start.
    probe = "import sys, cli.main; print(*sorted({m.split('.')[0] for m in sys.modules}))"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, cwd=tmp_path, env=cli_env(), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    loaded = set(out.decode().split())
    assert proc.returncode == 0
    assert "cli" in loaded
    assert not loaded & {"simulator", "bridge", "codec_server", "stack", "worker", "devstack"}
    # matplotlib takes most of a second to import: only the report commands load it.
    assert "matplotlib" not in loaded


async def test_version(tmp_path: Path) -> None:
    run = await run_cli("--version", env=cli_env(), cwd=tmp_path)
    assert run.code == 0
    assert run.out.strip() == f"outbound-calls {version('durable-outbound-calls')}"


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o"), ("zsh", "#compdef outbound-calls"), ("fish", "complete --command")],
)
async def test_shell_completion_scripts(tmp_path: Path, shell: str, marker: str) -> None:
    env = cli_env(_OUTBOUND_CALLS_COMPLETE=f"source_{shell}")
    run = await run_cli(env=env, cwd=tmp_path)
    assert run.code == 0
    assert marker in run.out


async def test_completion_offers_the_known_outcomes(tmp_path: Path) -> None:
    env = cli_env(
        _OUTBOUND_CALLS_COMPLETE="complete_zsh",
        _TYPER_COMPLETE_ARGS="outbound-calls list --outcome ",
    )
    run = await run_cli(env=env, cwd=tmp_path)
    assert '"no_answer"' in run.out
    assert '"do_not_call"' in run.out


async def test_bad_number_is_bad_input_before_any_connection(
    tmp_path: Path, down_env: dict[str, str]
) -> None:
    run = await run_cli(
        "start", "--to", "+1415555", "--from", "+12125550199", env=down_env, cwd=tmp_path
    )
    assert run.code == 2
    assert run.err.startswith("error: to_number:")
    assert "is_valid_number" in run.err
    assert "Temporal" not in run.err
    assert run.out == ""


async def test_oversize_metadata_is_bad_input_before_any_connection(
    tmp_path: Path, down_env: dict[str, str]
) -> None:
    big = "x" * MAX_METADATA_BYTES
    run = await run_cli("start", *GOOD, "--metadata", f"note={big}", env=down_env, cwd=tmp_path)
    assert run.code == 2
    assert run.err.startswith("error: metadata:")
    assert "(rule: max_bytes)" in run.err
    assert "Temporal" not in run.err


async def test_a_dedupe_key_in_a_campaigns_id_space_is_refused_before_any_connection(
    tmp_path: Path, down_env: dict[str, str]
) -> None:
    key = "campaign:spring:0"  # the id of campaign spring's first row without a key
    run = await run_cli("start", *GOOD, "--dedupe-key", key, env=down_env, cwd=tmp_path)
    assert run.code == 2
    assert run.err.startswith("error: dedupe_key:")
    assert "(rule: reserved)" in run.err
    assert "Temporal" not in run.err


async def test_a_contacts_row_out_of_bounds_is_a_bad_row(
    tmp_path: Path, down_env: dict[str, str]
) -> None:
    contacts = tmp_path / "contacts.csv"
    big = "x" * MAX_METADATA_BYTES
    contacts.write_text(f"to_number,metadata.note\n+14155550123,short\n+14155550124,{big}\n")
    run = await run_cli(
        "campaign", "start", "spring", "--contacts", str(contacts), "--from", "+12125550199",
        "--agent-id", "agent_1", "--strict", env=down_env, cwd=tmp_path,
    )  # fmt: skip
    assert run.code == 2
    assert "row 3: metadata:" in run.err
    assert "(rule: max_bytes)" in run.err
    assert "2 contacts, 1 bad row(s)" in run.err


async def test_temporal_down_says_the_address_and_the_setting(
    tmp_path: Path, down_env: dict[str, str]
) -> None:
    run = await run_cli("start", *GOOD, "--no-calling-window", env=down_env, cwd=tmp_path)
    assert run.code == 1
    assert run.err.count("\n") == 1, run.err  # one line
    assert f"cannot reach Temporal at {down_env['TEMPORAL_ADDRESS']}" in run.err
    assert "connection refused" in run.err
    assert "TEMPORAL_ADDRESS" in run.err
    assert "Traceback" not in run.err


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["list", "--outcome", "bogus"], "--outcome"),
        (["list", "--status", "bogus"], "--status"),
        (["list", "--limit", "-1"], "--limit"),
        (["list", "--campaign", 'x" OR 1=1'], "--campaign"),
        (["start", *GOOD, "--scenario", "bogus"], "--scenario"),
        (["start", *GOOD, "--metadata", "novalue"], "--metadata"),
        (["start", *GOOD, "--max-attempts", "0"], "--max-attempts"),
        (["status", "x", "-o", "xml"], "--output"),
    ],
)
async def test_values_are_checked_against_their_known_sets(
    tmp_path: Path, down_env: dict[str, str], args: list[str], option: str
) -> None:
    run = await run_cli(*args, env=down_env, cwd=tmp_path)
    assert run.code == 2, run.err
    assert option in run.err
    assert "Temporal" not in run.err  # refused before connecting


async def test_scenario_error_lists_every_known_name_uncut(
    tmp_path: Path, down_env: dict[str, str]
) -> None:
    run = await run_cli("start", *GOOD, "--scenario", "bogus", env=down_env, cwd=tmp_path)
    assert "no_answer" in run.err
    assert "webhooks_lost" in run.err


async def test_bad_setting_is_named(tmp_path: Path) -> None:
    env = cli_env(TEMPORAL_TLS="maybe")
    run = await run_cli("list", env=env, cwd=tmp_path)
    assert run.code == 2
    assert "TEMPORAL_TLS" in run.err
    assert "Traceback" not in run.err


async def test_dnc_add_list_remove_masks_and_records_the_removal(tmp_path: Path) -> None:
    db = tmp_path / "dnc.sqlite3"
    env = cli_env(DO_NOT_CALL_DB=str(db))
    added = await run_cli("dnc", "add", NUMBER, "--reason", "asked by email", env=env, cwd=tmp_path)
    assert added.code == 0, added.err
    listed = await run_cli("dnc", "list", "-o", "json", env=env, cwd=tmp_path)
    assert listed.code == 0
    rows = json.loads(listed.out)
    assert [(row["number"], row["reason"]) for row in rows] == [("+1********23", "asked by email")]
    assert NUMBER not in listed.out + listed.err + added.err

    # No reason, no terminal to ask on: refused, and the number stays listed.
    refused = await run_cli("dnc", "remove", NUMBER, env=env, cwd=tmp_path)
    assert refused.code == 2
    assert "--reason" in refused.err

    removed = await run_cli(
        "dnc", "remove", NUMBER, "--reason", "consent renewed, ticket 7", env=env, cwd=tmp_path
    )
    assert removed.code == 0, removed.err
    assert NUMBER not in removed.err
    log = [json.loads(line) for line in removed.err.splitlines() if line.startswith("{")]
    assert [(e["event"], e["number"]) for e in log] == [("do_not_call_removed", "+1********23")]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM do_not_call").fetchone() == (0,)
        assert conn.execute("SELECT number, reason FROM do_not_call_removals").fetchall() == [
            (NUMBER, "consent renewed, ticket 7")
        ]

    again = await run_cli("dnc", "remove", NUMBER, "--reason", "x", env=env, cwd=tmp_path)
    assert again.code == 1
    assert "not on the do-not-call list" in again.err


async def test_dnc_refuses_a_bad_number(tmp_path: Path) -> None:
    env = cli_env(DO_NOT_CALL_DB=str(tmp_path / "dnc.sqlite3"))
    run = await run_cli("dnc", "add", "4155550123", env=env, cwd=tmp_path)
    assert run.code == 2
    assert "number: must be E.164" in run.err


def test_a_wait_says_until_when_and_how_long() -> None:
    now = datetime(2025, 1, 7, 6, 0, tzinfo=UTC)
    snapshot = CallSnapshot(
        workflow_id="call-x",
        phase="waiting_for_window",
        attempt=1,
        waiting_until=now + timedelta(hours=3, minutes=5),
    )
    line = progress_line(snapshot, now=now)
    assert line.startswith("waiting for calling hours (attempt 1, call -) until ")
    local = (now + timedelta(hours=3, minutes=5)).astimezone()
    assert f"{local:%H:%M}" in line
    assert line.endswith("in 3 h 05 min")


def test_a_held_call_says_what_holds_it() -> None:
    now = datetime(2025, 1, 7, 6, 0, tzinfo=UTC)
    snapshot = CallSnapshot(
        workflow_id="call-x",
        phase="waiting_for_contact_limit",
        attempt=2,
        waiting_until=now + timedelta(hours=1),
        held_by="contact limit 3/24h (CONTACT_LIMITS) reached for this number",
    )
    line = progress_line(snapshot, now=now)
    assert line.startswith("waiting for the contact limit (CONTACT_LIMITS) (attempt 2, call -)")
    assert line.endswith(
        "in 1 h 00 min; held by contact limit 3/24h (CONTACT_LIMITS) reached for this number"
    )
