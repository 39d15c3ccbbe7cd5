"""Caller-ID pools: the account's numbers in named pools, each with an optional daily cap
and a rest, and how many calls each made today. The interface, the ranking every store
shares, and the default SQLite store (one host); ``adapters/caller_ids_postgres.py`` is the
one for every worker of a deployment.

Our own numbers are stored and shown in clear: they are the account's, not a person's
(docs/privacy.md), and an operator must see which one to rest.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple, Protocol

from adapters.sqlite_store import SqliteStore
from calls.caller_id_health import Health, HealthRules, PoolRate, ResultKind, Verdict, judge
from calls.caller_id_locality import locality


class PoolNumber(NamedTuple):
    number: str
    pool: str
    daily_cap: int | None
    used_today: int
    rested_until: datetime | None
    rested_reason: str | None
    # For ever (calls/caller_id_health.py): the metrics ``numbers list`` shows.
    calls: int = 0
    answered: int = 0
    rests: int = 0


class PoolRow(NamedTuple):
    """One number of a pool as a pick reads it."""

    number: str
    used_today: int
    daily_cap: int | None
    rested_until: datetime | None

    def usable(self, now: datetime) -> bool:
        rested = self.rested_until is not None and self.rested_until > now
        capped = self.daily_cap is not None and self.used_today >= self.daily_cap
        return not rested and not capped

    def usable_from(self, now: datetime) -> datetime:
        """The first moment it could be picked again, as far as is known now: its rest's end,
        or the next day's count when it is at its cap (whichever is later)."""
        start = now
        if self.rested_until is not None and self.rested_until > now:
            start = self.rested_until
        if self.daily_cap is not None and self.used_today >= self.daily_cap:
            start = max(start, next_usage_day(now))
        return start


class CallerIdPick(NamedTuple):
    """A pick's answer: the number, or none with what the pool holds and when one of its
    numbers may next be usable (None: the pool has no number at all)."""

    number: str | None
    pool_size: int = 1
    next_usable_at: datetime | None = None


def choose(rows: Sequence[PoolRow], to_number: str, now: datetime) -> list[str]:
    """The usable numbers, best first: most local, then least used today (spread evenly)."""
    usable = [r for r in rows if r.usable(now)]
    return [
        r.number
        for r in sorted(
            usable, key=lambda r: (locality(r.number, to_number), r.used_today, r.number)
        )
    ]


def none_usable(rows: Sequence[PoolRow], now: datetime) -> CallerIdPick:
    return CallerIdPick(None, len(rows), min((r.usable_from(now) for r in rows), default=None))


class CallerIdStore(Protocol):
    async def add(self, number: str, pool: str, daily_cap: int | None) -> None: ...

    async def remove(self, number: str) -> bool: ...

    async def numbers(self, pool: str | None, now: datetime) -> list[PoolNumber]: ...

    async def rest(self, number: str, until: datetime, reason: str) -> bool: ...

    async def restore(self, number: str) -> bool: ...

    async def pick(self, key: str, pool: str, to_number: str, now: datetime) -> CallerIdPick:
        """The number attempt ``key`` dials from, counted against today's cap once however
        often it is asked; no number when none of ``pool`` is usable now."""
        ...

    async def record_result(
        self, key: str, number: str, kind: ResultKind, rules: HealthRules, now: datetime
    ) -> Verdict | None:
        """Count attempt ``key``'s result for ``number`` (once however often it is told) and
        rest the number when its health says so; None when already counted or not pooled."""
        ...


def usage_day(now: datetime) -> date:
    """The day a call counts against: UTC, the same for every worker whatever its zone."""
    return now.astimezone(UTC).date()


def next_usage_day(now: datetime) -> datetime:
    return datetime.combine(usage_day(now) + timedelta(days=1), time(), tzinfo=UTC)


# One number's health counts (calls/caller_id_health.py); a table of its own, so that a
# store made before number health gains it with CREATE TABLE IF NOT EXISTS.
HEALTH_TABLE = (
    "CREATE TABLE IF NOT EXISTS caller_id_health ("
    " number {number} PRIMARY KEY, calls INTEGER NOT NULL, answered INTEGER NOT NULL,"
    " rests INTEGER NOT NULL, window_calls INTEGER NOT NULL,"
    " window_answered INTEGER NOT NULL, failed_streak INTEGER NOT NULL)"
)

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
    HEALTH_TABLE.format(number="TEXT"),
    # Which attempts' results were counted: a retried report counts once.
    "CREATE TABLE IF NOT EXISTS caller_id_results ("
    " idempotency_key TEXT PRIMARY KEY, number TEXT NOT NULL, kind TEXT NOT NULL)",
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
POOL_ROWS = (
    "SELECT n.number, COALESCE(u.used, 0), n.daily_cap, n.rested_until FROM caller_id_numbers n"
    " LEFT JOIN caller_id_usage u ON u.number = n.number AND u.day = {p} WHERE n.pool = {p}"
)
LISTING = (
    "SELECT n.number, n.pool, n.daily_cap, COALESCE(u.used, 0), n.rested_until,"
    " n.rested_reason, COALESCE(h.calls, 0), COALESCE(h.answered, 0), COALESCE(h.rests, 0)"
    " FROM caller_id_numbers n"
    " LEFT JOIN caller_id_usage u ON u.number = n.number AND u.day = {p}"
    " LEFT JOIN caller_id_health h ON h.number = n.number"
)
# Marks attempt {p}'s result as counted; no row back: it was already.
RESULT_ONCE = (
    "INSERT INTO caller_id_results (idempotency_key, number, kind) VALUES ({p}, {p}, {p})"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING number"
)
HEALTH_OF = (
    "SELECT calls, answered, rests, window_calls, window_answered, failed_streak"
    " FROM caller_id_health WHERE number = {p}"
)
# The window counts of the other numbers in the number's pool.
POOL_RATE = (
    "SELECT COALESCE(SUM(h.window_calls), 0), COALESCE(SUM(h.window_answered), 0)"
    " FROM caller_id_health h JOIN caller_id_numbers n ON n.number = h.number"
    " WHERE n.pool = (SELECT pool FROM caller_id_numbers WHERE number = {p})"
    " AND h.number <> {p}"
)
SAVE_HEALTH = (
    "INSERT INTO caller_id_health (number, calls, answered, rests, window_calls,"
    " window_answered, failed_streak) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})"
    " ON CONFLICT (number) DO UPDATE SET calls = excluded.calls, answered = excluded.answered,"
    " rests = excluded.rests, window_calls = excluded.window_calls,"
    " window_answered = excluded.window_answered, failed_streak = excluded.failed_streak"
)
SET_REST = "UPDATE caller_id_numbers SET rested_until = {p}, rested_reason = {p} WHERE number = {p}"


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class SqliteCallerIdStore(SqliteStore):
    """The pools in a local SQLite file (the do-not-call list's, ``DO_NOT_CALL_DB``). A
    pick or a result holds SQLite's write lock from its read to its write, so processes on
    one host never give out a number's last call twice nor lose a count."""

    schema = _SQLITE_SCHEMA

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
            db.execute("DELETE FROM caller_id_health WHERE number = ?", (number,))
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
            PoolNumber(number, name, cap, used, _when(until), why, calls, answered, rests)
            for number, name, cap, used, until, why, calls, answered, rests in rows
        ]

    def _set_rest(self, number: str, until: datetime | None, reason: str | None) -> bool:
        with self._connect() as db:
            changed = db.execute(
                SET_REST.format(p="?"),
                (until.astimezone(UTC).isoformat() if until else None, reason, number),
            )
            return changed.rowcount > 0

    @staticmethod
    def _pick(
        db: sqlite3.Connection, key: str, pool: str, to_number: str, now: datetime
    ) -> CallerIdPick:
        day = usage_day(now).isoformat()
        known = db.execute(
            "SELECT number FROM caller_id_picks WHERE idempotency_key = ?", (key,)
        ).fetchone()
        if known is not None:
            return CallerIdPick(str(known[0]))
        rows = [
            PoolRow(number, used, cap, _when(until))
            for number, used, cap, until in db.execute(POOL_ROWS.format(p="?"), (day, pool))
        ]
        for number in choose(rows, to_number, now):
            if db.execute(CLAIM.format(p="?"), (day, number)).fetchone() is not None:
                db.execute(
                    "INSERT INTO caller_id_picks VALUES (?, ?, ?)", (key, number, now.isoformat())
                )
                return CallerIdPick(number)
        return none_usable(rows, now)

    @staticmethod
    def _record(
        db: sqlite3.Connection,
        key: str,
        number: str,
        kind: ResultKind,
        rules: HealthRules,
        now: datetime,
    ) -> Verdict | None:
        pooled = db.execute("SELECT 1 FROM caller_id_numbers WHERE number = ?", (number,))
        if pooled.fetchone() is None:
            return None
        if db.execute(RESULT_ONCE.format(p="?"), (key, number, kind.value)).fetchone() is None:
            return None
        row = db.execute(HEALTH_OF.format(p="?"), (number,)).fetchone()
        pool = PoolRate(*db.execute(POOL_RATE.format(p="?"), (number, number)).fetchone())
        verdict = judge(Health(*row) if row else Health(), kind, pool, rules, now)
        db.execute(SAVE_HEALTH.format(p="?"), (number, *verdict.health))
        if verdict.rest_until is not None:
            db.execute(
                SET_REST.format(p="?"), (verdict.rest_until.isoformat(), verdict.reason, number)
            )
        return verdict

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

    async def pick(self, key: str, pool: str, to_number: str, now: datetime) -> CallerIdPick:
        return await asyncio.to_thread(
            self._locked,
            functools.partial(self._pick, key=key, pool=pool, to_number=to_number, now=now),
        )

    async def record_result(
        self, key: str, number: str, kind: ResultKind, rules: HealthRules, now: datetime
    ) -> Verdict | None:
        record = functools.partial(
            self._record, key=key, number=number, kind=kind, rules=rules, now=now.astimezone(UTC)
        )
        return await asyncio.to_thread(self._locked, record)
