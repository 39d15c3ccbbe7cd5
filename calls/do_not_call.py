"""The do-not-call list: a small interface, and the default SQLite store behind it.

Replace it by passing any object with the two methods of :class:`DoNotCallList` to
``worker.build_worker`` (for example a CRM's suppression list).
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol


class DoNotCallList(Protocol):
    async def contains(self, number: str) -> bool: ...

    async def add(self, number: str, reason: str) -> None: ...


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

    async def contains(self, number: str) -> bool:
        return await asyncio.to_thread(self._contains, number)

    async def add(self, number: str, reason: str) -> None:
        await asyncio.to_thread(self._add, number, reason)
