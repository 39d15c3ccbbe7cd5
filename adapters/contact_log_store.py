"""Which contact log a process uses: the do-not-call list's database, PostgreSQL when
``DNC_DATABASE_URL`` is set (one count for every host), else the SQLite file at
``DO_NOT_CALL_DB``, like the caller-ID pools (adapters/caller_id_store.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from adapters.contact_log import ContactLog, SqliteContactLog
from adapters.contact_log_postgres import PostgresContactLog
from adapters.dnc_store import database_url
from adapters.settings import WorkerSettings


@asynccontextmanager
async def open_contact_log(settings: WorkerSettings) -> AsyncIterator[ContactLog]:
    url = database_url(settings)
    if url is not None:
        async with PostgresContactLog.connect(url) as shared:
            yield shared
    else:
        yield SqliteContactLog(settings.do_not_call_db)
