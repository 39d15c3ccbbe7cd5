"""The names other processes and languages rely on (outbound_calls_client.names) are the ones
the workflow classes and the Nexus service declare: renaming a method or a handler cannot
drift from them."""

from __future__ import annotations

import nexusrpc
from temporalio import workflow

from outbound_calls_client import names
from outbound_calls_client.nexus_service import OutboundCallsService
from workflows.agent_provisioning import AgentProvisioningWorkflow
from workflows.call_slots import CallSlotsWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.outbound_call import OutboundCallWorkflow
from workflows.outcome_relay import CallOutcomeRelayWorkflow


def _defn(cls: type) -> workflow._Definition:
    return workflow._Definition.must_from_class(cls)


def test_workflow_types_are_the_public_names() -> None:
    assert {
        _defn(cls).name
        for cls in (
            OutboundCallWorkflow,
            CampaignWorkflow,
            CallSlotsWorkflow,
            CallOutcomeRelayWorkflow,
            AgentProvisioningWorkflow,
        )
    } == {
        names.CALL_WORKFLOW,
        names.CAMPAIGN_WORKFLOW,
        names.SLOTS_WORKFLOW,
        names.RELAY_WORKFLOW,
        names.AGENT_PROVISIONING_WORKFLOW,
    }


def test_the_call_workflow_answers_the_public_signal_query_and_update_names() -> None:
    call = _defn(OutboundCallWorkflow)
    assert set(call.signals) == {
        names.CALL_EVENT_SIGNAL,
        names.SLOT_GRANTED_SIGNAL,
        names.SLOT_ASK_AGAIN_SIGNAL,
        names.CALL_RETURNED_SIGNAL,
    }
    assert set(call.queries) == {names.STATUS_QUERY, names.RETURNED_CALL_CONTEXT_QUERY}
    # The updates are named after their methods (see the workflow): a rename shows here.
    assert set(call.updates) == {names.CANCEL_UPDATE, names.DIALED_UPDATE}


def test_the_campaign_and_slot_pool_answer_their_public_names() -> None:
    campaign = _defn(CampaignWorkflow)
    assert set(campaign.signals) == {names.CALL_FINISHED_SIGNAL}
    assert set(campaign.queries) == {names.PROGRESS_QUERY}
    assert set(campaign.updates) == {names.PAUSE_UPDATE, names.RESUME_UPDATE, names.CANCEL_UPDATE}
    pool = _defn(CallSlotsWorkflow)
    assert set(pool.signals) == {names.REQUEST_SLOT_SIGNAL, names.RELEASE_SLOT_SIGNAL}
    assert set(pool.queries) == {names.SLOTS_QUERY}
    assert set(pool.updates) == {names.ASK_SLOTS_UPDATE}


def test_the_nexus_service_has_the_public_operation_names() -> None:
    service = nexusrpc.get_service_definition(OutboundCallsService)
    assert service is not None
    assert service.name == names.NEXUS_SERVICE
    assert set(service.operation_definitions) == {
        names.PLACE_CALL_OPERATION,
        names.CALL_STATUS_OPERATION,
    }


def test_a_call_workflow_id_is_made_of_its_dedupe_key() -> None:
    assert names.call_workflow_id("invoice-8812") == "call-invoice-8812"
    assert names.call_workflow_id("x").startswith(names.CALL_WORKFLOW_ID_PREFIX)
