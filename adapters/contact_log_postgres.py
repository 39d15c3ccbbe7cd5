"""The contact log on PostgreSQL (``DNC_DATABASE_URL``'s database): one count of each
person's contacts for every worker of a deployment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from adapters.contact_log import ContactClaim, horizon, judged
from adapters.postgres_pool import SchemaStore
from calls.contact_limits import ContactLimit

# Taken for the statements that create the schema (adapters/postgres_pool.py).
_SCHEMA_LOCK = 0x434F4E54  # "CONT"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS contact_log ("
    " idempotency_key TEXT PRIMARY KEY,"
    " number_key TEXT NOT NULL,"
    " contacted_at TIMESTAMPTZ NOT NULL)",
    "CREATE INDEX IF NOT EXISTS contact_log_number ON contact_log (number_key, contacted_at)",
)


class PostgresContactLog(SchemaStore):
    schema_lock = _SCHEMA_LOCK
    schema = _SCHEMA

    async def claim(
        self, key: str, number_key: str, limits: Sequence[ContactLimit], now: datetime
    ) -> ContactClaim:
        now = now.astimezone(UTC)
        since = horizon(limits, now)
        async with self._pool.connection() as db, db.transaction():
            # One claim per number at a time, on every worker: the count and the insert
            # below cannot interleave with another's (a row lock cannot hold a row not yet
            # there; this lock holds the number).
            await db.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_SCHEMA_LOCK, number_key)
            )
            await db.execute(
                "DELETE FROM contact_log WHERE number_key = %s AND contacted_at <= %s",
                (number_key, since),
            )
            cursor = await db.execute(
                "SELECT 1 FROM contact_log WHERE idempotency_key = %s", (key,)
            )
            known = await cursor.fetchone() is not None
            cursor = await db.execute(
                "SELECT contacted_at FROM contact_log WHERE number_key = %s AND contacted_at > %s",
                (number_key, since),
            )
            times = [row[0] for row in await cursor.fetchall()]
            claim = judged(known, times, limits, now)
            if claim.allowed and not known:
                await db.execute(
                    "INSERT INTO contact_log VALUES (%s, %s, %s)", (key, number_key, now)
                )
            return claim

    async def forget(self, key: str) -> None:
        async with self._pool.connection() as db:
            await db.execute("DELETE FROM contact_log WHERE idempotency_key = %s", (key,))

    async def recent(self, number_key: str, since: datetime) -> list[datetime]:
        async with self._pool.connection() as db:
            cursor = await db.execute(
                "SELECT contacted_at FROM contact_log WHERE number_key = %s AND contacted_at > %s"
                " ORDER BY contacted_at",
                (number_key, since.astimezone(UTC)),
            )
            return [row[0] for row in await cursor.fetchall()]
