"""The do-not-call list on PostgreSQL (``DNC_DATABASE_URL``): one list for every worker.

A SQLite file serves the workers of one host; with workers on several hosts, a person who
said "don't call me again" to one of them must not be dialled by another, so they all read
and write these tables.

Numbers are stored in E.164, in clear (a CHECK keeps anything else out). A keyed hash was
weighed and refused: the list must be listed and audited (``outbound-calls dnc list``,
a regulator's request), which a hash cannot do, and a hash of a number is no secret anyway
(a country's numbers are a few billion: all of them hash in minutes) unless its key lives
apart from the database, which every worker needs anyway. Privacy comes from the list's own
database and role (the compose stack creates both), not from obscuring the column.
"""

from __future__ import annotations

from collections.abc import Iterable

from adapters.do_not_call import ListedNumber, Listings
from adapters.postgres_pool import SchemaStore
from adapters.registry import Imported, RegistrySource, SourceFile
from adapters.registry_postgres import SCHEMA as REGISTRY_SCHEMA
from adapters.registry_postgres import SOURCES_OF, PostgresRegistry

# Taken for the statements that create the schema (adapters/postgres_pool.py).
_SCHEMA_LOCK = 0x444E435F  # "DNC_"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS do_not_call ("
    " number TEXT PRIMARY KEY CHECK (number ~ '^\\+[1-9][0-9]{1,14}$'),"  # the index
    " reason TEXT NOT NULL,"
    " added_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    # Who took a number off the list, and why: removals are kept, never forgotten.
    "CREATE TABLE IF NOT EXISTS do_not_call_removals ("
    " id BIGSERIAL PRIMARY KEY,"
    " number TEXT NOT NULL,"
    " listed_reason TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " removed_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS do_not_call_removals_number ON do_not_call_removals (number)",
    *REGISTRY_SCHEMA,
)


class PostgresDoNotCallList(SchemaStore):
    """The list in PostgreSQL through a small connection pool; open with :meth:`connect`.
    Registry sources live beside it (adapters/registry_postgres.py): a number on either is
    on the list."""

    schema_lock = _SCHEMA_LOCK
    schema = _SCHEMA

    async def contains(self, number: str) -> bool:
        async with self._pool.connection() as db:
            cursor = await db.execute(
                "SELECT EXISTS (SELECT 1 FROM do_not_call WHERE number = %s)"
                f" OR EXISTS ({SOURCES_OF})",
                (number, number),
            )
            row = await cursor.fetchone()
        return bool(row and row[0])

    async def listings(self, number: str) -> Listings:
        async with self._pool.connection() as db:
            cursor = await db.execute("SELECT 1 FROM do_not_call WHERE number = %s", (number,))
            ours = await cursor.fetchone() is not None
            cursor = await db.execute(f"{SOURCES_OF} ORDER BY s.name", (number,))
            sources = tuple(name for (name,) in await cursor.fetchall())
        return Listings(ours, sources)

    async def import_source(
        self, name: str, numbers: Iterable[str], source: SourceFile
    ) -> Imported:
        """Replace registry source ``name`` by ``numbers`` in one transaction."""
        return await PostgresRegistry(self._pool).import_source(name, numbers, source)

    async def sources(self) -> list[RegistrySource]:
        return await PostgresRegistry(self._pool).sources()

    async def remove_source(self, name: str) -> int | None:
        """Delete a registry source; its row count, or None when there was none."""
        return await PostgresRegistry(self._pool).remove_source(name)

    async def add(self, number: str, reason: str) -> None:
        async with self._pool.connection() as db:
            await db.execute(
                "INSERT INTO do_not_call (number, reason) VALUES (%s, %s)"
                " ON CONFLICT (number) DO NOTHING",
                (number, reason),
            )

    async def entries(self) -> list[ListedNumber]:
        """Every listed number, oldest first."""
        async with self._pool.connection() as db:
            cursor = await db.execute(
                "SELECT number, reason, added_at FROM do_not_call ORDER BY added_at, number"
            )
            rows = await cursor.fetchall()
        return [ListedNumber(number, reason, added.isoformat()) for number, reason, added in rows]

    async def remove(self, number: str, reason: str) -> bool:
        """Take ``number`` off the list, recording why; False when it was not listed."""
        async with self._pool.connection() as db, db.transaction():
            cursor = await db.execute(
                "DELETE FROM do_not_call WHERE number = %s RETURNING reason", (number,)
            )
            row = await cursor.fetchone()
            if row is None:
                return False
            await db.execute(
                "INSERT INTO do_not_call_removals (number, listed_reason, reason)"
                " VALUES (%s, %s, %s)",
                (number, row[0], reason),
            )
        return True
