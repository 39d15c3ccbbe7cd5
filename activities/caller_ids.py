"""The caller-ID pick: which of a pool's numbers an attempt dials from."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from adapters.caller_ids import CallerIdStore
from adapters.logs import get_logger
from outbound_calls_client.models import PickCallerIdInput

log = get_logger(__name__)


class CallerIdActivities:
    def __init__(self, store: CallerIdStore) -> None:
        self._store = store

    @activity.defn(name="pick_caller_id")
    async def pick_caller_id(self, ask: PickCallerIdInput) -> str | None:
        """The most local usable number of the pool, counted against its daily cap; None
        when every number is rested or at its cap (or the pool is empty)."""
        number = await self._store.pick(
            ask.idempotency_key, ask.pool, ask.to_number, datetime.now(UTC)
        )
        if number is None:
            log.warning("caller-id pool has no usable number", pool=ask.pool)
        return number
