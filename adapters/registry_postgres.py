"""Registry sources in the do-not-call list's PostgreSQL database (``DNC_DATABASE_URL``).

An import is one transaction: the file is streamed with COPY into a temporary table, its
distinct numbers inserted beside the source's current ones under an import id of its own,
and the source pointed at that id. Readers see the old numbers until it commits (MVCC: they
never wait for it), and an import that fails leaves nothing behind. The replaced rows are
deleted afterwards. A session advisory lock lets one import or removal run at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from itertools import islice
from typing import Any

from psycopg import AsyncConnection

from adapters.postgres_pool import Pool
from adapters.registry import Imported, NoNumbers, RegistryBusy, RegistrySource, SourceFile

_IMPORT_LOCK = 0x444E4352  # "DNCR"
# Numbers per COPY write (and per read of the file, off the event loop).
_COPY_BATCH = 20_000

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS registry_imports ("
    " id BIGSERIAL PRIMARY KEY,"
    " source TEXT NOT NULL,"
    " started_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS registry_numbers ("
    " import_id BIGINT NOT NULL,"
    " number TEXT NOT NULL CHECK (number ~ '^\\+[1-9][0-9]{1,14}$'),"
    # Number first: the lookup before every dial is one probe of this index.
    " PRIMARY KEY (number, import_id))",
    "CREATE INDEX IF NOT EXISTS registry_numbers_import ON registry_numbers (import_id)",
    "CREATE TABLE IF NOT EXISTS registry_sources ("
    " name TEXT PRIMARY KEY,"
    " import_id BIGINT NOT NULL UNIQUE,"
    " rows BIGINT NOT NULL,"
    " imported_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
    " file_name TEXT NOT NULL,"
    " file_sha256 TEXT NOT NULL)",
)

# The current sources that list a number (``%s``): what ``contains`` and ``listings`` ask.
SOURCES_OF = (
    "SELECT s.name FROM registry_numbers n JOIN registry_sources s ON s.import_id = n.import_id"
    " WHERE n.number = %s"
)

Connection = AsyncConnection[Any]


def _next_batch(numbers: Iterator[str]) -> list[str]:
    return list(islice(numbers, _COPY_BATCH))


class PostgresRegistry:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[Connection]:
        """A connection holding the import lock, in autocommit: each ``transaction()`` block
        then commits on its own."""
        async with self._pool.connection() as db:
            await db.set_autocommit(True)
            try:
                cursor = await db.execute("SELECT pg_try_advisory_lock(%s)", (_IMPORT_LOCK,))
                locked = await cursor.fetchone()
                if not (locked and locked[0]):
                    raise RegistryBusy(
                        "another registry import or removal is running on DNC_DATABASE_URL's"
                        " database"
                    )
                try:
                    await self._delete_abandoned(db)
                    yield db
                finally:
                    if not db.broken:
                        await db.execute("SELECT pg_advisory_unlock(%s)", (_IMPORT_LOCK,))
            finally:
                if not db.broken:
                    await db.set_autocommit(False)

    async def import_source(
        self, name: str, numbers: Iterable[str], source: SourceFile
    ) -> Imported:
        it = iter(numbers)
        async with self._exclusive() as db:
            async with db.transaction():
                cursor = await db.execute(
                    "INSERT INTO registry_imports (source) VALUES (%s) RETURNING id", (name,)
                )
                row = await cursor.fetchone()
                assert row is not None
                import_id = row[0]
                await db.execute(
                    "CREATE TEMP TABLE registry_staging (number TEXT NOT NULL) ON COMMIT DROP"
                )
                async with (
                    db.cursor() as copying,
                    copying.copy("COPY registry_staging (number) FROM STDIN") as copy,
                ):
                    # E.164 holds no tab, newline or backslash: COPY's text form as it is.
                    while batch := await asyncio.to_thread(_next_batch, it):
                        await copy.write("".join(f"{number}\n" for number in batch))
                cursor = await db.execute(
                    "INSERT INTO registry_numbers (import_id, number)"
                    " SELECT %s, number FROM registry_staging ON CONFLICT DO NOTHING",
                    (import_id,),
                )
                rows = cursor.rowcount
                if rows == 0:
                    raise NoNumbers(f"{source.name}: no number in the file; {name} is unchanged")
                cursor = await db.execute(
                    "SELECT import_id, rows FROM registry_sources WHERE name = %s FOR UPDATE",
                    (name,),
                )
                old = await cursor.fetchone()
                await db.execute(
                    "INSERT INTO registry_sources (name, import_id, rows, file_name, file_sha256)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET"
                    " import_id = excluded.import_id, rows = excluded.rows, imported_at = now(),"
                    " file_name = excluded.file_name, file_sha256 = excluded.file_sha256",
                    (name, import_id, rows, *source),
                )
            if old is not None:
                async with db.transaction():
                    await self._delete_import(db, old[0])
            return Imported(rows, old[1] if old else 0)

    async def remove_source(self, name: str) -> int | None:
        """Delete a source and its numbers; its row count, or None when there was none."""
        async with self._exclusive() as db, db.transaction():
            cursor = await db.execute(
                "DELETE FROM registry_sources WHERE name = %s RETURNING import_id, rows", (name,)
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            await self._delete_import(db, row[0])
            return int(row[1])

    async def sources(self) -> list[RegistrySource]:
        async with self._pool.connection() as db:
            cursor = await db.execute(
                "SELECT name, rows, imported_at, file_name, file_sha256 FROM registry_sources"
                " ORDER BY name"
            )
            rows = await cursor.fetchall()
        return [RegistrySource(*row) for row in rows]

    async def _delete_abandoned(self, db: Connection) -> None:
        """Imports no source points at: a replaced one whose rows a killed import had not
        deleted yet (an import's own failure rolls back whole)."""
        abandoned = (
            "SELECT id FROM registry_imports"
            " WHERE id NOT IN (SELECT import_id FROM registry_sources)"
        )
        async with db.transaction():
            await db.execute(f"DELETE FROM registry_numbers WHERE import_id IN ({abandoned})")
            await db.execute(f"DELETE FROM registry_imports WHERE id IN ({abandoned})")

    async def _delete_import(self, db: Connection, import_id: int) -> None:
        await db.execute("DELETE FROM registry_numbers WHERE import_id = %s", (import_id,))
        await db.execute("DELETE FROM registry_imports WHERE id = %s", (import_id,))
