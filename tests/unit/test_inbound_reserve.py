"""The outbound slots as Retell's reserve for inbound changes while a worker runs.

The simulator's reserve is fixed when it starts, so the account whose dashboard is edited
mid-run is played here by a small source of get-concurrency answers; the worker process
against the simulator is in tests/integration/test_inbound_reserve.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.inbound_reserve import (
    NoOutboundCapacity,
    OutboundCapacity,
    Reserve,
    outbound_slots,
    reserve_in,
)
from adapters.retell_client import RetellUnavailable
from stack.waits import eventually


class Account:
    """get-concurrency answers: the reserve as it is now, or a failure to answer."""

    def __init__(self, reserved: int | None) -> None:
        self.reserved = reserved
        self.asked = 0

    async def get_concurrency(self) -> dict[str, Any]:
        self.asked += 1
        if self.reserved is None:
            raise RetellUnavailable("connection refused")
        return {"concurrency_limit": 20, "reserved_inbound_concurrency": self.reserved}


async def test_a_changed_reserve_is_granted_at_the_next_read() -> None:
    account = Account(1)
    capacity = OutboundCapacity(10, None, account)
    await capacity.start()
    assert capacity() == 9
    account.reserved = 4
    await capacity.refresh()
    assert capacity() == 6
    assert capacity.reserve == Reserve(4, "Retell's reserved_inbound_concurrency")


async def test_a_reserve_raised_to_the_cap_while_running_keeps_the_last_figure() -> None:
    account = Account(2)
    capacity = OutboundCapacity(5, None, account)
    await capacity.start()
    account.reserved = 5
    await capacity.refresh()
    assert capacity() == 3
    with pytest.raises(NoOutboundCapacity, match=r"MAX_CONCURRENT_CALLS \(5\)"):
        await OutboundCapacity(5, None, account).start()


async def test_unread_at_start_the_whole_cap_then_retell_is_asked_again_soon() -> None:
    account = Account(None)
    capacity = OutboundCapacity(5, None, account)
    await capacity.start()
    assert capacity() == 5
    refresher = asyncio.create_task(capacity.keep_fresh(every_s=60, retry_s=0.01))
    try:
        await asyncio.sleep(0.05)
        account.reserved = 2

        async def granted() -> bool:
            return capacity() == 3

        await eventually(granted, timeout_s=5, what="the reserve read at a retry")
        asked = account.asked
        await asyncio.sleep(0.1)
        assert account.asked == asked  # read: the next is a refresh away, not a retry
    finally:
        refresher.cancel()


async def test_the_setting_wins_and_retell_is_never_asked() -> None:
    account = Account(3)
    capacity = OutboundCapacity(5, 1, account)
    await capacity.start()
    await capacity.refresh()
    await asyncio.wait_for(capacity.keep_fresh(every_s=0.01), timeout=1)  # returns at once
    assert capacity() == 4
    assert account.asked == 0


def test_a_setting_that_leaves_nothing_names_both_settings() -> None:
    with pytest.raises(NoOutboundCapacity) as raised:
        OutboundCapacity(3, 3)
    assert str(raised.value).startswith(
        "MAX_CONCURRENT_CALLS (3) leaves no outbound call once RESERVED_INBOUND_CALLS (3)"
    )
    assert outbound_slots(3, Reserve(2, "x")) == 1


@pytest.mark.parametrize("answer", [{}, {"reserved_inbound_concurrency": None}])
def test_no_reserve_in_the_answer_is_none_kept(answer: dict[str, Any]) -> None:
    assert reserve_in(answer).calls == 0


@pytest.mark.parametrize("value", [-1, "2", 1.5, True])
def test_a_reserve_that_is_not_a_count_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="reserved_inbound_concurrency: must be a whole number"):
        reserve_in({"reserved_inbound_concurrency": value})
