"""``POST /create-sms-chat``: Retell's outbound text, kept so that tests can read what was sent.

Retell answers with the chat object (retell-sdk's ``ChatResponse``) and sends the first
message its chat agent writes; here that message is a fixed line naming the dynamic
variables, and nothing is sent anywhere.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from simulator.numbers import check_e164


class CreateSmsChatRequest(BaseModel):
    """The fields of ``POST /create-sms-chat`` (retell-sdk's ``ChatCreateSMSChatParams``)."""

    model_config = ConfigDict(extra="ignore")

    from_number: str
    to_number: str
    override_agent_id: str | None = None
    override_agent_version: int | str | None = None
    metadata: Any = None
    retell_llm_dynamic_variables: dict[str, str] | None = None
    honor_internal_dnc: bool = False

    _e164 = field_validator("from_number", "to_number")(check_e164)


@dataclass(frozen=True)
class SmsChat:
    """One text as sent: the request's fields and the chat object answered."""

    request: CreateSmsChatRequest
    chat: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"request": self.request.model_dump(exclude_none=True), "chat": self.chat}


def first_message(variables: dict[str, str] | None) -> str:
    names = ", ".join(sorted(variables or {})) or "none"
    return f"Hello from the simulator's chat agent (dynamic variables: {names})."


def chat_object(request: CreateSmsChatRequest, agent_id: str, agent_version: int) -> dict[str, Any]:
    now = int(time.time() * 1000)
    chat: dict[str, Any] = {
        "chat_id": "chat_" + uuid.uuid4().hex,
        "agent_id": agent_id,
        "version": agent_version,
        "chat_status": "ongoing",
        "chat_type": "sms_chat",
        "start_timestamp": now,
        "message_with_tool_calls": [
            {
                "message_id": "msg_" + uuid.uuid4().hex[:16],
                "role": "agent",
                "content": first_message(request.retell_llm_dynamic_variables),
                "created_timestamp": now,
            }
        ],
    }
    if request.metadata is not None:
        chat["metadata"] = request.metadata
    if request.retell_llm_dynamic_variables is not None:
        chat["retell_llm_dynamic_variables"] = request.retell_llm_dynamic_variables
    return chat
