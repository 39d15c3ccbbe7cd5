"""Retell's inbound webhook: before an inbound call connects, ask the number's webhook how.

Retell POSTs ``{"event": "call_inbound", "call_inbound": {"agent_id", "from_number",
"to_number", "call_id"}}`` (signed like the call webhooks, 10 s a try, retried up to 3
times) and takes from a 2xx answer ``{"call_inbound": {"override_agent_id",
"override_agent_version", "dynamic_variables", "metadata"}}``, every field optional.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from simulator.numbers import check_e164
from simulator.webhooks import DeliveryAttempt, WebhookSender

INBOUND_EVENT = "call_inbound"


class InboundCallRequest(BaseModel):
    """``POST /_sim/inbound-call``: a person calls one of the account's numbers."""

    model_config = ConfigDict(extra="forbid")

    from_number: str
    to_number: str
    # What the call then does (simulator scenario names); none: answered.
    scenario: str | None = None
    # The number's own inbound agent, sent in the payload and used unless overridden.
    agent_id: str | None = None

    _e164 = field_validator("from_number", "to_number")(check_e164)


class InboundAnswer(BaseModel):
    """The ``call_inbound`` object of the webhook's answer (Retell ignores other fields)."""

    model_config = ConfigDict(extra="ignore")

    override_agent_id: str | None = None
    override_agent_version: int | str | None = None
    dynamic_variables: dict[str, str] | None = None
    metadata: dict[str, Any] | None = None


@dataclass
class InboundWebhookRecord:
    """One inbound webhook exchange, kept for ``GET /_sim/inbound-calls``."""

    call_id: str
    body: str
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    suppressed_reason: str | None = None
    delivered: bool = False
    answer_body: str | None = None
    # Why a 2xx answer was not used (not JSON, wrong types); the call then goes ahead as
    # with no answer.
    answer_error: str | None = None
    answer: InboundAnswer | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "event": INBOUND_EVENT,
            "body": self.body,
            "suppressed_reason": self.suppressed_reason,
            "delivered": self.delivered,
            "attempts": [a.to_json() for a in self.attempts],
            "answer_body": self.answer_body,
            "answer_error": self.answer_error,
            "answer": None if self.answer is None else self.answer.model_dump(exclude_none=True),
        }


def inbound_body(call_id: str, agent_id: str, request: InboundCallRequest) -> str:
    payload = {
        "event": INBOUND_EVENT,
        "call_inbound": {
            "agent_id": agent_id,
            "from_number": request.from_number,
            "to_number": request.to_number,
            # Newer Retell sends the id the call will have, for dedupe across retries.
            "call_id": call_id,
        },
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def read_answer(text: str) -> InboundAnswer:
    """The answer's ``call_inbound``; ValueError naming the field when it is malformed."""
    try:
        parsed = json.loads(text) if text.strip() else {}
    except ValueError:
        raise ValueError("body: not valid JSON") from None
    if not isinstance(parsed, dict):
        raise ValueError("body: must be a JSON object")
    inner = parsed.get("call_inbound") or {}
    if not isinstance(inner, dict):
        raise ValueError("call_inbound: must be an object")
    try:
        return InboundAnswer.model_validate(inner)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"call_inbound.{where}: {first['msg']}") from None


async def ask_inbound_webhook(
    sender: WebhookSender, call_id: str, agent_id: str, request: InboundCallRequest
) -> InboundWebhookRecord:
    """Offer the call to the webhook; the record says what it answered, if anything."""
    record = InboundWebhookRecord(call_id, inbound_body(call_id, agent_id, request))
    if sender.policy.url is None:
        record.suppressed_reason = "no_inbound_webhook_url"
        return record
    response = await sender.post(
        record.body.encode(), record.attempts, call_id=call_id, webhook_event=INBOUND_EVENT
    )
    if response is None:
        return record
    record.delivered = True
    record.answer_body = response.text
    try:
        record.answer = read_answer(response.text)
    except ValueError as exc:
        record.answer_error = str(exc)
    return record
