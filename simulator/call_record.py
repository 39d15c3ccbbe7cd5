"""A simulated call and its Retell JSON shape (retell-sdk's ``PhoneCallResponse``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.scenarios import Scenario, Timing
from simulator.transcripts import Conversation
from simulator.webhooks import WebhookOutbox

CallStatus = Literal["registered", "not_connected", "ongoing", "ended", "error"]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class SimulatedCall:
    call_id: str
    agent_id: str
    agent_version: int
    from_number: str
    to_number: str
    scenario: Scenario
    timing: Timing
    outbox: WebhookOutbox
    metadata: dict[str, Any] | None = None
    dynamic_variables: dict[str, str] | None = None
    custom_sip_headers: dict[str, str] | None = None
    idempotency_key: str | None = None
    # Seconds of conversation the transcripts cover; None: the call's real talk time.
    duration_s: float | None = None
    direction: Literal["inbound", "outbound"] = "outbound"
    # What the analysis extracts besides the scenario's own (callback_requested's time).
    custom_analysis_data: dict[str, str] = field(default_factory=dict)
    created_ms: int = field(default_factory=now_ms)
    call_status: CallStatus = "registered"
    start_timestamp: int | None = None
    end_timestamp: int | None = None
    duration_ms: int | None = None
    disconnection_reason: str | None = None
    conversation: Conversation | None = None
    call_analysis: dict[str, Any] | None = None
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def connect(self) -> None:
        self.call_status = "ongoing"
        self.start_timestamp = now_ms()

    @property
    def callee_number(self) -> str:
        """The person's number: whom we called, or who called us."""
        return self.from_number if self.direction == "inbound" else self.to_number

    def talk_s(self) -> float:
        """How long the transcripts say the call talked."""
        if self.duration_s is not None:
            return self.duration_s
        if self.start_timestamp is None:
            return 0.0
        return (now_ms() - self.start_timestamp) / 1000

    def end(self, reason: str, conversation: Conversation) -> None:
        # A call that never connected reports "ended" with a dial_* reason (Retell also
        # uses "not_connected" for some of these; consumers must accept both).
        self.call_status = "ended"
        self.end_timestamp = now_ms()
        self.duration_ms = (
            0 if self.start_timestamp is None else self.end_timestamp - self.start_timestamp
        )
        self.disconnection_reason = reason
        self.conversation = conversation
        self.ended.set()

    def to_api(self) -> dict[str, Any]:
        """The call object as Retell answers it; fields not known yet are left out."""
        body: dict[str, Any] = {
            "call_id": self.call_id,
            "call_type": "phone_call",
            "agent_id": self.agent_id,
            "agent_version": self.agent_version,
            "call_status": self.call_status,
            "from_number": self.from_number,
            "to_number": self.to_number,
            "direction": self.direction,
        }
        optional: dict[str, Any] = {
            "metadata": self.metadata,
            "retell_llm_dynamic_variables": self.dynamic_variables,
            "custom_sip_headers": self.custom_sip_headers,
            "start_timestamp": self.start_timestamp,
            "end_timestamp": self.end_timestamp,
            "duration_ms": self.duration_ms,
            "disconnection_reason": self.disconnection_reason,
            "call_analysis": self.call_analysis,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if self.conversation is not None:
            body.update(self.conversation.fields())
        return body
