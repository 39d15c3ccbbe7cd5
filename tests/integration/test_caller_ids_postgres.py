"""Caller-ID pools on a real PostgreSQL server (``DNC_DATABASE_URL``): a daily cap holds
across workers racing for a number's last call; a retried pick is the same pick; rests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from adapters.caller_ids_postgres import PostgresCallerIdStore

SF, SF_2, NY = "+14155550100", "+14155550101", "+12125550100"
CALLEE = "+14155550177"
# Counts are per UTC day: a fixed morning, so that two hours later is the same day.
MORNING = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)


async def test_two_workers_racing_for_the_last_call_of_a_number_get_it_once(
    dnc_database_url: str,
) -> None:
    now = datetime.now(UTC)
    async with (
        PostgresCallerIdStore.connect(dnc_database_url) as one,
        PostgresCallerIdStore.connect(dnc_database_url) as other,
    ):
        await one.add(SF, "sales", 1)
        for _ in range(5):  # a race lost once may be luck: run it several times
            await one.add(SF, "sales", 1)
            tag = datetime.now(UTC).isoformat()
            picks = await asyncio.gather(
                *(
                    store.pick(f"{tag}-{i}", "sales", CALLEE, now)
                    for i, store in enumerate([one, other, one, other])
                )
            )
            assert sorted(p.number or "" for p in picks) == ["", "", "", SF]
            (listed,) = await one.numbers("sales", now)
            assert listed.used_today == 1
            await one.remove(SF)  # its count goes with it: the next round starts at 0


async def test_picks_are_local_spread_evenly_idempotent_and_skip_rested(
    dnc_database_url: str,
) -> None:
    now = MORNING
    async with PostgresCallerIdStore.connect(dnc_database_url) as store:
        for number in (NY, SF, SF_2):
            await store.add(number, "sales", None)
        firsts = [(await store.pick(f"k{i}", "sales", CALLEE, now)).number for i in range(4)]
        assert sorted(p or "" for p in firsts) == [SF, SF, SF_2, SF_2]  # local, least used first
        assert (await store.pick("k0", "sales", CALLEE, now)).number == firsts[0]  # retried
        used = {n.number: n.used_today for n in await store.numbers(None, now)}
        assert used == {SF: 2, SF_2: 2, NY: 0}
        assert await store.rest(SF, now + timedelta(hours=1), "marked as spam")
        assert await store.rest(SF_2, now + timedelta(hours=1), "marked as spam")
        assert (await store.pick("k9", "sales", CALLEE, now)).number == NY  # the next best
        assert await store.restore(SF)
        assert (await store.pick("k10", "sales", CALLEE, now)).number == SF
        later = now + timedelta(hours=2)  # a rest ends by itself
        assert (await store.pick("k11", "sales", CALLEE, later)).number == SF_2
        assert not await store.rest("+13125550100", later, "not in a pool")
