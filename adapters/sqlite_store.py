"""A store in one SQLite file of its own schema: what the caller-ID pools and the contact log
share when no PostgreSQL is set (``DO_NOT_CALL_DB``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar, TypeVar

T = TypeVar("T")


class SqliteStore:
    schema: ClassVar[Sequence[str]]

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            for statement in self.schema:
                db.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=10, isolation_level=None)

    def _locked(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` in one transaction holding SQLite's write lock from its first read, so
        processes on one host never interleave a read and the write it decides."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            result = work(db)
            db.execute("COMMIT")
            return result
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()
