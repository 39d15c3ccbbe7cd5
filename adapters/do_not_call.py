"""The do-not-call list: a small interface, and the default SQLite store behind it.

Replace it by passing any object with the two methods of :class:`DoNotCallList` to
``worker.build_worker`` (for example a CRM's suppression list).

Besides our own list, the store holds registry sources (adapters/registry_sqlite.py): a
number on either is on the list, for ``contains`` as for every caller of it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

from adapters.registry import Imported, RegistrySource, SourceFile
from adapters.registry_sqlite import SOURCES_OF, SqliteRegistry, create_schema


class DoNotCallList(Protocol):
    async def contains(self, number: str) -> bool: ...

    async def add(self, number: str, reason: str) -> None: ...


class ListedNumber(NamedTuple):
    number: str
    reason: str
    added_at: str


class Listings(NamedTuple):
    """Where a number is listed: our own list, and which registry sources."""

    ours: bool
    sources: tuple[str, ...]

    @property
    def listed(self) -> bool:
        return self.ours or bool(self.sources)


@runtime_checkable
class ExplainedDoNotCallList(DoNotCallList, Protocol):
    """A list that also says where a number is listed (both stores here do)."""

    async def listings(self, number: str) -> Listings: ...


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
            create_schema(db)
        self._registry = SqliteRegistry(path)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=10)

    def _contains(self, number: str) -> bool:
        with self._connect() as db:
            row = db.execute(
                "SELECT EXISTS (SELECT 1 FROM do_not_call WHERE number = ?)"
                f" OR EXISTS ({SOURCES_OF})",
                (number, number),
            ).fetchone()
        return bool(row[0])

    def _listings(self, number: str) -> Listings:
        with self._connect() as db:
            ours = db.execute("SELECT 1 FROM do_not_call WHERE number = ?", (number,)).fetchone()
            sources = db.execute(f"{SOURCES_OF} ORDER BY s.name", (number,)).fetchall()
        return Listings(ours is not None, tuple(name for (name,) in sources))

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

    async def listings(self, number: str) -> Listings:
        return await asyncio.to_thread(self._listings, number)

    async def import_source(
        self, name: str, numbers: Iterable[str], source: SourceFile
    ) -> Imported:
        """Replace registry source ``name`` by ``numbers`` (read in a thread, in batches)."""
        stop = threading.Event()
        try:
            return await asyncio.to_thread(
                self._registry.import_source, name, numbers, source, stop
            )
        except asyncio.CancelledError:
            stop.set()  # the thread goes on otherwise, and would switch the source
            raise

    async def sources(self) -> list[RegistrySource]:
        return await asyncio.to_thread(self._registry.sources)

    async def remove_source(self, name: str) -> int | None:
        """Delete a registry source; its row count, or None when there was none."""
        return await asyncio.to_thread(self._registry.remove_source, name)
