"""Read another call workflow's outcome: for a parent whose child call already existed."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.client import Client

from calls.models import CallOutcome

HEARTBEAT_EVERY_S = 20.0


class CallLookupActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="await_call_outcome")
    async def await_call_outcome(self, workflow_id: str) -> CallOutcome:
        """Wait for the call workflow ``workflow_id`` to finish, heartbeating meanwhile."""
        handle = self._client.get_workflow_handle(workflow_id, result_type=CallOutcome)
        result: asyncio.Future[CallOutcome] = asyncio.ensure_future(handle.result())
        try:
            while True:
                done, _ = await asyncio.wait({result}, timeout=HEARTBEAT_EVERY_S)
                if done:
                    return result.result()
                activity.heartbeat()
        finally:
            result.cancel()
