"""Start, cancel and look up a campaign's calls: a batch per activity, through the client.

The calls are not the campaign's children: a child's completion event would carry its whole
outcome (transcript included) into the campaign's history, and a continue-as-new would have
to wait for (or cancel) them. Started from here, each call reports its end to the campaign
with the ``call_finished`` signal (``CallRequest.report_to``), without transcript, to
whichever run of the campaign is current.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.call_lookup import outcome_if_closed
from outbound_calls_client.campaign import CAMPAIGN_ROW_MEMO_KEY, CallBatch, CampaignCall
from outbound_calls_client.models import CallReport, OutcomeStatus
from outbound_calls_client.names import CALL_WORKFLOW
from outbound_calls_client.search_attributes import CAMPAIGN_ID
from outbound_calls_client.start import ID_REUSE_POLICY
from outbound_calls_client.start_options import call_memo, call_search_attributes, call_summary

# Calls started (or looked at) at once by one activity: enough to fill a window quickly,
# few enough that a slow server does not time the activity out.
CONCURRENCY = 32


class CampaignCallActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="start_campaign_calls")
    async def start_campaign_calls(self, batch: CallBatch) -> list[str]:
        """Start every call of the batch; answers the ids that already existed.

        A retry starts only what the first attempt did not: the ids are fixed and the start
        refuses a duplicate, so no contact is dialed twice.
        """
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(call: CampaignCall) -> str | None:
            async with limit:
                try:
                    await self._client.start_workflow(
                        CALL_WORKFLOW,
                        call.request,
                        id=call.workflow_id,
                        task_queue=batch.task_queue,
                        id_reuse_policy=ID_REUSE_POLICY,
                        # The call's own attributes at start spare it an upsert.
                        search_attributes=TypedSearchAttributes(
                            [
                                *call_search_attributes(call.request),
                                SearchAttributePair(CAMPAIGN_ID, batch.campaign_id),
                            ]
                        ),
                        static_summary=call_summary(call.request),
                        memo={**call_memo(call.request), CAMPAIGN_ROW_MEMO_KEY: call.row},
                    )
                except WorkflowAlreadyStartedError:
                    return call.workflow_id
                return None

        found = await asyncio.gather(*(one(call) for call in batch.calls))
        return [wid for wid in found if wid is not None]

    @activity.defn(name="cancel_campaign_calls")
    async def cancel_campaign_calls(self, workflow_ids: list[str]) -> list[str]:
        """Ask every call to cancel (each hangs up and reports ``canceled``); answers the ids
        with no workflow at all (never started)."""
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(wid: str) -> str | None:
            async with limit:
                try:
                    await self._client.get_workflow_handle(wid).cancel()
                except RPCError as exc:
                    if exc.status == RPCStatusCode.NOT_FOUND:
                        # Closed already (its report is on the way) or never started: tell
                        # these apart by looking.
                        return wid if await self._missing(wid) else None
                    raise
                return None

        found = await asyncio.gather(*(one(wid) for wid in workflow_ids))
        return [wid for wid in found if wid is not None]

    @activity.defn(name="closed_campaign_calls")
    async def closed_campaign_calls(self, workflow_ids: list[str]) -> list[CallReport]:
        """Reports for the calls that have closed: the reconciliation of a campaign, for calls
        that could not report (terminated, failed, or started by someone else)."""
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(wid: str) -> CallReport | None:
            async with limit:
                activity.heartbeat()
                return await self._closed(wid)

        found = await asyncio.gather(*(one(wid) for wid in workflow_ids))
        return [report for report in found if report is not None]

    async def _missing(self, wid: str) -> bool:
        try:
            await self._client.get_workflow_handle(wid).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return True
            raise
        return False

    async def _closed(self, wid: str) -> CallReport | None:
        try:
            outcome = await outcome_if_closed(self._client, wid)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return CallReport(workflow_id=wid, status=OutcomeStatus.FAILED)
            raise
        return None if outcome is None else CallReport.of(outcome)
