"""The names other processes and languages rely on, in one place.

Recorded histories, the bridge, other teams' workflows (by Nexus or by name), scripts that
signal or query a call, and Retell's echoed metadata all use these strings: renaming one
breaks them, so each is written here once and every use refers to it. Python code that has the
workflow class at hand calls its methods instead (``handle.query(OutboundCallWorkflow.status)``);
these constants are for code that must not import workflows (activities, start helpers, the
bridge) and for what the classes declare.
"""

from __future__ import annotations

# ----- workflow types ------------------------------------------------------------------------
CALL_WORKFLOW = "OutboundCallWorkflow"
CAMPAIGN_WORKFLOW = "CampaignWorkflow"
SLOTS_WORKFLOW = "CallSlotsWorkflow"
# What a Nexus place_call of an already finished call runs: it answers that call's outcome.
RELAY_WORKFLOW = "CallOutcomeRelayWorkflow"
AGENT_PROVISIONING_WORKFLOW = "AgentProvisioningWorkflow"

# Where our worker takes its calls, campaigns and the activities below, unless configured.
DEFAULT_TASK_QUEUE = "outbound-calls"
# What call_as_child runs, on our worker, to look at an existing call.
CALL_LOOKUP_ACTIVITY = "call_outcome_if_done"

# ----- OutboundCallWorkflow's handlers -------------------------------------------------------
# A Retell webhook, forwarded by the bridge.
CALL_EVENT_SIGNAL = "call_event"
STATUS_QUERY = "status"
CANCEL_UPDATE = "cancel"
DIALED_UPDATE = "dialed"
SLOT_GRANTED_SIGNAL = "slot_granted"
# A fresh pool (after a terminate) asks its callers that wait to ask again: it cannot tell
# a waiting call from one whose grant is still unread, so it counts both until they answer.
SLOT_ASK_AGAIN_SIGNAL = "slot_ask_again"
# The person this call tried to reach called us back (the bridge's inbound webhook): no more
# redials, the outcome is returned_call. Its argument is the inbound call's Retell id.
CALL_RETURNED_SIGNAL = "call_returned"
# What the bridge tells a returning caller's agent about our call (calls/returned_call.py).
RETURNED_CALL_CONTEXT_QUERY = "returned_call_context"

# ----- CampaignWorkflow's handlers (its cancel update is CANCEL_UPDATE too) ------------------
# Sent by a call to the workflow named in its request's ``report_to`` (a campaign).
CALL_FINISHED_SIGNAL = "call_finished"
PROGRESS_QUERY = "progress"
PAUSE_UPDATE = "pause"
RESUME_UPDATE = "resume"

# ----- CallSlotsWorkflow's handlers ----------------------------------------------------------
REQUEST_SLOT_SIGNAL = "request_slot"
# request_slot for a batch of asks, answered: each slot comes in the answer when the pool has
# room at once.
ASK_SLOTS_UPDATE = "ask_slots"
RELEASE_SLOT_SIGNAL = "release_slot"
SLOTS_QUERY = "slots"

# ----- the bridge ----------------------------------------------------------------------------
# Where the bridge takes Retell's webhooks; an agent we provision points its webhook_url there.
WEBHOOK_PATH = "/webhooks/retell"
# Retell's inbound webhook of our numbers: a person calling back is recognised here.
INBOUND_WEBHOOK_PATH = "/webhooks/retell-inbound"

# ----- Nexus ---------------------------------------------------------------------------------
NEXUS_SERVICE = "outbound-calls"
DEFAULT_NEXUS_ENDPOINT = "outbound-calls"
# The operations' names are the service class's attribute names (nexus_service.py);
# tests/unit/test_names.py holds the two together.
PLACE_CALL_OPERATION = "place_call"
CALL_STATUS_OPERATION = "call_status"

# ----- Retell metadata keys we add to every call (a caller's metadata may not use them) ------
# Routes webhooks: Retell echoes the metadata in every event.
WORKFLOW_ID_METADATA_KEY = "temporal_workflow_id"
IDEMPOTENCY_METADATA_KEY = "idempotency_key"
# The attempt (1-based); the simulator also picks the step of a scenario list by it.
ATTEMPT_METADATA_KEY = "temporal_attempt"
# The text follow-up a chat was sent for: a retried send finds it by this key.
TEXT_METADATA_KEY = "temporal_text_key"
# Privacy choices ride along in Retell's metadata, so that every place that reads a call
# object (bridge, activities) drops what the caller did not want kept, before Temporal sees it.
KEEP_TRANSCRIPT_METADATA_KEY = "temporal_keep_transcript"
ANALYSIS_FIELDS_METADATA_KEY = "temporal_analysis_fields"
# Read by the simulator only: which scenario a simulated call plays.
SCENARIO_METADATA_KEY = "simulator_scenario"
# On a returned (inbound) call: the call workflow that had called the person. Not
# WORKFLOW_ID_METADATA_KEY, which would route the inbound call's webhooks to that workflow.
RETURNED_CALL_METADATA_KEY = "temporal_returned_call_of"

# ----- Retell's post-call analysis -----------------------------------------------------------
# The custom analysis field that holds when a person asked to be called back (ISO 8601);
# the worker's CALLBACK_TIME_FIELD names another.
DEFAULT_CALLBACK_TIME_FIELD = "callback_at"

# ----- workflow ids --------------------------------------------------------------------------
CALL_WORKFLOW_ID_PREFIX = "call-"


def call_workflow_id(dedupe_key: str) -> str:
    """The call workflow's id for a dedupe key: one key, one workflow, one call."""
    return f"{CALL_WORKFLOW_ID_PREFIX}{dedupe_key}"
