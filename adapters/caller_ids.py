"""Caller-ID pools: the account's numbers in named pools, each with an optional daily cap
and a rest, and how many calls each made today. The interface, the ranking every store
shares, and the default SQLite store (one host); ``adapters/caller_ids_postgres.py`` is the
one for every worker of a deployment.

Our own numbers are stored and shown in clear: they are the account's, not a person's
(docs/privacy.md), and an operator must see which one to rest.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NamedTuple, Protocol

from calls.caller_id_locality import locality


class PoolNumber(NamedTuple):
    number: str
    pool: str
    daily_cap: int | None
    used_today: int
    rested_until: datetime | None
    rested_reason: str | None


class Candidate(NamedTuple):
    number: str
    used_today: int


class CallerIdStore(Protocol):
    async def add(self, number: str, pool: str, daily_cap: int | None) -> None: ...

    async def remove(self, number: str) -> bool: ...

    async def numbers(self, pool: str | None, now: datetime) -> list[PoolNumber]: ...

    async def rest(self, number: str, until: datetime, reason: str) -> bool: ...

    async def restore(self, number: str) -> bool: ...

    async def pick(self, key: str, pool: str, to_number: str, now: datetime) -> str | None:
        """The number attempt ``key`` dials from, counted against today's cap once however
        often it is asked; None when no number of ``pool`` is usable now."""
        ...


def ranked(candidates: Iterable[Candidate], to_number: str) -> list[str]:
    """The usable numbers, best first: most local, then least used today (spread evenly)."""
    return [
        c.number
        for c in sorted(
            candidates, key=lambda c: (locality(c.number, to_number), c.used_today, c.number)
        )
    ]


def usage_day(now: datetime) -> date:
    """The day a call counts against: UTC, the same for every worker whatever its zone."""
    return now.astimezone(UTC).date()


_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS caller_id_numbers ("
    " number TEXT PRIMARY KEY, pool TEXT NOT NULL, daily_cap INTEGER,"
    " rested_until TEXT, rested_reason TEXT, added_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS caller_id_usage ("
    " number TEXT NOT NULL, day TEXT NOT NULL, used INTEGER NOT NULL,"
    " PRIMARY KEY (number, day))",
    # Which number each attempt got: a retried pick answers the same, counted once.
    "CREATE TABLE IF NOT EXISTS caller_id_picks ("
    " idempotency_key TEXT PRIMARY KEY, number TEXT NOT NULL, picked_at TEXT NOT NULL)",
)
# Counts one call for ``number`` today unless that reaches past its cap: one statement, so
# two processes racing for a number's last call cannot both have it. Shared with PostgreSQL.
CLAIM = (
    "INSERT INTO caller_id_usage (number, day, used)"
    " SELECT number, {p}, 1 FROM caller_id_numbers WHERE number = {p}"
    " ON CONFLICT (number, day) DO UPDATE SET used = caller_id_usage.used + 1"
    " WHERE caller_id_usage.used < COALESCE("
    "(SELECT daily_cap FROM caller_id_numbers WHERE number = excluded.number), 2147483647)"
    " RETURNING used"
)
CANDIDATES = (
    "SELECT n.number, COALESCE(u.used, 0) FROM caller_id_numbers n"
    " LEFT JOIN caller_id_usage u ON u.number = n.number AND u.day = {p}"
    " WHERE n.pool = {p} AND (n.rested_until IS NULL OR n.rested_until <= {p})"
    " AND (n.daily_cap IS NULL OR COALESCE(u.used, 0) < n.daily_cap)"
)
LISTING = (
    "SELECT n.number, n.pool, n.daily_cap, COALESCE(u.used, 0), n.rested_until,"
    " n.rested_reason FROM caller_id_numbers n"
    " LEFT JOIN caller_id_usage u ON u.number = n.number AND u.day = {p}"
)


class SqliteCallerIdStore:
    """The pools in a local SQLite file (the do-not-call list's, ``DO_NOT_CALL_DB``). A
    pick holds SQLite's write lock from its read to its count, so processes on one host
    never give out a number's last call twice."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            for statement in _SQLITE_SCHEMA:
                db.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=10, isolation_level=None)

    def _add(self, number: str, pool: str, daily_cap: int | None) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO caller_id_numbers (number, pool, daily_cap, added_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (number) DO UPDATE"
                " SET pool = excluded.pool, daily_cap = excluded.daily_cap",
                (number, pool, daily_cap, datetime.now(UTC).isoformat()),
            )

    def _remove(self, number: str) -> bool:
        with self._connect() as db:
            gone = db.execute("DELETE FROM caller_id_numbers WHERE number = ?", (number,))
            db.execute("DELETE FROM caller_id_usage WHERE number = ?", (number,))
            return gone.rowcount > 0

    def _numbers(self, pool: str | None, now: datetime) -> list[PoolNumber]:
        query = LISTING.format(p="?")
        params: tuple[str, ...] = (usage_day(now).isoformat(),)
        if pool is not None:
            query += " WHERE n.pool = ?"
            params += (pool,)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY n.pool, n.number", params).fetchall()
        return [
            PoolNumber(
                number, name, cap, used, datetime.fromisoformat(until) if until else None, why
            )
            for number, name, cap, used, until, why in rows
        ]

    def _set_rest(self, number: str, until: datetime | None, reason: str | None) -> bool:
        with self._connect() as db:
            changed = db.execute(
                "UPDATE caller_id_numbers SET rested_until = ?, rested_reason = ? WHERE number = ?",
                (until.astimezone(UTC).isoformat() if until else None, reason, number),
            )
            return changed.rowcount > 0

    def _pick(self, key: str, pool: str, to_number: str, now: datetime) -> str | None:
        day = usage_day(now).isoformat()
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            known = db.execute(
                "SELECT number FROM caller_id_picks WHERE idempotency_key = ?", (key,)
            ).fetchone()
            if known is not None:
                db.execute("COMMIT")
                return str(known[0])
            rows = db.execute(
                CANDIDATES.format(p="?"), (day, pool, now.astimezone(UTC).isoformat())
            ).fetchall()
            for number in ranked((Candidate(*row) for row in rows), to_number):
                if db.execute(CLAIM.format(p="?"), (day, number)).fetchone() is not None:
                    db.execute(
                        "INSERT INTO caller_id_picks VALUES (?, ?, ?)",
                        (key, number, now.isoformat()),
                    )
                    db.execute("COMMIT")
                    return number
            db.execute("COMMIT")
            return None
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    async def add(self, number: str, pool: str, daily_cap: int | None) -> None:
        await asyncio.to_thread(self._add, number, pool, daily_cap)

    async def remove(self, number: str) -> bool:
        return await asyncio.to_thread(self._remove, number)

    async def numbers(self, pool: str | None, now: datetime) -> list[PoolNumber]:
        return await asyncio.to_thread(self._numbers, pool, now)

    async def rest(self, number: str, until: datetime, reason: str) -> bool:
        return await asyncio.to_thread(self._set_rest, number, until, reason)

    async def restore(self, number: str) -> bool:
        return await asyncio.to_thread(self._set_rest, number, None, None)

    async def pick(self, key: str, pool: str, to_number: str, now: datetime) -> str | None:
        return await asyncio.to_thread(self._pick, key, pool, to_number, now)
