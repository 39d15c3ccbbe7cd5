"""Registry sources beside our own do-not-call list: what both stores (SQLite, PostgreSQL)
answer about them, and their refusals. Each source is one imported file, replaced whole by
its next import (adapters/registry_sqlite.py, adapters/registry_postgres.py)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class RegistrySource(NamedTuple):
    name: str
    rows: int
    imported_at: datetime
    file_name: str
    file_sha256: str


class SourceFile(NamedTuple):
    """What a source records of the file it was imported from."""

    name: str
    sha256: str


class Imported(NamedTuple):
    rows: int
    # The rows of the import it replaced (0: a new source).
    replaced_rows: int


class RegistryBusy(RuntimeError):
    """Another import or removal runs on this store."""


class NoNumbers(ValueError):
    """The file held no number: importing it would empty the source, so it is refused."""
