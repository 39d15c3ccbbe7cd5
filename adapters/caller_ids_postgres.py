"""Caller-ID pools on PostgreSQL (``DNC_DATABASE_URL``'s database): one count of each
number's calls today for every worker, so a daily cap holds across hosts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.caller_ids import CANDIDATES, CLAIM, LISTING, Candidate, PoolNumber, ranked
from adapters.caller_ids import usage_day as _usage_day
from adapters.postgres_pool import SchemaStore

# Taken for the statements that create the schema (adapters/postgres_pool.py).
_SCHEMA_LOCK = 0x43494450  # "CIDP"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS caller_id_numbers ("
    " number TEXT PRIMARY KEY CHECK (number ~ '^\\+[1-9][0-9]{1,14}$'),"
    " pool TEXT NOT NULL,"
    " daily_cap INTEGER CHECK (daily_cap > 0),"
    " rested_until TIMESTAMPTZ,"
    " rested_reason TEXT,"
    " added_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS caller_id_numbers_pool ON caller_id_numbers (pool)",
    "CREATE TABLE IF NOT EXISTS caller_id_usage ("
    " number TEXT NOT NULL REFERENCES caller_id_numbers ON DELETE CASCADE,"
    " day DATE NOT NULL,"
    " used INTEGER NOT NULL,"
    " PRIMARY KEY (number, day))",
    # Which number each attempt got: a retried pick answers the same, counted once.
    "CREATE TABLE IF NOT EXISTS caller_id_picks ("
    " idempotency_key TEXT PRIMARY KEY,"
    " number TEXT NOT NULL,"
    " picked_at TIMESTAMPTZ NOT NULL DEFAULT now())",
)


class PostgresCallerIdStore(SchemaStore):
    """The pools in PostgreSQL through a small connection pool; open with :meth:`connect`."""

    schema_lock = _SCHEMA_LOCK
    schema = _SCHEMA

    async def add(self, number: str, pool: str, daily_cap: int | None) -> None:
        async with self._pool.connection() as db:
            await db.execute(
                "INSERT INTO caller_id_numbers (number, pool, daily_cap) VALUES (%s, %s, %s)"
                " ON CONFLICT (number) DO UPDATE"
                " SET pool = excluded.pool, daily_cap = excluded.daily_cap",
                (number, pool, daily_cap),
            )

    async def remove(self, number: str) -> bool:
        async with self._pool.connection() as db:
            cursor = await db.execute("DELETE FROM caller_id_numbers WHERE number = %s", (number,))
            return cursor.rowcount > 0

    async def numbers(self, pool: str | None, now: datetime) -> list[PoolNumber]:
        query = LISTING.format(p="%s")
        params: tuple[Any, ...] = (_usage_day(now),)
        if pool is not None:
            query += " WHERE n.pool = %s"
            params += (pool,)
        async with self._pool.connection() as db:
            cursor = await db.execute(query + " ORDER BY n.pool, n.number", params)
            rows = await cursor.fetchall()
        return [PoolNumber(*row) for row in rows]

    async def _set_rest(self, number: str, until: datetime | None, reason: str | None) -> bool:
        async with self._pool.connection() as db:
            cursor = await db.execute(
                "UPDATE caller_id_numbers SET rested_until = %s, rested_reason = %s"
                " WHERE number = %s",
                (until, reason, number),
            )
            return cursor.rowcount > 0

    async def rest(self, number: str, until: datetime, reason: str) -> bool:
        return await self._set_rest(number, until.astimezone(UTC), reason)

    async def restore(self, number: str) -> bool:
        return await self._set_rest(number, None, None)

    async def pick(self, key: str, pool: str, to_number: str, now: datetime) -> str | None:
        day = _usage_day(now)
        async with self._pool.connection() as db, db.transaction():
            cursor = await db.execute(
                "SELECT number FROM caller_id_picks WHERE idempotency_key = %s", (key,)
            )
            known = await cursor.fetchone()
            if known is not None:
                return str(known[0])
            cursor = await db.execute(CANDIDATES.format(p="%s"), (day, pool, now))
            rows = await cursor.fetchall()
            for number in ranked((Candidate(*row) for row in rows), to_number):
                # The cap is checked again in the claim itself: another worker may have
                # taken the last call since the candidates were read.
                cursor = await db.execute(CLAIM.format(p="%s"), (day, number))
                if await cursor.fetchone() is not None:
                    await db.execute(
                        "INSERT INTO caller_id_picks (idempotency_key, number) VALUES (%s, %s)",
                        (key, number),
                    )
                    return number
        return None
