"""Caller-ID pools: which of a pool's numbers an attempt dials from, and how each attempt
went for its number's health (a number marked as spam, failing, or seldom answered rests)."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from adapters.caller_ids import CallerIdStore
from adapters.logs import get_logger
from calls.caller_id_health import HealthRules, result_kind
from outbound_calls_client.models import CallerIdPicked, CallerIdResultInput, PickCallerIdInput

log = get_logger(__name__)


class CallerIdActivities:
    def __init__(self, store: CallerIdStore, rules: HealthRules | None = None) -> None:
        self._store = store
        self._rules = rules or HealthRules()

    @activity.defn(name="pick_caller_id")
    async def pick_caller_id(self, ask: PickCallerIdInput) -> CallerIdPicked:
        """The most local usable number of the pool, counted against its daily cap; none
        when every number is rested or at its cap (or the pool is empty)."""
        pick = await self._store.pick(
            ask.idempotency_key, ask.pool, ask.to_number, datetime.now(UTC)
        )
        if pick.number is None:
            log.warning(
                "caller-id pool has no usable number",
                pool=ask.pool,
                numbers=pick.pool_size,
                next_usable_at=pick.next_usable_at.isoformat() if pick.next_usable_at else None,
            )
        return CallerIdPicked(
            number=pick.number, pool_size=pick.pool_size, next_usable_at=pick.next_usable_at
        )

    @activity.defn(name="report_caller_id_result")
    async def report_caller_id_result(self, result: CallerIdResultInput) -> None:
        """Count the attempt for its number; rest the number when its health says so."""
        kind = result_kind(result.status, result.disconnection_reason)
        if kind is None:
            return
        verdict = await self._store.record_result(
            result.idempotency_key, result.number, kind, self._rules, datetime.now(UTC)
        )
        if verdict is not None and verdict.rest_until is not None:
            # Our own number, not a callee's: shown in clear (docs/privacy.md).
            log.warning(
                "caller id rested",
                number=result.number,
                until=verdict.rest_until.isoformat(),
                reason=verdict.reason,
            )
