"""The do-not-call list: a small interface, and the default SQLite store behind it.

Replace it by passing any object with the two methods of :class:`DoNotCallList` to
``worker.build_worker`` (for example a CRM's suppression list).
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, Protocol


class DoNotCallList(Protocol):
    async def contains(self, number: str) -> bool: ...

    async def add(self, number: str, reason: str) -> None: ...


class ListedNumber(NamedTuple):
    number: str
    reason: str
    added_at: str


class SqliteDoNotCallList:
    """A table in a local SQLite file; numbers in E.164. Safe for several worker processes
    on one host (SQLite locks the file); for several hosts, use a shared store instead."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS do_not_call ("
                " number TEXT PRIMARY KEY, reason TEXT NOT NULL, added_at TEXT NOT NULL)"
            )
            # Who took a number off the list, and why: removals are kept, never forgotten.
            db.execute(
                "CREATE TABLE IF NOT EXISTS do_not_call_removals ("
                " number TEXT NOT NULL, listed_reason TEXT NOT NULL, reason TEXT NOT NULL,"
                " removed_at TEXT NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=10)

    def _contains(self, number: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT 1 FROM do_not_call WHERE number = ?", (number,)).fetchone()
        return row is not None

    def _add(self, number: str, reason: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO do_not_call (number, reason, added_at) VALUES (?, ?, ?)",
                (number, reason, datetime.now(UTC).isoformat()),
            )

    def _entries(self) -> list[ListedNumber]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT number, reason, added_at FROM do_not_call ORDER BY added_at"
            ).fetchall()
        return [ListedNumber(*row) for row in rows]

    def _remove(self, number: str, reason: str) -> bool:
        with self._connect() as db:
            row = db.execute(
                "DELETE FROM do_not_call WHERE number = ? RETURNING reason", (number,)
            ).fetchone()
            if row is None:
                return False
            db.execute(
                "INSERT INTO do_not_call_removals (number, listed_reason, reason, removed_at)"
                " VALUES (?, ?, ?, ?)",
                (number, row[0], reason, datetime.now(UTC).isoformat()),
            )
        return True

    async def contains(self, number: str) -> bool:
        return await asyncio.to_thread(self._contains, number)

    async def add(self, number: str, reason: str) -> None:
        await asyncio.to_thread(self._add, number, reason)

    async def entries(self) -> list[ListedNumber]:
        """Every listed number, oldest first."""
        return await asyncio.to_thread(self._entries)

    async def remove(self, number: str, reason: str) -> bool:
        """Take ``number`` off the list, recording why; False when it was not listed."""
        return await asyncio.to_thread(self._remove, number, reason)
