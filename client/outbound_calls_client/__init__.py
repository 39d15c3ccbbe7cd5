"""The contract of the outbound-calls service: what another team's code needs to place a call.

The request and outcome models, the campaign request, the Nexus service definition, the
public names (workflow types, handlers, the default task queue) and the two ways to start a
call: ``start_call`` from a client, ``call_as_child`` from a workflow. It depends on
temporalio, pydantic and phonenumbers only; the service itself imports its models from here,
so there is one definition. A worker that runs workflows using it passes it through the
sandbox: ``SandboxRestrictions.default.with_passthrough_modules("outbound_calls_client")``.
"""

from outbound_calls_client.campaign import CampaignRequest, CampaignSnapshot, CampaignSummary
from outbound_calls_client.child_calls import call_as_child
from outbound_calls_client.contacts import CallTemplate, ContactSource
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import (
    AgentConfig,
    AttemptRecord,
    CallingWindow,
    CallOutcome,
    CallRequest,
    CallSnapshot,
    CallTimeouts,
    OutcomeStatus,
    PrivacyOptions,
    RedialPolicy,
)
from outbound_calls_client.names import (
    CALL_WORKFLOW,
    CAMPAIGN_WORKFLOW,
    DEFAULT_NEXUS_ENDPOINT,
    DEFAULT_TASK_QUEUE,
    call_workflow_id,
)
from outbound_calls_client.nexus_service import OutboundCallsService
from outbound_calls_client.start import start_call, start_campaign

__all__ = [
    "CALL_WORKFLOW",
    "CAMPAIGN_WORKFLOW",
    "DEFAULT_NEXUS_ENDPOINT",
    "DEFAULT_TASK_QUEUE",
    "AgentConfig",
    "AttemptRecord",
    "CallOutcome",
    "CallRequest",
    "CallSnapshot",
    "CallTemplate",
    "CallTimeouts",
    "CallingWindow",
    "CampaignRequest",
    "CampaignSnapshot",
    "CampaignSummary",
    "ContactSource",
    "InvalidCallRequest",
    "OutboundCallsService",
    "OutcomeStatus",
    "PrivacyOptions",
    "RedialPolicy",
    "call_as_child",
    "call_workflow_id",
    "start_call",
    "start_campaign",
]
