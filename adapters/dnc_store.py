"""Which do-not-call list a process uses: PostgreSQL when ``DNC_DATABASE_URL`` is set (one
list for every host), else the SQLite file at ``DO_NOT_CALL_DB`` (``make run``'s default)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from adapters.dnc_postgres import PostgresDoNotCallList
from adapters.do_not_call import DoNotCallList, ListedNumber, SqliteDoNotCallList
from adapters.settings import WorkerSettings


class ManagedDoNotCallList(DoNotCallList, Protocol):
    """What the worker and ``outbound-calls dnc`` need: check, add, list and remove."""

    async def entries(self) -> list[ListedNumber]: ...

    async def remove(self, number: str, reason: str) -> bool: ...


@asynccontextmanager
async def open_do_not_call_list(settings: WorkerSettings) -> AsyncIterator[ManagedDoNotCallList]:
    if settings.dnc_database_url is not None:
        async with PostgresDoNotCallList.connect(
            settings.dnc_database_url.get_secret_value()
        ) as shared:
            yield shared
    else:
        yield SqliteDoNotCallList(settings.do_not_call_db)
