"""The contact log's read for a dry run (``recent``), in both stores (SQLite, and PostgreSQL
on a real server): a number's contacts after a moment, oldest first, what a claim counts,
and reading changes nothing (a forgotten attempt is gone, a claim after it still counts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.contact_log import ContactLog, SqliteContactLog
from adapters.contact_log_postgres import PostgresContactLog
from calls.contact_limits import parse_limits

NOON = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)
LIMITS = parse_limits("3/24h")
ROOMY = parse_limits("9/2d")  # lets every contact of the setup in
ONE, OTHER = "key-one", "key-other"


@pytest.fixture(params=["sqlite", "postgres"])
async def log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ContactLog]:
    if request.param == "sqlite":
        yield SqliteContactLog(tmp_path / "dnc.sqlite3")
        return
    url = request.getfixturevalue("dnc_database_url")
    async with PostgresContactLog.connect(url) as shared:
        yield shared


async def test_recent_lists_a_numbers_contacts_after_a_moment(log: ContactLog) -> None:
    hours = (-30, -5, -2, -1)
    # Claimed newest first: the answer is in time order whatever the insert order.
    for n, h in sorted(enumerate(hours), key=lambda p: -p[1]):
        at = NOON + timedelta(hours=h)
        assert (await log.claim(f"a:{n}", ONE, ROOMY, at)).allowed
    assert (await log.claim("b:1", OTHER, ROOMY, NOON)).allowed
    since = NOON - timedelta(hours=24)
    assert await log.recent(ONE, since) == [NOON + timedelta(hours=h) for h in (-5, -2, -1)]
    assert await log.recent(OTHER, since) == [NOON]
    assert await log.recent("key-nobody", since) == []
    # Exclusive, as a claim counts: a contact exactly at ``since`` has left the window.
    assert await log.recent(ONE, NOON - timedelta(hours=5)) == [
        NOON + timedelta(hours=h) for h in (-2, -1)
    ]
    # Only read: asking again changes nothing; a forgotten attempt is no contact.
    await log.forget("a:3")
    assert await log.recent(ONE, since) == [NOON + timedelta(hours=h) for h in (-5, -2)]
    assert (await log.claim("a:4", ONE, LIMITS, NOON)).allowed
    assert not (await log.claim("a:5", ONE, LIMITS, NOON)).allowed
    assert len(await log.recent(ONE, since)) == 3
