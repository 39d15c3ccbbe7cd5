"""Which do-not-call list a process uses: PostgreSQL when ``DNC_DATABASE_URL`` is set (one
list for every host), else the SQLite file at ``DO_NOT_CALL_DB`` (``make run``'s default)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from adapters.dnc_postgres import PostgresDoNotCallList
from adapters.do_not_call import DoNotCallList, ListedNumber, Listings, SqliteDoNotCallList
from adapters.logs import get_logger
from adapters.registry import Imported, RegistrySource, SourceFile
from adapters.settings import DoNotCallStoreSettings
from calls.registry_numbers import MAX_SOURCE_AGE, age_days, is_stale


class ManagedDoNotCallList(DoNotCallList, Protocol):
    """What the worker and ``outbound-calls dnc`` need: check, add, list and remove, and the
    registry sources beside the list (import, list, remove)."""

    async def entries(self) -> list[ListedNumber]: ...

    async def remove(self, number: str, reason: str) -> bool: ...

    async def listings(self, number: str) -> Listings: ...

    async def import_source(
        self, name: str, numbers: Iterable[str], source: SourceFile
    ) -> Imported: ...

    async def sources(self) -> list[RegistrySource]: ...

    async def remove_source(self, name: str) -> int | None: ...


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` percent-encoded in place of its own: libpq decodes it, so
    every character (``@ : / % #``) reaches the server as it was given."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0] if at else ""
    netloc = f"{user}:{quote(password, safe='')}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def database_url(settings: DoNotCallStoreSettings) -> str | None:
    """The shared list's URL (``DNC_DATABASE_URL``, with ``DNC_DATABASE_PASSWORD`` put in)."""
    if settings.dnc_database_url is None:
        return None
    url = settings.dnc_database_url.get_secret_value()
    if settings.dnc_database_password is None:
        return url
    return with_password(url, settings.dnc_database_password.get_secret_value())


@asynccontextmanager
async def open_do_not_call_list(
    settings: DoNotCallStoreSettings,
) -> AsyncIterator[ManagedDoNotCallList]:
    url = database_url(settings)
    if url is not None:
        async with PostgresDoNotCallList.connect(url) as shared:
            yield shared
    else:
        yield SqliteDoNotCallList(settings.do_not_call_db)


async def warn_of_stale_sources(store: ManagedDoNotCallList) -> list[str]:
    """Log a warning for each registry source older than the registry's 31 days (a worker
    at start; doctor fails on them); answers their names."""
    now = datetime.now(UTC)
    stale = [s for s in await store.sources() if is_stale(s.imported_at, now)]
    for source in stale:
        get_logger("outbound_calls.dnc").warning(
            f"do-not-call registry source older than {MAX_SOURCE_AGE.days} days: re-import it",
            source=source.name,
            imported_at=source.imported_at.isoformat(),
            age_days=round(age_days(source.imported_at, now), 1),
            fix=f"outbound-calls dnc import FILE --source {source.name}",
        )
    return [s.name for s in stale]
