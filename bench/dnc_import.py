"""Importing a do-not-call registry file: rows/s, and the importing process's memory.

    .venv/bin/python -m bench.dnc_import [--rows 200000 1000000] [--no-postgres]

For each size a file of that many numbers in the National DNC Registry's full-list form
(``415,5550123`` a line, sorted, as the registry's downloads are) is written to
``--data-dir``. A fresh process per size and store (``--child``) then does what
``outbound-calls dnc import`` does, ``RegistryReader`` into the store's ``import_source``,
on a new SQLite file and, unless ``--no-postgres``, a new database on a PostgreSQL server
of its own (the ``pgserver`` wheel the tests use):

* ``parse``: the file read and parsed alone, no store: the baseline of the rates;
* ``import``: into an empty source; ``replace``: the same file again, which writes the new
  rows beside the old ones, switches the source and deletes the old rows.

Memory: the child's RSS just before the import (everything loaded, the store open, the file
parsed once) and its peak RSS (``getrusage`` ``ru_maxrss``, the process's high-water mark)
after import and replace. The peak over the RSS before is what the import held; compare it
across sizes: bounded means it does not follow the rows.

Printed and written to ``bench/results/dnc_import.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psutil

from adapters.dnc_postgres import PostgresDoNotCallList
from adapters.dnc_store import ManagedDoNotCallList
from adapters.do_not_call import SqliteDoNotCallList
from adapters.registry import SourceFile
from adapters.registry_file import RegistryReader, file_sha256
from bench.common import print_table, write_result

MIB = 1024 * 1024


def write_registry_file(path: Path, rows: int) -> None:
    """``rows`` distinct numbers, area code by area code, as the registry's download lists
    them."""
    with path.open("w") as out:
        for i in range(rows):
            area, local = 201 + i // 8_000_000, 2_000_000 + i % 8_000_000
            out.write(f"{area},{local}\n")


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


@asynccontextmanager
async def _store(kind: str, where: str) -> AsyncIterator[ManagedDoNotCallList]:
    if kind == "sqlite":
        yield SqliteDoNotCallList(Path(where))
        return
    async with PostgresDoNotCallList.connect(where) as shared:
        yield shared


async def _timed_import(store: ManagedDoNotCallList, path: Path, source: SourceFile) -> float:
    began = time.perf_counter()
    with path.open("rb") as stream:
        await store.import_source("national", RegistryReader(stream), source)
    return time.perf_counter() - began


async def child(kind: str, where: str, path: Path, rows: int) -> dict[str, Any]:
    """One size into one store, in this process alone: its figures as JSON on stdout."""
    source = SourceFile(path.name, file_sha256(path))
    async with _store(kind, where) as store:
        began = time.perf_counter()
        with path.open("rb") as stream:
            parsed = sum(1 for _ in RegistryReader(stream))
        parse_s = time.perf_counter() - began
        assert parsed == rows, (parsed, rows)
        rss_before = psutil.Process().memory_info().rss
        peak_before = _peak_rss()
        import_s = await _timed_import(store, path, source)
        peak_import = _peak_rss()
        replace_s = await _timed_import(store, path, source)
        (listed,) = await store.sources()
        assert listed.rows == rows, (listed.rows, rows)
    return {
        "store": kind,
        "rows": rows,
        "parse_rows_per_s": round(rows / parse_s),
        "import_rows_per_s": round(rows / import_s),
        "replace_rows_per_s": round(rows / replace_s),
        "import_vs_parse": round(parse_s / import_s, 3),
        "rss_before_mib": round(rss_before / MIB, 1),
        "peak_before_mib": round(peak_before / MIB, 1),
        "peak_after_import_mib": round(peak_import / MIB, 1),
        "peak_after_replace_mib": round(_peak_rss() / MIB, 1),
        "peak_over_before_mib": round((_peak_rss() - rss_before) / MIB, 1),
    }


def run_child(kind: str, where: str, path: Path, rows: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.dnc_import", "--child", kind, where, str(path), str(rows)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed ({kind}, {rows} rows):\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


class _Postgres:
    """A PostgreSQL server of the benchmark's own (the ``pgserver`` wheel), one database per
    run."""

    def __init__(self, data_dir: Path) -> None:
        from pgserver.postgres_server import get_server

        self._server = get_server(data_dir, cleanup_mode="stop")

    def new_database(self) -> str:
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self._server.get_uri(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self._server.get_uri(name)

    def stop(self) -> None:
        self._server.cleanup()


def main_parent(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-dnc-", dir=args.data_dir))
    postgres = _Postgres(work / "pgdata") if args.postgres else None
    runs: list[dict[str, Any]] = []
    try:
        for rows in args.rows:
            path = work / f"registry-{rows}.txt"
            began = time.monotonic()
            write_registry_file(path, rows)
            print(f"{rows:,} numbers written in {time.monotonic() - began:.1f}s", flush=True)
            runs.append(run_child("sqlite", str(work / f"dnc-{rows}.sqlite3"), path, rows))
            if postgres is not None:
                runs.append(run_child("postgres", postgres.new_database(), path, rows))
            path.unlink()
    finally:
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
    for run in runs:
        print_table(f"{run['store']}, {run['rows']:,} numbers", run.items())
    growth: dict[str, float] = {}
    for kind in ("sqlite", "postgres"):
        mine = [r for r in runs if r["store"] == kind]
        if len(mine) >= 2:
            smallest, largest = mine[0], mine[-1]
            growth[kind] = round(
                largest["peak_over_before_mib"] / max(smallest["peak_over_before_mib"], 0.1), 2
            )
    print_table(
        "peak RSS over the RSS before, largest size / smallest (1.0: bounded)", growth.items()
    )
    parameters = {"rows": args.rows, "postgres": args.postgres, "data_dir": str(args.data_dir)}
    write_result("dnc_import", parameters, {"runs": runs, "peak_growth": growth})
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--no-postgres", dest="postgres", action="store_false", help="SQLite only")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="where the files and databases go (default: the temp directory, on disk)",
    )
    parser.add_argument("--child", nargs=4, metavar=("STORE", "WHERE", "FILE", "ROWS"))
    args = parser.parse_args()
    if args.child:
        kind, where, path, rows = args.child
        print(json.dumps(asyncio.run(child(kind, where, Path(path), int(rows)))))
        return 0
    args.data_dir.mkdir(parents=True, exist_ok=True)
    return main_parent(args)


if __name__ == "__main__":
    sys.exit(main())
