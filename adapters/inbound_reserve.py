"""The calls the account keeps for inbound, and the outbound slots the pools may grant.

Retell keeps ``reserved_inbound_concurrency`` of the account's concurrency for inbound calls
(``GET /get-concurrency``). Outbound calls that filled those too would leave a person calling
back nowhere to land, so the slot pools grant MAX_CONCURRENT_CALLS less that reserve
(docs/cap.md, "Kept for inbound").
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from adapters.logs import get_logger

log = get_logger("inbound_reserve")

# Retell's reserve changes when someone edits the account, not from one call to the next:
# read again every few minutes (one small GET per worker), sooner while it could not be read.
REFRESH_S = 300.0
RETRY_S = 30.0
RETELL_FIELD = "reserved_inbound_concurrency"
SETTING = "RESERVED_INBOUND_CALLS"


class NoOutboundCapacity(ValueError):
    """The reserve leaves no slot for outbound calls: the worker refuses to start."""


class ConcurrencySource(Protocol):
    async def get_concurrency(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Reserve:
    calls: int
    # Where the figure comes from, as a user finds it: the setting or Retell's field.
    source: str


def outbound_slots(cap: int, reserve: Reserve) -> int:
    """MAX_CONCURRENT_CALLS less the reserve; nothing left is a configuration error."""
    left = cap - reserve.calls
    if left < 1:
        raise NoOutboundCapacity(
            f"MAX_CONCURRENT_CALLS ({cap}) leaves no outbound call once {reserve.source} "
            f"({reserve.calls}) is kept for inbound calls: raise MAX_CONCURRENT_CALLS above "
            f"it, or set {SETTING} to what inbound calls need"
        )
    return left


def reserve_in(answer: Mapping[str, Any]) -> Reserve:
    """Retell's reserve from a get-concurrency answer (absent or null: none kept)."""
    value = answer.get(RETELL_FIELD)
    if value is None:
        value = 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"get-concurrency {RETELL_FIELD}: must be a whole number >= 0")
    return Reserve(value, f"Retell's {RETELL_FIELD}")


class OutboundCapacity:
    """The slots the pools may grant, kept up to date with Retell's reserve.

    Called, it answers the current figure (``CallSlotActivities`` reads it at every ask, and
    each ask carries it to the pool: the latest wins there).
    """

    def __init__(
        self, cap: int, configured: int | None, retell: ConcurrencySource | None = None
    ) -> None:
        self._cap = cap
        self._retell = retell
        # The setting wins over Retell's figure: whoever sets it knows what the figure cannot
        # say (inbound numbers of another product on this account's cap, a reserve planned
        # but not made yet), and a setting is the same on every worker at every moment.
        self._configured = None if configured is None else Reserve(configured, SETTING)
        self._reserve = self._configured or Reserve(0, f"Retell's {RETELL_FIELD} (unread)")
        self._slots = outbound_slots(cap, self._reserve)
        self._read = self._configured is not None

    def __call__(self) -> int:
        return self._slots

    @property
    def reserve(self) -> Reserve:
        return self._reserve

    async def start(self) -> None:
        """The first read of Retell's reserve (none with the setting). A reserve that leaves
        nothing raises NoOutboundCapacity; an unreadable one leaves the whole cap, warned,
        until a later read succeeds (see docs/cap.md)."""
        if not self._read:
            await self.refresh(starting=True)

    async def refresh(self, *, starting: bool = False) -> None:
        if self._configured is not None or self._retell is None:
            return
        try:
            reserve = reserve_in(await self._retell.get_concurrency())
        except Exception as err:  # any failure to read: the figure stays as it was
            log.warning(
                "reserved inbound calls not read from Retell",
                error=str(err),
                outbound_slots=self._slots,
            )
            return
        self._read = True
        if reserve == self._reserve:
            return
        try:
            slots = outbound_slots(self._cap, reserve)
        except NoOutboundCapacity as err:
            if starting:
                raise
            # A running worker keeps its last figure rather than stopping its calls: the
            # error says what to change, and a restart refuses until it is changed.
            log.error("reserved inbound calls leave no outbound call", error=str(err))
            return
        self._reserve, self._slots = reserve, slots
        log.info(
            "outbound slots",
            outbound_slots=slots,
            max_concurrent_calls=self._cap,
            reserved_inbound=reserve.calls,
            reserved_from=reserve.source,
        )

    async def keep_fresh(self, every_s: float = REFRESH_S, retry_s: float = RETRY_S) -> None:
        """Read Retell's reserve again and again (until canceled); nothing with the setting."""
        if self._configured is not None or self._retell is None:
            return
        while True:
            await asyncio.sleep(every_s if self._read else retry_s)
            await self.refresh()
