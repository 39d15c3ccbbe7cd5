"""Check and extend the do-not-call list."""

from __future__ import annotations

from temporalio import activity

from adapters.do_not_call import DoNotCallList, ExplainedDoNotCallList
from adapters.logs import get_logger
from outbound_calls_client.models import DoNotCallEntry
from outbound_calls_client.phone import mask_number

log = get_logger(__name__)


class DoNotCallActivities:
    def __init__(self, store: DoNotCallList) -> None:
        self._store = store

    @activity.defn(name="check_do_not_call")
    async def check_do_not_call(self, number: str) -> bool:
        listed = await self._store.contains(number)
        if listed and isinstance(self._store, ExplainedDoNotCallList):
            # The answer stays a bool (recorded histories replay it); the log says which list.
            found = await self._store.listings(number)
            log.info(
                "to_number is on the do-not-call list",
                to_number=mask_number(number),
                our_list=found.ours,
                registry_sources=list(found.sources),
            )
        return listed

    @activity.defn(name="add_to_do_not_call")
    async def add_to_do_not_call(self, entry: DoNotCallEntry) -> None:
        await self._store.add(entry.number, entry.reason)
        log.info(
            "number added to do-not-call list",
            to_number=mask_number(entry.number),
            reason=entry.reason,
            workflow_id=entry.workflow_id,
        )
