"""A next build of the product's long-running workflows, for the rolling-deploy test.

Each class is the 1.0 workflow with one real change at the very start of its run, a point
every run already open at the deploy has passed: it records which build started it in the
run's memo (a command, so a history event). The guarded classes put the change behind
``workflow.patched`` as docs/changing-workflows.md says; the unguarded ones make the same change
without it, and runs started before the change cannot replay on them.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from calls.slots import SlotPoolState
    from outbound_calls_client.campaign import CampaignRequest, CampaignSummary
    from outbound_calls_client.models import CallOutcome, CallRequest
    from outbound_calls_client.names import CALL_WORKFLOW, CAMPAIGN_WORKFLOW, SLOTS_WORKFLOW

from workflows.call_slots import CallSlotsWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.outbound_call import OutboundCallWorkflow

NEXT_BUILD_PATCH = "record-starting-build"
BUILD_MEMO = "started_on_build"
NEXT_BUILD = "next"


def record_starting_build(*, guarded: bool) -> None:
    if not guarded or workflow.patched(NEXT_BUILD_PATCH):
        workflow.upsert_memo({BUILD_MEMO: NEXT_BUILD})


@workflow.defn(name=CALL_WORKFLOW)
class NextOutboundCallWorkflow(OutboundCallWorkflow):
    @workflow.run
    async def run(self, request: CallRequest) -> CallOutcome:
        record_starting_build(guarded=True)
        return await super().run(request)


@workflow.defn(name=CAMPAIGN_WORKFLOW)
class NextCampaignWorkflow(CampaignWorkflow):
    @workflow.run
    async def run(self, request: CampaignRequest) -> CampaignSummary:
        record_starting_build(guarded=True)
        return await super().run(request)


@workflow.defn(name=SLOTS_WORKFLOW)
class NextCallSlotsWorkflow(CallSlotsWorkflow):
    @workflow.run
    async def run(self, state: SlotPoolState) -> None:
        record_starting_build(guarded=True)
        await super().run(state)


@workflow.defn(name=CALL_WORKFLOW)
class UnguardedOutboundCallWorkflow(OutboundCallWorkflow):
    @workflow.run
    async def run(self, request: CallRequest) -> CallOutcome:
        record_starting_build(guarded=False)
        return await super().run(request)


@workflow.defn(name=CAMPAIGN_WORKFLOW)
class UnguardedCampaignWorkflow(CampaignWorkflow):
    @workflow.run
    async def run(self, request: CampaignRequest) -> CampaignSummary:
        record_starting_build(guarded=False)
        return await super().run(request)


@workflow.defn(name=SLOTS_WORKFLOW)
class UnguardedCallSlotsWorkflow(CallSlotsWorkflow):
    @workflow.run
    async def run(self, state: SlotPoolState) -> None:
        record_starting_build(guarded=False)
        await super().run(state)
