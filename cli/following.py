"""Following a workflow's result from the CLI: Ctrl-C stops the following, not the workflow
(``result``'s ``--follow``, ``campaign status --watch``)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")


class Following(Generic[T]):
    """While entered, SIGINT sets a flag instead of raising KeyboardInterrupt; ``wait``
    sleeps until the result, Ctrl-C or the next look, whichever comes first."""

    def __init__(self, result: Awaitable[T]) -> None:
        self._result = asyncio.ensure_future(result)
        self._stop = asyncio.Event()
        self._stopper = asyncio.ensure_future(self._stop.wait())

    def __enter__(self) -> Following[T]:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self._stop.set)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
        self._stopper.cancel()
        self._result.cancel()

    @property
    def done(self) -> bool:
        return self._result.done()

    def result(self) -> T:
        return self._result.result()

    async def wait(self, seconds: float) -> bool:
        """True when Ctrl-C was pressed."""
        await asyncio.wait(
            {self._result, self._stopper}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        return self._stop.is_set()
