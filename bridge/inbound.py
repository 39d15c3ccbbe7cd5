"""Retell's inbound webhook: is this caller a person we called, and what does the agent say?

Retell asks before an inbound call connects (``{"event": "call_inbound", "call_inbound":
{"agent_id", "from_number", "to_number", "call_id"}}``) and waits 10 s for
``{"call_inbound": {"dynamic_variables", "metadata", ...}}``. A caller whose number's keyed
hash (calls/returned_call.py) is the ``ToNumberHash`` of a call workflow started within
``RETURNED_CALL_WINDOW`` is a returned call: the workflow gets ``call_returned`` (its redials
stop) when it still runs, and the answer tells the agent why we called. Anyone else gets the
empty answer: the number's own agent, as configured at Retell.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from bridge.webhook import MalformedWebhook
from calls.returned_call import CalledContext, inbound_variables, number_hash
from outbound_calls_client import search_attributes as sa
from outbound_calls_client.names import (
    CALL_RETURNED_SIGNAL,
    CALL_WORKFLOW,
    RETURNED_CALL_CONTEXT_QUERY,
    RETURNED_CALL_METADATA_KEY,
)

INBOUND_EVENT = "call_inbound"
_E164 = r"^\+[1-9][0-9]{1,14}$"


class InboundCall(BaseModel):
    model_config = ConfigDict(extra="ignore")

    from_number: str = Field(pattern=_E164)
    to_number: str | None = None
    agent_id: str | None = None
    # Newer Retell sends the id the call will have; older payloads lack it.
    call_id: str | None = Field(default=None, max_length=128)


class _InboundWebhook(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event: str
    call_inbound: InboundCall


def parse_inbound(body: bytes) -> InboundCall:
    """The ``call_inbound`` object of a verified body; MalformedWebhook names the field."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedWebhook("body is not JSON") from None
    try:
        parsed = _InboundWebhook.model_validate(document)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        rule = "is required" if first["type"] == "missing" else first["msg"]
        raise MalformedWebhook(f"field '{where}': {rule}") from None
    if parsed.event != INBOUND_EVENT:
        raise MalformedWebhook(f"field 'event': must be '{INBOUND_EVENT}' on this path")
    return parsed.call_inbound


class InboundOutcome(StrEnum):
    RETURNED_CALL = "returned_call"
    # We called the person, but that call is over: variables only, nothing signalled.
    RETURNED_CALL_CLOSED = "returned_call_closed"
    UNKNOWN_CALLER = "unknown_caller"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class InboundAnswer:
    outcome: InboundOutcome
    body: dict[str, Any]
    workflow_id: str | None = None
    reason: str | None = None


EMPTY_ANSWER: dict[str, Any] = {"call_inbound": {}}


class ReturnedCalls:
    """Finds the call workflow that called an inbound caller, tells it, and answers Retell."""

    def __init__(self, client: Client, *, hash_key: str, window: timedelta, timeout_s: float):
        self._client = client
        self._hash_key = hash_key
        self._window = window
        self._timeout_s = timeout_s

    async def answer(self, call: InboundCall) -> InboundAnswer:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._answer(call)
        except TimeoutError:
            reason = f"Temporal did not answer within {self._timeout_s:g}s"
            return InboundAnswer(InboundOutcome.UNAVAILABLE, EMPTY_ANSWER, reason=reason)
        except (RPCError, RuntimeError, OSError) as err:
            reason = f"Temporal: {str(err)[:300]}"
            return InboundAnswer(InboundOutcome.UNAVAILABLE, EMPTY_ANSWER, reason=reason)

    async def _answer(self, call: InboundCall) -> InboundAnswer:
        since = (datetime.now(UTC) - self._window).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Both values are ours (hex, a timestamp): nothing from the sender enters the query.
        query = (
            f'WorkflowType = "{CALL_WORKFLOW}" AND '
            f'{sa.TO_NUMBER_HASH.name} = "{number_hash(self._hash_key, call.from_number)}" '
            f'AND StartTime > "{since}"'
        )
        found = None
        async for execution in self._client.list_workflows(query, limit=1):
            found = execution
        if found is None:
            return InboundAnswer(InboundOutcome.UNKNOWN_CALLER, EMPTY_ANSWER)
        handle = self._client.get_workflow_handle(found.id, run_id=found.run_id)
        outcome = InboundOutcome.RETURNED_CALL_CLOSED
        if found.status == WorkflowExecutionStatus.RUNNING:
            await handle.signal(CALL_RETURNED_SIGNAL, call.call_id or "")
            outcome = InboundOutcome.RETURNED_CALL
        reason = None
        try:
            context = await handle.query(RETURNED_CALL_CONTEXT_QUERY, result_type=CalledContext)
        except (RPCError, WorkflowQueryFailedError) as err:
            # No worker to answer (or a run from before the query): the agent still learns
            # that we called, and from which campaign.
            context, reason = CalledContext(), f"no context: {str(err)[:200]}"
        variables = inbound_variables(
            context,
            campaign_id=found.typed_search_attributes.get(sa.CAMPAIGN_ID),
            workflow_id=found.id,
        )
        body = {
            "call_inbound": {
                "dynamic_variables": variables,
                "metadata": {RETURNED_CALL_METADATA_KEY: found.id},
            }
        }
        return InboundAnswer(outcome, body, found.id, reason)
