"""Registry sources in the do-not-call list's SQLite file (``DO_NOT_CALL_DB``).

Each import writes its numbers beside the source's current ones under an import id of its
own, in batches of short transactions (the workers keep reading between them), and one
small transaction then points the source at it: until that commits every check reads the
old numbers, and an import that fails leaves them in use. The old rows are then deleted,
again in short batches. An import or removal takes a lock file beside the database, so one
runs at a time; whatever a killed one left behind is deleted by the next.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from adapters.registry import Imported, NoNumbers, RegistryBusy, RegistrySource, SourceFile

BATCH_ROWS = 50_000

SCHEMA = (
    # AUTOINCREMENT: an id is never given twice, so rows left by a killed import can never
    # be taken for a later one's.
    "CREATE TABLE IF NOT EXISTS registry_imports ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, started_at TEXT NOT NULL,"
    " first_rowid INTEGER NOT NULL, last_rowid INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS registry_numbers ("
    " import_id INTEGER NOT NULL, number TEXT NOT NULL)",
    # Number first: the lookup before every dial is one probe of this index.
    "CREATE UNIQUE INDEX IF NOT EXISTS registry_numbers_number"
    " ON registry_numbers (number, import_id)",
    "CREATE TABLE IF NOT EXISTS registry_sources ("
    " name TEXT PRIMARY KEY, import_id INTEGER NOT NULL UNIQUE, rows INTEGER NOT NULL,"
    " imported_at TEXT NOT NULL, file_name TEXT NOT NULL, file_sha256 TEXT NOT NULL)",
)

# The current sources that list a number (``?``): what ``contains`` and ``listings`` ask.
SOURCES_OF = (
    "SELECT s.name FROM registry_numbers n JOIN registry_sources s ON s.import_id = n.import_id"
    " WHERE n.number = ?"
)


def create_schema(db: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        db.execute(statement)


class ImportStopped(Exception):
    """The import was asked to stop (its caller was cancelled): the source is unchanged."""


def _stop_if_asked(stop: threading.Event | None, name: str) -> None:
    if stop is not None and stop.is_set():
        raise ImportStopped(f"the import of {name} was stopped; it is unchanged")


class SqliteRegistry:
    def __init__(self, path: Path) -> None:
        self._path = path

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=10)
        db.execute("PRAGMA cache_size = -16384")  # 64 MiB: index pages of a big import
        return db

    @contextmanager
    def _exclusive(self) -> Iterator[sqlite3.Connection]:
        """One import or removal at a time (released by the system if the process dies)."""
        with (self._path.parent / f"{self._path.name}.registry-lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RegistryBusy(
                    f"another registry import or removal is running on {self._path}"
                ) from None
            db = self._connect()
            try:
                self._delete_abandoned(db)
                yield db
            finally:
                db.close()

    def import_source(
        self,
        name: str,
        numbers: Iterable[str],
        source: SourceFile,
        stop: threading.Event | None = None,
    ) -> Imported:
        """``stop``, once set, ends the import at its next batch, before the switch: a
        cancelled caller (Ctrl-C) must not find the import finished in its thread anyway."""
        with self._exclusive() as db:
            with db:
                cursor = db.execute(
                    "INSERT INTO registry_imports (source, started_at, first_rowid, last_rowid)"
                    " SELECT ?, ?, coalesce(max(rowid), 0) + 1, 0 FROM registry_numbers",
                    (name, datetime.now(UTC).isoformat()),
                )
            import_id = cursor.lastrowid
            rows = 0
            it = iter(numbers)
            while batch := sorted(islice(it, BATCH_ROWS)):
                _stop_if_asked(stop, name)
                with db:
                    cursor = db.executemany(
                        "INSERT OR IGNORE INTO registry_numbers (import_id, number) VALUES (?, ?)",
                        ((import_id, number) for number in batch),
                    )
                    rows += cursor.rowcount
                    db.execute(
                        "UPDATE registry_imports SET last_rowid = (SELECT max(rowid) FROM"
                        " registry_numbers) WHERE id = ?",
                        (import_id,),
                    )
            _stop_if_asked(stop, name)
            if rows == 0:
                raise NoNumbers(f"{source.name}: no number in the file; {name} is unchanged")
            with db:
                old = db.execute(
                    "SELECT import_id, rows FROM registry_sources WHERE name = ?", (name,)
                ).fetchone()
                db.execute(
                    "INSERT INTO registry_sources"
                    " (name, import_id, rows, imported_at, file_name, file_sha256)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                    " import_id = excluded.import_id, rows = excluded.rows,"
                    " imported_at = excluded.imported_at, file_name = excluded.file_name,"
                    " file_sha256 = excluded.file_sha256",
                    (name, import_id, rows, datetime.now(UTC).isoformat(), *source),
                )
            if old is not None:
                self._delete_import(db, old[0])
            return Imported(rows, old[1] if old else 0)

    def remove_source(self, name: str) -> int | None:
        """Delete a source and its numbers; its row count, or None when there was none."""
        with self._exclusive() as db:
            with db:
                row = db.execute(
                    "DELETE FROM registry_sources WHERE name = ? RETURNING import_id, rows",
                    (name,),
                ).fetchone()
            if row is None:
                return None
            self._delete_import(db, row[0])
            return int(row[1])

    def sources(self) -> list[RegistrySource]:
        db = self._connect()
        try:
            rows = db.execute(
                "SELECT name, rows, imported_at, file_name, file_sha256 FROM registry_sources"
                " ORDER BY name"
            ).fetchall()
        finally:
            db.close()
        return [
            RegistrySource(name, count, datetime.fromisoformat(at), file_name, sha)
            for name, count, at, file_name, sha in rows
        ]

    def _delete_abandoned(self, db: sqlite3.Connection) -> None:
        """Imports no source points at: left by a failed or killed import (under the lock,
        none is running)."""
        abandoned = db.execute(
            "SELECT id FROM registry_imports"
            " WHERE id NOT IN (SELECT import_id FROM registry_sources)"
        ).fetchall()
        for (import_id,) in abandoned:
            self._delete_import(db, import_id)

    def _delete_import(self, db: sqlite3.Connection, import_id: int) -> None:
        span = db.execute(
            "SELECT first_rowid, last_rowid FROM registry_imports WHERE id = ?", (import_id,)
        ).fetchone()
        if span is not None:
            # Rowid ranges: an import's rows were appended together, so each batch is a short
            # range scan, not a scan of the whole table.
            for start in range(span[0], span[1] + 1, BATCH_ROWS):
                with db:
                    db.execute(
                        "DELETE FROM registry_numbers"
                        " WHERE rowid BETWEEN ? AND ? AND import_id = ?",
                        (start, start + BATCH_ROWS - 1, import_id),
                    )
        with db:
            db.execute("DELETE FROM registry_imports WHERE id = ?", (import_id,))
