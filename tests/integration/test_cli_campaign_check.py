"""``outbound-calls campaign check`` through the real CLI process, on the SQLite file the
workers read (DO_NOT_CALL_DB: the do-not-call list and its registry sources, the caller-ID
pools, the contact log): every reason a row is refused or held, counted and named by line,
with no Temporal server anywhere (nothing is started)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.caller_ids import SqliteCallerIdStore
from adapters.contact_log import SqliteContactLog
from calls.contact_limits import parse_limits
from calls.returned_call import number_hash
from tests.helpers.cli_runner import CliRun, cli_env, run_cli
from tests.helpers.local_hours import zone_at_hour

HASH_KEY = "check-test-key"
LIMITS = "2/24h"
FROM = "+12125550199"
CALLED_BEFORE = "+14155550104"  # contacted up to the limit already
TWICE_OK = "+14155550105"  # three rows: the third is one too many


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    given = {
        "DO_NOT_CALL_DB": str(tmp_path / "dnc.sqlite3"),
        "NUMBER_HASH_KEY": HASH_KEY,
        "CONTACT_LIMITS": LIMITS,
        # No Temporal server: the check must not need one.
        "TEMPORAL_ADDRESS": "127.0.0.1:9",
    }
    return cli_env(**{**given, **settings})


async def _stores(tmp_path: Path, env: dict[str, str]) -> None:
    """Our list, a registry source (through the CLI, as an operator fills them), the pools
    and the contact log (written as the workers write them)."""
    db = tmp_path / "dnc.sqlite3"
    added = await run_cli("dnc", "add", "+14155550102", env=env, cwd=tmp_path)
    assert added.code == 0, added.err
    registry = tmp_path / "national.txt"
    registry.write_text("415,5550103\n")
    imported = await run_cli(
        "dnc", "import", str(registry), "--source", "national-2026-12", env=env, cwd=tmp_path
    )
    assert imported.code == 0, imported.err
    now = datetime.now(UTC)
    pools = SqliteCallerIdStore(db)
    await pools.add("+12125550100", "rested", None)
    assert await pools.rest("+12125550100", now + timedelta(hours=2), "test")
    await pools.add("+13125550100", "capped", 1)
    log = SqliteContactLog(db)
    key = number_hash(HASH_KEY, CALLED_BEFORE)
    for n in range(2):
        claim = await log.claim(f"earlier:{n}", key, parse_limits(LIMITS), now - timedelta(hours=1))
        assert claim.allowed


def _contacts(tmp_path: Path) -> Path:
    night = zone_at_hour(3)  # outside every window and rule for hours
    lines: list[dict[str, Any]] = [
        {"to_number": "+14155550101"},  # 1 called
        {"to_number": "+1415555"},  # 2 bad row
        {"to_number": "+14155550102"},  # 3 our list
        {"to_number": "+14155550103"},  # 4 registry source
        {"to_number": CALLED_BEFORE},  # 5 held: the log has 2 in 24 h
        {"to_number": TWICE_OK},  # 6 called
        {"to_number": TWICE_OK},  # 7 called (the second contact)
        {"to_number": TWICE_OK},  # 8 held: lines 6 and 7 come first
        # 9 held by Florida's hours: the rule alone, in a zone where it is night now
        {
            "to_number": "+13055550123",
            "calling_window": {"enabled": False, "regional_rules": True, "time_zone": night},
        },
        # 10 held by the request's own window (no regional rule), night in its zone
        {
            "to_number": "+14155550106",
            "calling_window": {"regional_rules": False, "time_zone": night},
        },
        # 11 refused: a window Florida's 08:00-20:00 never opens
        {
            "to_number": "+13055550124",
            "calling_window": {"start": "06:00", "end": "07:30", "regional_rules": True},
        },
        {"to_number": "+14155550107", "caller_id_pool": "rested"},  # 12 held: every number rests
        {"to_number": "+14155550108", "caller_id_pool": "capped"},  # 13 called: takes the cap
        {"to_number": "+14155550109", "caller_id_pool": "capped"},  # 14 held: cap used by 13
        {"to_number": "+14155550110", "caller_id_pool": "ghost"},  # 15 refused: no numbers
        # 16 refused: the limit holds longer than the row may wait
        {"to_number": CALLED_BEFORE, "timeouts": {"max_hold_s": 60}},
    ]
    path = tmp_path / "contacts.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


async def _check(tmp_path: Path, env: dict[str, str], *args: str) -> CliRun:
    return await run_cli("campaign", "check", *args, env=env, cwd=tmp_path)


async def test_check_counts_each_reason_with_its_rows(tmp_path: Path) -> None:
    env = _env(tmp_path)
    await _stores(tmp_path, env)
    contacts = _contacts(tmp_path)
    args = ("--contacts", str(contacts), "--from", FROM, "--no-calling-window")

    run = await _check(tmp_path, env, *args, "-o", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert (report["records"], report["called"], report["refused"], report["held"]) == (
        16,
        4,
        6,
        6,
    )
    assert report["contact_limits"] == LIMITS
    reasons = {
        (r["outcome"], r["reason"], r["detail"]): (r["count"], r["rows"], r["ends"])
        for r in report["reasons"]
    }
    bad = next(k for k in reasons if k[1] == "bad_row")
    assert bad[2].startswith("to_number (rule: ")
    assert reasons == {
        ("called", "called", None): (4, [], None),
        bad: (1, [2], "invalid_row"),
        ("refused", "do_not_call", "our list"): (1, [3], "do_not_call"),
        ("refused", "do_not_call", "source national-2026-12"): (1, [4], "do_not_call"),
        ("refused", "invalid_request", "calling_window (rule: common_window)"): (
            1,
            [11],
            "rejected",
        ),
        ("refused", "empty_pool", "ghost"): (1, [15], "rejected"),
        ("refused", "contact_limit", LIMITS): (1, [16], "rejected"),
        ("held", "contact_limit", LIMITS): (2, [5, 8], None),
        ("held", "regional_rule", "US-FL"): (1, [9], None),
        ("held", "outside_hours", "09:00-20:00 MTWTFSS"): (1, [10], None),
        ("held", "caller_id_pool", "rested"): (1, [12], None),
        ("held", "caller_id_pool", "capped"): (1, [14], None),
    }
    assert [r["row"] for r in report["refused_rows"]] == [2, 3, 4, 11, 15, 16]
    held = {r["row"]: r for r in report["held_rows"]}
    assert sorted(held) == [5, 8, 9, 10, 12, 14]
    assert "regional rule US-FL: 08:00-20:00" in held[9]["detail"]
    assert "outside calling hours now (09:00-20:00" in held[10]["detail"]
    # Opens at the zone's next local 09:00 (it is 03:xx there), later than Florida's 08:00.
    opens = {row: datetime.fromisoformat(held[row]["until"]) for row in (9, 10)}
    assert timedelta(hours=4) < opens[9] - datetime.now(UTC) < timedelta(hours=6)
    assert opens[10] - opens[9] == timedelta(hours=1)
    # The log's two contacts an hour ago: allowed again 24 h after the first.
    assert (
        timedelta(hours=22)
        < datetime.fromisoformat(held[5]["until"]) - datetime.now(UTC)
        < timedelta(hours=24)
    )
    assert "calling_window" in report["refused_rows"][3]["detail"]
    assert "+14155550102" not in run.out + run.err  # callee numbers stay masked

    # The same counts as CSV (one line per reason) and as a table, the summary on stderr.
    table = await _check(tmp_path, env, *args, "-o", "csv")
    assert table.code == 0, table.err
    lines = list(csv.DictReader(io.StringIO(table.out)))
    assert [(r["outcome"], r["reason"], r["count"]) for r in lines][:2] == [
        ("called", "called", "4"),
        ("refused", "bad_row", "1"),  # then by count, reason and detail
    ]
    assert [r["outcome"] for r in lines] == ["called"] + ["refused"] * 6 + ["held"] * 5
    assert {r["rows"] for r in lines if r["reason"] == "contact_limit"} == {"5,8", "16"}
    plain = await _check(tmp_path, env, *args)
    assert plain.code == 0, plain.err
    assert "16 row(s): 4 would be called now, 6 refused, 6 held" in plain.err
    assert "row 3: refused (do_not_call): on the do-not-call list (our list)" in plain.err
    assert "source national-2026-12" in plain.out


async def test_check_with_contact_limits_off_and_a_pool_template(tmp_path: Path) -> None:
    env = _env(tmp_path, CONTACT_LIMITS="off")
    pools = SqliteCallerIdStore(tmp_path / "dnc.sqlite3")
    await pools.add("+14155550100", "sales", 2)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("to_number\n" + "".join(f"+1415555012{n}\n" for n in range(3)))
    run = await _check(
        tmp_path, env, "--contacts", str(contacts), "--from-pool", "sales",
        "--no-calling-window", "-o", "json",
    )  # fmt: skip
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert (report["called"], report["held"], report["refused"]) == (2, 1, 0)
    assert [r["row"] for r in report["held_rows"]] == [4]  # the header is line 1
    assert report["held_rows"][0]["reason"] == "caller_id_pool"


async def test_check_refuses_bad_input(tmp_path: Path) -> None:
    env = _env(tmp_path)
    good = tmp_path / "contacts.csv"
    good.write_text("to_number\n+14155550101\n")
    headless = tmp_path / "headless.csv"
    headless.write_text("number\n+14155550101\n")
    cases: list[tuple[list[str], str]] = [
        (["--contacts", str(tmp_path / "none.csv"), "--from", FROM], "is not a file"),
        (["--contacts", "https://files.example.com/c.csv", "--from", FROM], "local file"),
        (["--contacts", str(good)], "(rule: one_caller_id)"),
        (["--contacts", str(good), "--from", FROM, "--from-pool", "sales"], "one_caller_id"),
        (["--contacts", str(good), "--from", "12"], "from_number"),
        (["--contacts", str(headless), "--from", FROM], "no to_number column"),
    ]
    for args, said in cases:
        run = await _check(tmp_path, env, *args)
        assert run.code == 2, (args, run.err)
        assert said in run.err, (args, run.err)
    # The contact log is keyed by the workers' hash key: without one, say so.
    keyless = cli_env(DO_NOT_CALL_DB=str(tmp_path / "dnc.sqlite3"), CONTACT_LIMITS=LIMITS)
    run = await _check(tmp_path, keyless, "--contacts", str(good), "--from", FROM)
    assert run.code == 2, run.err
    assert "NUMBER_HASH_KEY" in run.err
