"""Registry sources in both do-not-call stores, a real SQLite file and a real PostgreSQL
server: import, replace (the old numbers answer until the new import commits; a failed one
leaves them), remove, and one import at a time."""

from __future__ import annotations

import asyncio
import fcntl
import io
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest

from adapters import registry_sqlite
from adapters.dnc_postgres import PostgresDoNotCallList
from adapters.dnc_store import ManagedDoNotCallList, warn_of_stale_sources
from adapters.do_not_call import SqliteDoNotCallList
from adapters.registry import NoNumbers, RegistryBusy, SourceFile
from adapters.registry_file import RegistryReader

FILE = SourceFile("national.txt", "ab" * 32)
OLD, NEW, BOTH = "+14155550101", "+14155550102", "+14155550103"


@pytest.fixture(params=["sqlite", "postgres"])
def pg_url(request: pytest.FixtureRequest) -> str | None:
    """None: the SQLite file; else DNC_DATABASE_URL's database on the test server."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("dnc_database_url")
    return url


@pytest.fixture
async def store(pg_url: str | None, tmp_path: Path) -> AsyncIterator[ManagedDoNotCallList]:
    if pg_url is None:
        yield SqliteDoNotCallList(tmp_path / "dnc.sqlite3")
        return
    async with PostgresDoNotCallList.connect(pg_url) as shared:
        yield shared


def stored_rows(tmp_path: Path, url: str | None) -> int:
    """Every row of registry_numbers, current or not: what an abandoned import left."""
    query = "SELECT count(*) FROM registry_numbers"
    if url is None:
        with sqlite3.connect(tmp_path / "dnc.sqlite3") as db:
            return int(db.execute(query).fetchone()[0])
    with psycopg.connect(url) as pg:
        row = pg.execute(query).fetchone()
        assert row is not None
        return int(row[0])


def reader(text: str) -> RegistryReader:
    return RegistryReader(io.BytesIO(text.encode()))


async def test_both_formats_import_and_every_listed_number_is_refused(
    store: ManagedDoNotCallList,
) -> None:
    file = "415,5550101\n4155550102\n+14155550103\n415,5550101\nbad line\n+442071838750\n"
    read = reader(file)
    imported = await store.import_source("national-2026-12", read, FILE)
    assert imported.rows == 4  # the repeated number once
    assert imported.replaced_rows == 0
    assert (read.lines, read.numbers, read.bad) == (6, 5, 1)
    for number in (OLD, NEW, BOTH, "+442071838750"):
        assert await store.contains(number), number
    assert not await store.contains("+14155550199")
    (source,) = await store.sources()
    assert (source.name, source.rows, source.file_name, source.file_sha256) == (
        "national-2026-12",
        4,
        FILE.name,
        FILE.sha256,
    )
    # Where a number is listed: each source, and our own list apart.
    await store.import_source("state-fl", reader("4155550103\n"), FILE)
    await store.add(BOTH, "asked by email")
    found = await store.listings(BOTH)
    assert (found.ours, found.sources) == (True, ("national-2026-12", "state-fl"))
    assert (await store.listings(OLD)).sources == ("national-2026-12",)
    assert not (await store.listings("+14155550199")).listed


async def test_a_reimport_replaces_the_source_and_old_numbers_answer_until_it_commits(
    store: ManagedDoNotCallList,
    pg_url: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Batches of two rows: the new import commits several before it switches the source.
    monkeypatch.setattr(registry_sqlite, "BATCH_ROWS", 2)
    await store.import_source("national", reader(f"{OLD}\n{BOTH}\n"), FILE)
    await store.import_source("other", reader(f"{BOTH}\n"), FILE)
    loop = asyncio.get_running_loop()
    seen: dict[str, bool] = {}

    def numbers() -> Iterator[str]:
        # Consumed off the event loop (both stores read the file in a thread): ask the store
        # on the loop, while the import is half done.
        yield from (NEW, BOTH, "+14155550104", "+14155550105", "+14155550106")
        for number in (OLD, NEW):
            seen[number] = asyncio.run_coroutine_threadsafe(store.contains(number), loop).result()
        yield "+14155550107"

    imported = await store.import_source("national", numbers(), FILE)
    assert seen == {OLD: True, NEW: False}
    assert imported == (6, 2)
    assert not await store.contains(OLD)
    assert await store.contains(NEW)
    assert (await store.listings(BOTH)).sources == ("national", "other")
    assert [(s.name, s.rows) for s in await store.sources()] == [("national", 6), ("other", 1)]
    assert stored_rows(tmp_path, pg_url) == 7  # the replaced rows are gone


async def test_a_failed_import_leaves_the_old_numbers_and_the_next_one_cleans_up(
    store: ManagedDoNotCallList,
    pg_url: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry_sqlite, "BATCH_ROWS", 2)
    await store.import_source("national", reader(f"{OLD}\n"), FILE)

    def broken() -> Iterator[str]:
        yield from (NEW, BOTH, "+14155550104", "+14155550105")
        raise EOFError("the download was cut short")

    with pytest.raises(EOFError):
        await store.import_source("national", broken(), FILE)
    assert await store.contains(OLD)
    assert not await store.contains(NEW)
    assert [(s.name, s.rows) for s in await store.sources()] == [("national", 1)]
    # A file without a number would empty the source: refused, the old numbers kept.
    with pytest.raises(NoNumbers):
        await store.import_source("national", reader("no numbers here\n"), FILE)
    assert await store.contains(OLD)
    await store.import_source("national", reader(f"{NEW}\n"), FILE)
    assert not await store.contains(OLD)
    assert stored_rows(tmp_path, pg_url) == 1  # what the broken import wrote is gone


async def test_a_cancelled_import_leaves_the_source(
    store: ManagedDoNotCallList, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C cancels the CLI's task; the file is read in a thread, which must not go on to
    switch the source anyway."""
    monkeypatch.setattr(registry_sqlite, "BATCH_ROWS", 2)
    await store.import_source("national", reader(f"{OLD}\n"), FILE)

    def slow() -> Iterator[str]:
        for n in range(20):  # 0.4 s in all
            time.sleep(0.02)
            yield f"+1415555{2000 + n}"

    importing = asyncio.create_task(store.import_source("national", slow(), FILE))
    await asyncio.sleep(0.1)
    importing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await importing
    await asyncio.sleep(1.5)  # long past the file's end, had the import gone on
    assert await store.contains(OLD)
    assert not await store.contains("+14155552000")
    assert [(s.name, s.rows) for s in await store.sources()] == [("national", 1)]


async def test_remove_source(store: ManagedDoNotCallList) -> None:
    await store.import_source("national", reader(f"{OLD}\n{NEW}\n"), FILE)
    await store.import_source("other", reader(f"{NEW}\n"), FILE)
    assert await store.remove_source("national") == 2
    assert await store.remove_source("national") is None
    assert not await store.contains(OLD)
    assert await store.contains(NEW)  # still on the other source
    assert [s.name for s in await store.sources()] == ["other"]


@asynccontextmanager
async def import_lock_held(tmp_path: Path, url: str | None) -> AsyncIterator[None]:
    """What a running import holds, taken by another process's means."""
    if url is None:
        with (tmp_path / "dnc.sqlite3.registry-lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        return
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as pg:
        await pg.execute("SELECT pg_advisory_lock(%s)", (0x444E4352,))
        try:
            yield
        finally:
            # Not left to the close: the server ends the session a moment after it.
            await pg.execute("SELECT pg_advisory_unlock(%s)", (0x444E4352,))


async def test_one_import_or_removal_at_a_time(
    store: ManagedDoNotCallList, pg_url: str | None, tmp_path: Path
) -> None:
    await store.import_source("national", reader(f"{OLD}\n"), FILE)
    async with import_lock_held(tmp_path, pg_url):
        with pytest.raises(RegistryBusy, match="another registry import"):
            await store.import_source("national", reader(f"{NEW}\n"), FILE)
        with pytest.raises(RegistryBusy):
            await store.remove_source("national")
        assert await store.contains(OLD)  # checks never wait for the lock
    await store.import_source("national", reader(f"{NEW}\n"), FILE)
    assert await store.contains(NEW)


async def test_stale_sources_are_named(
    store: ManagedDoNotCallList, pg_url: str | None, tmp_path: Path
) -> None:
    await store.import_source("fresh", reader(f"{OLD}\n"), FILE)
    await store.import_source("old", reader(f"{NEW}\n"), FILE)
    update = "UPDATE registry_sources SET imported_at = {} WHERE name = 'old'"
    if pg_url is None:
        with sqlite3.connect(tmp_path / "dnc.sqlite3") as db:
            db.execute(update.format("'2020-01-01T00:00:00+00:00'"))
    else:
        with psycopg.connect(pg_url) as pg:
            pg.execute(update.format("now() - interval '32 days'"))
    assert await warn_of_stale_sources(store) == ["old"]


async def test_postgres_refuses_what_is_not_e164_and_looks_numbers_up_by_index(
    dnc_database_url: str,
) -> None:
    async with PostgresDoNotCallList.connect(dnc_database_url) as store:
        await store.import_source("national", reader(f"{OLD}\n"), FILE)
        with pytest.raises(psycopg.errors.CheckViolation):
            await store.import_source("national", iter(["4155550123"]), FILE)
        assert await store.contains(OLD)
    with psycopg.connect(dnc_database_url) as db:
        db.execute("SET enable_seqscan = off")  # a tiny table: ask whether an index exists
        plan = db.execute(
            "EXPLAIN SELECT 1 FROM registry_numbers WHERE number = %s", (OLD,)
        ).fetchall()
    assert "registry_numbers_pkey" in " ".join(row[0] for row in plan)
