"""``outbound-calls dnc import / sources / remove-source / check`` through the real CLI
process, on the SQLite file the workers read (DO_NOT_CALL_DB) and on PostgreSQL
(DNC_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import csv
import gzip
import hashlib
import io
import json
import sqlite3
import zipfile
from pathlib import Path

import psycopg

from tests.helpers.cli_runner import CliRun, cli_env, run_cli

# The National DNC Registry's full-list form, one number a line in several writings, and
# lines that are none of these.
REGISTRY_FILE = (
    "415,5550101\n"
    "415,5550102\n"
    "4155550103\n"
    "+14155550104\n"
    "\n"
    "(415) 555-0105\n"
    "not a number\n"
    "415,555010\n"
    "+442071838750\n"
    "415,5550101\n"
)
LISTED = [f"+1415555010{n}" for n in range(1, 6)] + ["+442071838750"]


class Cli:
    def __init__(self, tmp_path: Path, **settings: str) -> None:
        self._env = cli_env(DO_NOT_CALL_DB=str(tmp_path / "dnc.sqlite3"), **settings)
        self._cwd = tmp_path

    async def run(self, *args: str) -> CliRun:
        return await run_cli("dnc", *args, env=self._env, cwd=self._cwd)

    async def ok(self, *args: str) -> str:
        run = await self.run(*args)
        assert run.code == 0, run.err
        return run.out


async def test_import_both_formats_report_bad_lines_replace_and_remove(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    first = tmp_path / "national-2026-11.txt"
    first.write_text(REGISTRY_FILE)
    run = await cli.run("import", str(first), "--source", "national", "-o", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["rows"] == 6  # 8 numbers, one of them twice
    assert (report["lines"], report["numbers"], report["bad_lines"]) == (10, 7, 2)
    assert report["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert [(b["line"], b["reason"]) for b in report["first_bad_lines"]] == [
        (7, "not a phone number"),
        (8, "expected area code,number (3 and 7 digits)"),
    ]
    assert "line 7: not a phone number" in run.err
    # At once: each run is an interpreter start.
    checks = await asyncio.gather(*(cli.ok("check", n, "-o", "json") for n in LISTED))
    for number, out in zip(LISTED, checks, strict=True):
        check = json.loads(out)
        assert check["listed"], number
        assert check["registry_sources"] == ["national"], number
        assert check["number"] != number  # masked
    assert not json.loads(await cli.ok("check", "+14155550199", "-o", "json"))["listed"]

    (source,) = json.loads(await cli.ok("sources", "-o", "json"))
    assert (source["source"], source["rows"], source["file"], source["stale"]) == (
        "national",
        6,
        first.name,
        False,
    )
    assert source["age_days"] == 0.0
    rows = list(csv.DictReader(io.StringIO(await cli.ok("sources", "-o", "csv"))))
    assert [(r["source"], r["rows"], r["stale"]) for r in rows] == [("national", "6", "no")]
    assert "national" in await cli.ok("sources")

    # A re-import replaces the source's numbers.
    second = tmp_path / "national-2026-12.txt"
    second.write_text("415,5550106\n415,5550101\n")
    replaced = json.loads(await cli.ok("import", str(second), "--source", "national", "-o", "json"))
    assert (replaced["rows"], replaced["replaced_rows"]) == (2, 6)
    assert not json.loads(await cli.ok("check", "+14155550102", "-o", "json"))["listed"]
    assert json.loads(await cli.ok("check", "+14155550106", "-o", "json"))["listed"]

    await cli.ok("import", str(first), "--source", "state-fl")
    assert [s["source"] for s in json.loads(await cli.ok("sources", "-o", "json"))] == [
        "national",
        "state-fl",
    ]
    removed = await cli.run("remove-source", "state-fl")
    assert removed.code == 0, removed.err
    assert "state-fl removed (6 numbers)" in removed.err
    again = await cli.run("remove-source", "state-fl")
    assert again.code == 1
    assert "no registry source 'state-fl'" in again.err
    assert not json.loads(await cli.ok("check", "+14155550102", "-o", "json"))["listed"]


async def test_zipped_and_gzipped_downloads_and_a_cut_one_keeps_the_source(
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path)
    zipped = tmp_path / "2026-12.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("415.txt", "415,5550101\n415,5550102\n")
    await cli.ok("import", str(zipped), "--source", "national")
    assert json.loads(await cli.ok("check", "+14155550102", "-o", "json"))["listed"]

    whole = gzip.compress("".join(f"415,{5550000 + n}\n" for n in range(150_000)).encode())
    cut = tmp_path / "2027-01.txt.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])  # the download stopped short
    run = await cli.run("import", str(cut), "--source", "national")
    assert run.code == 1
    assert "cannot read 2027-01.txt.gz" in run.err
    assert "national is unchanged" in run.err
    (source,) = json.loads(await cli.ok("sources", "-o", "json"))
    assert (source["rows"], source["file"]) == (2, zipped.name)
    assert json.loads(await cli.ok("check", "+14155550102", "-o", "json"))["listed"]

    gzipped = tmp_path / "2027-01-again.txt.gz"
    gzipped.write_bytes(whole)
    assert (
        json.loads(await cli.ok("import", str(gzipped), "--source", "national", "-o", "json"))[
            "rows"
        ]
        == 150_000
    )
    # The cut import's rows were deleted by the next one.
    with sqlite3.connect(tmp_path / "dnc.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM registry_numbers").fetchone() == (150_000,)


async def test_refusals(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    good = tmp_path / "good.txt"
    good.write_text("415,5550101\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("nothing,to,see\n\n")
    await cli.ok("import", str(good), "--source", "national")
    cases = {
        ("import", str(good), "--source", "no spaces"): (2, "rule: source_name"),
        ("import", str(good), "--source", "x", "--region", "XX"): (2, "rule: region"),
        ("import", str(tmp_path / "missing.txt"), "--source", "x"): (2, "is not a file"),
        ("import", str(good)): (2, "--source"),
        ("import", str(empty), "--source", "national"): (1, "no number in the file"),
        ("remove-source", "bad name"): (2, "rule: source_name"),
    }
    runs = await asyncio.gather(*(cli.run(*args) for args in cases))
    for (args, (code, expected)), run in zip(cases.items(), runs, strict=True):
        assert run.code == code, (args, run.err)
        assert expected in run.err, (args, run.err)
    (source,) = json.loads(await cli.ok("sources", "-o", "json"))
    assert source["rows"] == 1  # the empty file changed nothing


async def test_the_commands_use_the_shared_list(dnc_database_url: str, tmp_path: Path) -> None:
    cli = Cli(tmp_path, DNC_DATABASE_URL=dnc_database_url)
    file = tmp_path / "national.txt"
    file.write_text(REGISTRY_FILE)
    report = json.loads(await cli.ok("import", str(file), "--source", "national", "-o", "json"))
    assert report["rows"] == 6
    with psycopg.connect(dnc_database_url) as db:
        assert db.execute("SELECT name, rows FROM registry_sources").fetchall() == [("national", 6)]
    assert [s["source"] for s in json.loads(await cli.ok("sources", "-o", "json"))] == ["national"]
    assert json.loads(await cli.ok("check", "+14155550105", "-o", "json"))["listed"]
    await cli.ok("remove-source", "national")
    with psycopg.connect(dnc_database_url) as db:
        assert db.execute("SELECT count(*) FROM registry_numbers").fetchone() == (0,)
    assert not (tmp_path / "dnc.sqlite3").exists()  # never the list the CLI used
