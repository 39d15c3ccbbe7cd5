"""Which do-not-call list a process uses: PostgreSQL when ``DNC_DATABASE_URL`` is set (one
list for every host), else the SQLite file at ``DO_NOT_CALL_DB`` (``make run``'s default)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from adapters.dnc_postgres import PostgresDoNotCallList
from adapters.do_not_call import DoNotCallList, ListedNumber, SqliteDoNotCallList
from adapters.settings import WorkerSettings


class ManagedDoNotCallList(DoNotCallList, Protocol):
    """What the worker and ``outbound-calls dnc`` need: check, add, list and remove."""

    async def entries(self) -> list[ListedNumber]: ...

    async def remove(self, number: str, reason: str) -> bool: ...


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` percent-encoded in place of its own: libpq decodes it, so
    every character (``@ : / % #``) reaches the server as it was given."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0] if at else ""
    netloc = f"{user}:{quote(password, safe='')}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def database_url(settings: WorkerSettings) -> str | None:
    """The shared list's URL (``DNC_DATABASE_URL``, with ``DNC_DATABASE_PASSWORD`` put in)."""
    if settings.dnc_database_url is None:
        return None
    url = settings.dnc_database_url.get_secret_value()
    if settings.dnc_database_password is None:
        return url
    return with_password(url, settings.dnc_database_password.get_secret_value())


@asynccontextmanager
async def open_do_not_call_list(settings: WorkerSettings) -> AsyncIterator[ManagedDoNotCallList]:
    url = database_url(settings)
    if url is not None:
        async with PostgresDoNotCallList.connect(url) as shared:
            yield shared
    else:
        yield SqliteDoNotCallList(settings.do_not_call_db)
