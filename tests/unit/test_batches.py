"""Batches: items that arrive while the in-flight batches are under way leave together."""

from __future__ import annotations

import asyncio

import pytest

from activities.batches import Batches


async def test_items_go_alone_until_the_limit_then_together() -> None:
    sent: list[list[int]] = []
    release = asyncio.Event()

    async def send(items: list[int]) -> list[int]:
        sent.append(items)
        await release.wait()
        return [i * 10 for i in items]

    batches: Batches[int, int] = Batches(send, max_in_flight=2, max_batch=3)
    answers = [asyncio.create_task(batches.submit(i)) for i in range(7)]
    for _ in range(5):  # every submit and both sends get their turn on the loop
        await asyncio.sleep(0)
    assert sent == [[0], [1]]  # two in flight; the rest wait
    release.set()
    assert [await a for a in answers] == [i * 10 for i in range(7)]
    # Once the first two came back: the waiting five left in batches of at most three.
    assert sent == [[0], [1], [2, 3, 4], [5, 6]]


async def test_a_failed_batch_fails_each_of_its_items_and_the_next_go_on() -> None:
    calls = 0

    async def send(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("pool unreachable")
        return [item.upper() for item in items]

    batches: Batches[str, str] = Batches(send, max_in_flight=1, max_batch=10)
    first = asyncio.create_task(batches.submit("a"))
    second = asyncio.create_task(batches.submit("b"))
    with pytest.raises(ConnectionError, match="pool unreachable"):
        await first
    assert await second == "B"


async def test_a_short_answer_is_an_error_not_a_silent_loss() -> None:
    async def send(items: list[int]) -> list[int]:
        return items[:-1]

    batches: Batches[int, int] = Batches(send, max_in_flight=1, max_batch=10)
    with pytest.raises(RuntimeError, match="0 answers for 1 requests"):
        await batches.submit(1)
