"""A connection pool to ``DNC_DATABASE_URL``'s database with a schema made sure of: what the
do-not-call list and the caller-ID pools on PostgreSQL both open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Self

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

Pool = AsyncConnectionPool[AsyncConnection[Any]]


async def create_schema(db: AsyncConnection[Any], lock: int, schema: Sequence[str]) -> None:
    """The tables and indexes, created when missing; safe to run from many workers at once:
    the advisory lock keeps two from creating one table (CREATE ... IF NOT EXISTS alone races
    on the catalog)."""
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
        for statement in schema:
            await db.execute(statement)


@asynccontextmanager
async def schema_pool(
    url: str,
    *,
    lock: int,
    schema: Sequence[str],
    max_connections: int = 4,
    timeout_s: float = 30.0,
) -> AsyncIterator[Pool]:
    """Connect, create the schema if missing, and close the pool on the way out."""
    pool: Pool = AsyncConnectionPool(
        url, min_size=1, max_size=max_connections, timeout=timeout_s, open=False
    )
    try:
        await pool.open(wait=True, timeout=timeout_s)
    except Exception as err:
        await pool.close()
        # The URL carries the password: name the setting, never the value.
        raise RuntimeError(f"DNC_DATABASE_URL: cannot connect ({type(err).__name__})") from None
    try:
        async with pool.connection() as db:
            await create_schema(db, lock, schema)
        yield pool
    finally:
        await pool.close()


class SchemaStore:
    """A store on one pool of its own, opened with :meth:`connect`; a subclass names its
    schema and the advisory lock that guards creating it."""

    schema_lock: ClassVar[int]
    schema: ClassVar[Sequence[str]]

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, url: str, *, max_connections: int = 4, timeout_s: float = 30.0
    ) -> AsyncIterator[Self]:
        """Connect, create the schema if missing, and close the pool on the way out."""
        async with schema_pool(
            url,
            lock=cls.schema_lock,
            schema=cls.schema,
            max_connections=max_connections,
            timeout_s=timeout_s,
        ) as pool:
            yield cls(pool)
