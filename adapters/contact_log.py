"""The contact log: when each person was called, by a keyed hash of their number (never in
clear), so that CONTACT_LIMITS hold across every call, redial, campaign and worker. The
interface and the default SQLite log (one host); ``adapters/contact_log_postgres.py`` is the
one for every worker of a deployment. Opened with the do-not-call list's database.

A claim is exact under concurrency: the count and the insert are one transaction holding
the number (SQLite's write lock; a PostgreSQL advisory lock on the number), so two workers
racing for a person's last allowed contact dial once.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from adapters.sqlite_store import SqliteStore
from calls.contact_limits import ContactLimit, first_allowed


class ContactClaim(NamedTuple):
    allowed: bool
    # Refused: when one more contact keeps every limit, and the limit that holds it.
    next_allowed_at: datetime | None = None
    rule: str | None = None


class ContactLog(Protocol):
    async def claim(
        self, key: str, number_key: str, limits: Sequence[ContactLimit], now: datetime
    ) -> ContactClaim:
        """Count a contact of ``number_key`` for attempt ``key`` if every limit allows it
        (the same attempt asking again gets the same answer, counted once)."""
        ...

    async def forget(self, key: str) -> None:
        """Attempt ``key`` placed no call after all: it is no contact."""
        ...

    async def recent(self, number_key: str, since: datetime) -> list[datetime]:
        """When ``number_key`` was contacted after ``since``, oldest first; reads only (a
        dry run, ``campaign check``, asks what a claim would count)."""
        ...


def judged(
    known: bool, times: Sequence[datetime], limits: Sequence[ContactLimit], now: datetime
) -> ContactClaim:
    if known:
        return ContactClaim(True)
    at, holding = first_allowed(times, limits, now)
    if holding is None:
        return ContactClaim(True)
    return ContactClaim(False, at, str(holding))


def horizon(limits: Sequence[ContactLimit], now: datetime) -> datetime:
    """Contacts before this count against no limit."""
    return now - max(limit.window for limit in limits)


_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS contact_log ("
    " idempotency_key TEXT PRIMARY KEY, number_key TEXT NOT NULL, contacted_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS contact_log_number ON contact_log (number_key, contacted_at)",
)


class SqliteContactLog(SqliteStore):
    schema = _SQLITE_SCHEMA

    @staticmethod
    def _claim(
        db: sqlite3.Connection,
        key: str,
        number_key: str,
        limits: Sequence[ContactLimit],
        now: datetime,
    ) -> ContactClaim:
        since = horizon(limits, now).isoformat()
        # Contacts too old to count against any limit go as the number is next called.
        db.execute(
            "DELETE FROM contact_log WHERE number_key = ? AND contacted_at <= ?",
            (number_key, since),
        )
        known = db.execute("SELECT 1 FROM contact_log WHERE idempotency_key = ?", (key,)).fetchone()
        rows = db.execute(
            "SELECT contacted_at FROM contact_log WHERE number_key = ? AND contacted_at > ?",
            (number_key, since),
        ).fetchall()
        claim = judged(known is not None, [datetime.fromisoformat(r[0]) for r in rows], limits, now)
        if claim.allowed and known is None:
            db.execute(
                "INSERT INTO contact_log VALUES (?, ?, ?)", (key, number_key, now.isoformat())
            )
        return claim

    def _forget(self, key: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM contact_log WHERE idempotency_key = ?", (key,))

    def _recent(self, number_key: str, since: datetime) -> list[datetime]:
        db = self._connect()
        try:
            rows = db.execute(
                "SELECT contacted_at FROM contact_log WHERE number_key = ? AND contacted_at > ?"
                " ORDER BY contacted_at",
                (number_key, since.isoformat()),
            ).fetchall()
        finally:
            db.close()
        return [datetime.fromisoformat(r[0]) for r in rows]

    async def claim(
        self, key: str, number_key: str, limits: Sequence[ContactLimit], now: datetime
    ) -> ContactClaim:
        claim = functools.partial(
            self._claim, key=key, number_key=number_key, limits=limits, now=now.astimezone(UTC)
        )
        return await asyncio.to_thread(self._locked, claim)

    async def forget(self, key: str) -> None:
        await asyncio.to_thread(self._forget, key)

    async def recent(self, number_key: str, since: datetime) -> list[datetime]:
        return await asyncio.to_thread(self._recent, number_key, since.astimezone(UTC))
