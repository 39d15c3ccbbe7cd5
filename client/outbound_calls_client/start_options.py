"""What every start of a call gives Temporal besides its id: the UI's summary and memo, and
the search attributes at start.

Pure (no client, no randomness): the start helpers and workflows starting a call as a child
(child_calls.py) use the same, so a call looks the same in the UI however started.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from outbound_calls_client import search_attributes as sa
from outbound_calls_client.calling_window import describe
from outbound_calls_client.models import CallRequest
from outbound_calls_client.phone import mask_number


def call_summary(request: CallRequest) -> str:
    """The static summary the Temporal UI shows for a call: no raw number."""
    agent = f" with agent {request.agent_id}" if request.agent_id else ""
    return f"Call {mask_number(request.to_number)}{agent}"


def call_memo(request: CallRequest) -> dict[str, Any]:
    """The request's non-sensitive fields, for the UI's memo (Temporal does not encrypt it):
    no number in clear, no metadata or dynamic variable values."""
    window = request.calling_window
    return {
        "to_number_masked": mask_number(request.to_number),
        "agent_id": request.agent_id,
        "agent_version": request.agent_version,
        "dedupe_key": request.dedupe_key,
        "max_attempts": request.redial.max_attempts,
        "calling_window": describe(window) if window.enabled else "off",
        "metadata_keys": sorted(request.metadata),
        "outcome_delivery": request.outcome_url is not None,
    }


def call_start_options(request: CallRequest) -> dict[str, Any]:
    """What every start of a call gives Temporal besides its id and policies: the UI's summary
    and memo, and the search attributes (so the workflow need not upsert them)."""
    return {
        "static_summary": call_summary(request),
        "memo": call_memo(request),
        "search_attributes": call_search_attributes(request),
    }


def call_search_attributes(request: CallRequest) -> TypedSearchAttributes:
    """What a call's search attributes say at start: given with the start, the workflow
    need not upsert them (one history event fewer)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.CALL_STATUS, "validating"),
            SearchAttributePair(sa.TO_NUMBER_MASKED, mask_number(request.to_number)),
            SearchAttributePair(sa.CALL_ATTEMPT, 0),
        ]
    )
