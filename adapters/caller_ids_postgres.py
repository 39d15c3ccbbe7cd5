"""Caller-ID pools on PostgreSQL (``DNC_DATABASE_URL``'s database): one count of each
number's calls today for every worker, so a daily cap holds across hosts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from adapters.caller_ids import (
    CLAIM,
    HEALTH_OF,
    HEALTH_TABLE,
    LISTING,
    POOL_RATE,
    POOL_ROWS,
    RESULT_ONCE,
    SAVE_HEALTH,
    SET_REST,
    CallerIdPick,
    PoolNumber,
    PoolRow,
    choose,
    none_usable,
)
from adapters.caller_ids import usage_day as _usage_day
from adapters.postgres_pool import SchemaStore
from calls.caller_id_health import Health, HealthRules, PoolRate, ResultKind, Verdict, judge

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
    HEALTH_TABLE.format(number="TEXT REFERENCES caller_id_numbers ON DELETE CASCADE"),
    # Which attempts' results were counted: a retried report counts once.
    "CREATE TABLE IF NOT EXISTS caller_id_results ("
    " idempotency_key TEXT PRIMARY KEY, number TEXT NOT NULL, kind TEXT NOT NULL)",
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
            cursor = await db.execute(SET_REST.format(p="%s"), (until, reason, number))
            return cursor.rowcount > 0

    async def rest(self, number: str, until: datetime, reason: str) -> bool:
        return await self._set_rest(number, until.astimezone(UTC), reason)

    async def restore(self, number: str) -> bool:
        return await self._set_rest(number, None, None)

    async def pick(self, key: str, pool: str, to_number: str, now: datetime) -> CallerIdPick:
        day = _usage_day(now)
        async with self._pool.connection() as db, db.transaction():
            cursor = await db.execute(
                "SELECT number FROM caller_id_picks WHERE idempotency_key = %s", (key,)
            )
            known = await cursor.fetchone()
            if known is not None:
                return CallerIdPick(str(known[0]))
            cursor = await db.execute(POOL_ROWS.format(p="%s"), (day, pool))
            rows = [PoolRow(*row) for row in await cursor.fetchall()]
            for number in choose(rows, to_number, now):
                # The cap is checked again in the claim itself: another worker may have
                # taken the last call since the rows were read.
                cursor = await db.execute(CLAIM.format(p="%s"), (day, number))
                if await cursor.fetchone() is not None:
                    await db.execute(
                        "INSERT INTO caller_id_picks (idempotency_key, number) VALUES (%s, %s)",
                        (key, number),
                    )
                    return CallerIdPick(number)
        return none_usable(rows, now)

    async def record_result(
        self, key: str, number: str, kind: ResultKind, rules: HealthRules, now: datetime
    ) -> Verdict | None:
        async with self._pool.connection() as db, db.transaction():
            # Locks the number's row: two results of one number are judged one after the other.
            cursor = await db.execute(
                "SELECT 1 FROM caller_id_numbers WHERE number = %s FOR UPDATE", (number,)
            )
            if await cursor.fetchone() is None:
                return None
            return await _judged(db, key, number, kind, rules, now)


async def _judged(
    db: AsyncConnection[Any],
    key: str,
    number: str,
    kind: ResultKind,
    rules: HealthRules,
    now: datetime,
) -> Verdict | None:
    cursor = await db.execute(RESULT_ONCE.format(p="%s"), (key, number, kind.value))
    if await cursor.fetchone() is None:
        return None
    cursor = await db.execute(HEALTH_OF.format(p="%s"), (number,))
    row = await cursor.fetchone()
    cursor = await db.execute(POOL_RATE.format(p="%s"), (number, number))
    totals = await cursor.fetchone()
    assert totals is not None  # an aggregate always answers one row
    verdict = judge(Health(*row) if row else Health(), kind, PoolRate(*totals), rules, now)
    await db.execute(SAVE_HEALTH.format(p="%s"), (number, *verdict.health))
    if verdict.rest_until is not None:
        await db.execute(SET_REST.format(p="%s"), (verdict.rest_until, verdict.reason, number))
    return verdict
