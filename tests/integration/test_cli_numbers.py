"""``outbound-calls numbers``: the caller-ID pools through the real CLI process, in the
SQLite file the workers read (DO_NOT_CALL_DB)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.caller_ids import SqliteCallerIdStore
from calls.caller_id_health import HealthRules, ResultKind
from tests.helpers.cli_runner import cli_env, run_cli

SF, NY = "+14155550100", "+12125550100"


async def test_add_list_rest_restore_remove(tmp_path: Path) -> None:
    env = cli_env(DO_NOT_CALL_DB=str(tmp_path / "dnc.sqlite3"))

    async def cli(*args: str) -> str:
        run = await run_cli("numbers", *args, env=env, cwd=tmp_path)
        assert run.code == 0, run.err
        return run.out

    await cli("add", SF, "--pool", "sales", "--daily-cap", "50")
    await cli("add", NY, "--pool", "east")
    listed = json.loads(await cli("list", "-o", "json"))
    assert [(n["number"], n["pool"], n["daily_cap"], n["used_today"]) for n in listed] == [
        (NY, "east", None, 0),  # our own numbers, in clear: not a callee's
        (SF, "sales", 50, 0),
    ]
    await cli("rest", SF, "--for", "2h", "--reason", "labelled spam")
    (rested,) = json.loads(await cli("list", "--pool", "sales", "-o", "json"))
    assert rested["rested_reason"] == "labelled spam"
    assert rested["rested_until"]
    csv_lines = (await cli("list", "--pool", "sales", "-o", "csv")).splitlines()
    assert csv_lines[0] == (
        "number,pool,daily_cap,used_today,calls,answered,answer_rate,rests,"
        "rested_until,rested_reason"
    )
    assert csv_lines[1].startswith(f"{SF},sales,50,0,0,0,,0,")
    assert SF in await cli("list")  # the table
    await cli("restore", SF)
    (back,) = json.loads(await cli("list", "--pool", "sales", "-o", "json"))
    assert back["rested_until"] is None
    await cli("remove", SF)
    assert [n["number"] for n in json.loads(await cli("list", "-o", "json"))] == [NY]
    gone = await run_cli("numbers", "remove", SF, env=env, cwd=tmp_path)
    assert gone.code == 1
    assert "in no caller-ID pool" in gone.err


async def test_bad_input_names_the_field_and_the_rule(tmp_path: Path) -> None:
    env = cli_env(DO_NOT_CALL_DB=str(tmp_path / "dnc.sqlite3"))
    cases = {
        ("add", "4155550100", "--pool", "sales"): "number: must be E.164",
        ("add", "+10005550100", "--pool", "sales"): "rule: is_valid_number",
        ("add", SF, "--pool", "no spaces"): "--pool: must be 1-64",
        ("rest", SF, "--for", "soon"): "--for: 'soon' is not a duration",
        ("rest", SF, "--for", "31d"): "rule: max",
    }
    for args, expected in cases.items():
        run = await run_cli("numbers", *args, env=env, cwd=tmp_path)
        assert run.code == 2, (args, run.err)
        assert expected in run.err, (args, run.err)


async def test_the_list_shows_each_numbers_health_and_why_it_rests(tmp_path: Path) -> None:
    db = tmp_path / "dnc.sqlite3"
    env = cli_env(DO_NOT_CALL_DB=str(db))
    assert (await run_cli("numbers", "add", SF, "--pool", "sales", env=env, cwd=tmp_path)).code == 0
    # What the workers' report_caller_id_result counts, in the same file.
    store, now = SqliteCallerIdStore(db), datetime.now(UTC)
    await store.record_result("a:1", SF, ResultKind.ANSWERED, HealthRules(), now)
    await store.record_result("b:1", SF, ResultKind.SPAM, HealthRules(), now)
    run = await run_cli("numbers", "list", "-o", "json", env=env, cwd=tmp_path)
    assert run.code == 0, run.err
    (listed,) = json.loads(run.out)
    assert (listed["calls"], listed["answered"], listed["answer_rate"], listed["rests"]) == (
        2,
        1,
        0.5,
        1,
    )
    assert listed["rested_reason"] == "marked_as_spam: Retell reported it"
    assert datetime.fromisoformat(listed["rested_until"]) > now + timedelta(days=6)
