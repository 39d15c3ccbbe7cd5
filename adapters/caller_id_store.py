"""Which caller-ID pools a process uses: the do-not-call list's database, PostgreSQL when
``DNC_DATABASE_URL`` is set (one count of calls for every host), else the SQLite file at
``DO_NOT_CALL_DB``. One store per deployment, no setting of its own to get wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from adapters.caller_ids import CallerIdStore, SqliteCallerIdStore
from adapters.caller_ids_postgres import PostgresCallerIdStore
from adapters.dnc_store import database_url
from adapters.settings import WorkerSettings


@asynccontextmanager
async def open_caller_id_store(settings: WorkerSettings) -> AsyncIterator[CallerIdStore]:
    url = database_url(settings)
    if url is not None:
        async with PostgresCallerIdStore.connect(url) as shared:
            yield shared
    else:
        yield SqliteCallerIdStore(settings.do_not_call_db)
