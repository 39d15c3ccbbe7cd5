"""Requests that arrive together go out together: a bounded number of batches in flight.

    batches = Batches(send, max_in_flight=4, max_batch=500)
    answer = await batches.submit(item)      # send([..., item, ...]) answers it

While fewer than ``max_in_flight`` batches are under way, an item goes out at once (alone,
when nothing else waits); past that, items wait and leave together, up to ``max_batch``, as
soon as a batch comes back. A failed batch fails each of its items with the same error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")
AnswerT = TypeVar("AnswerT")


class Batches(Generic[ItemT, AnswerT]):
    def __init__(
        self,
        send: Callable[[list[ItemT]], Awaitable[Sequence[AnswerT]]],
        *,
        max_in_flight: int,
        max_batch: int,
    ) -> None:
        self._send = send
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._waiting: list[tuple[ItemT, asyncio.Future[AnswerT]]] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: ItemT) -> AnswerT:
        answer: asyncio.Future[AnswerT] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answer))
        self._dispatch()
        return await answer

    def _dispatch(self) -> None:
        while self._waiting and self._in_flight < self._max_in_flight:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            self._in_flight += 1
            task = asyncio.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[ItemT, asyncio.Future[AnswerT]]]) -> None:
        try:
            answers = await self._send([item for item, _ in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(answers)} answers for {len(batch)} requests")
        except Exception as err:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(err)
        else:
            for (_, answer), value in zip(batch, answers, strict=True):
                if not answer.done():
                    answer.set_result(value)
        finally:
            self._in_flight -= 1
            self._dispatch()
