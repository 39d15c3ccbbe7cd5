"""``POST /create-sms-chat`` and ``POST /v3/list-chats``: Retell's outbound texts, kept so that
tests can read what was sent.

Retell answers a create with 200 and the chat object (retell-sdk's ``ChatResponse``) and
sends the first message its chat agent writes; here that message is a fixed line naming the
dynamic variables, and nothing is sent anywhere. list-chats answers retell-sdk's
``ChatListResponse``: its items are chat objects without the transcript fields (Retell's
``V3ChatResponse``), filtered by the criteria below; any other criterion answers 400, as
list-calls does (simulator/listing.py), rather than an unfiltered list.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from simulator.listing import bad_field, matches, page_of
from simulator.numbers import check_e164

# What the v3 list leaves out of each chat (Retell: "transcript fields are intentionally
# omitted"); a chat's get answers them.
TRANSCRIPT_FIELDS = (
    "transcript",
    "message_with_tool_calls",
    "scrubbed_message_with_tool_calls",
    "pre_session_message_with_tool_calls",
    "scrubbed_pre_session_message_with_tool_calls",
    "post_session_message_with_tool_calls",
    "scrubbed_post_session_message_with_tool_calls",
)
# Criteria on one field of a chat and the filter types retell-sdk's ChatListParams gives
# each (user_number / agent_number: the texted and the texting number, which the chat object
# itself does not carry).
_CHAT_CRITERIA: dict[str, frozenset[str]] = {
    "chat_id": frozenset({"string", "enum"}),
    "chat_status": frozenset({"enum"}),
    "chat_type": frozenset({"enum"}),
    "start_timestamp": frozenset({"number", "range"}),
    "end_timestamp": frozenset({"number", "range"}),
    "user_number": frozenset({"string"}),
    "agent_number": frozenset({"string"}),
}
# The values an enum criterion may list (the SDK's Literal types).
_ENUM_VALUES = {
    "chat_status": frozenset({"ongoing", "ended", "error"}),
    "chat_type": frozenset({"api_chat", "sms_chat"}),
}


class CreateSmsChatRequest(BaseModel):
    """The fields of ``POST /create-sms-chat`` (retell-sdk's ``ChatCreateSMSChatParams``)."""

    model_config = ConfigDict(extra="ignore")

    from_number: str
    to_number: str
    override_agent_id: str | None = Field(default=None, min_length=1)
    override_agent_version: int | str | None = None
    metadata: dict[str, Any] | None = None
    retell_llm_dynamic_variables: dict[str, str] | None = None
    honor_internal_dnc: bool = False

    _e164 = field_validator("from_number", "to_number")(check_e164)


class ListChatsRequest(BaseModel):
    """The body of ``POST /v3/list-chats`` (retell-sdk's ``ChatListParams``)."""

    model_config = ConfigDict(extra="ignore")

    filter_criteria: dict[str, Any] = Field(default_factory=dict)
    limit: int = Field(default=50, ge=1, le=1000)
    pagination_key: str | None = None
    skip: int | None = Field(default=None, ge=0)
    sort_order: Literal["ascending", "descending"] = "descending"
    include_total: bool = False

    @model_validator(mode="after")
    def _one_way_to_page(self) -> ListChatsRequest:
        # Retell's schema: not both skip and pagination_key.
        if self.skip is not None and self.pagination_key is not None:
            raise ValueError("skip and pagination_key may not both be given")
        return self


@dataclass(frozen=True)
class SmsChat:
    """One text as sent: the request's fields and the chat object answered."""

    request: CreateSmsChatRequest
    chat: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"request": self.request.model_dump(exclude_none=True), "chat": self.chat}

    def listed(self) -> dict[str, Any]:
        """The chat as a list-chats item: without its transcript fields."""
        return {k: v for k, v in self.chat.items() if k not in TRANSCRIPT_FIELDS}

    def field(self, name: str) -> Any:
        if name == "user_number":
            return self.request.to_number
        if name == "agent_number":
            return self.request.from_number
        return self.chat.get(name)


def first_message(variables: dict[str, str] | None) -> str:
    names = ", ".join(sorted(variables or {})) or "none"
    return f"Hello from the simulator's chat agent (dynamic variables: {names})."


def chat_object(request: CreateSmsChatRequest, agent_id: str, agent_version: int) -> dict[str, Any]:
    now = int(time.time() * 1000)
    message = first_message(request.retell_llm_dynamic_variables)
    chat: dict[str, Any] = {
        "chat_id": "chat_" + uuid.uuid4().hex,
        "agent_id": agent_id,
        "version": agent_version,
        "chat_status": "ongoing",
        "chat_type": "sms_chat",
        "start_timestamp": now,
        "transcript": f"Agent: {message}\n",
        "message_with_tool_calls": [
            {
                "message_id": "msg_" + uuid.uuid4().hex[:16],
                "role": "agent",
                "content": message,
                "created_timestamp": now,
            }
        ],
    }
    if request.metadata is not None:
        chat["metadata"] = request.metadata
    if request.retell_llm_dynamic_variables is not None:
        chat["retell_llm_dynamic_variables"] = request.retell_llm_dynamic_variables
    return chat


# A chat's field by name (SmsChat.field); nothing at all when a list has no chat to test.
Fields = Callable[[str], Any]


def _no_chat(_: str) -> Any:
    return None


def _agent_matches(chat: Fields, spec: Any, field: str) -> bool:
    """``agent``: a list of ``{"agent_id", "version"?}``, any of which may match (OR)."""
    if not isinstance(spec, list):
        raise bad_field(field, "must be a list of agent filters")
    for i, agent in enumerate(spec):
        agent_id = agent.get("agent_id") if isinstance(agent, dict) else None
        if not isinstance(agent_id, str) or not agent_id:
            raise bad_field(f"{field}[{i}].agent_id", "must be a non-empty string")
        versions = agent.get("version") or []
        if not isinstance(versions, list):
            raise bad_field(f"{field}[{i}].version", "must be a list of numbers")
        if chat("agent_id") == agent_id and (not versions or chat("version") in versions):
            return True
    return False


def _check_kind(name: str, spec: Any, field: str) -> None:
    """A filter of a type the SDK allows on this criterion (the rest ``matches`` checks)."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind not in _CHAT_CRITERIA[name]:
        allowed = " or ".join(sorted(_CHAT_CRITERIA[name]))
        raise bad_field(f"{field}.type", f"unsupported filter: must be {allowed}")
    values = spec.get("value")
    if name in _ENUM_VALUES and isinstance(values, list):
        unknown = [v for v in values if v not in _ENUM_VALUES[name]]
        if unknown:
            raise bad_field(f"{field}.value", f"unknown values {unknown}")


def _chat_matches(chat: Fields, criteria: dict[str, Any]) -> bool:
    # Every criterion is looked at, so a malformed one answers 400 whatever the chats.
    matched = True
    for name, spec in criteria.items():
        field = f"filter_criteria.{name}"
        if name in _CHAT_CRITERIA:
            _check_kind(name, spec, field)
            matched = matches(chat(name), spec, field) and matched
        elif name == "agent":
            matched = _agent_matches(chat, spec, field) and matched
        else:
            raise bad_field(field, "is not supported by the simulator")
    return matched


def list_chats(chats: Sequence[SmsChat], request: ListChatsRequest) -> dict[str, Any]:
    """Answer a list-chats request over ``chats`` given oldest first (the order of their
    ``start_timestamp``, which list-chats sorts by)."""
    if not chats:
        _chat_matches(_no_chat, request.filter_criteria)
    matched = [c.listed() for c in chats if _chat_matches(c.field, request.filter_criteria)]
    return page_of(
        matched,
        "chat_id",
        limit=request.limit,
        pagination_key=request.pagination_key,
        skip=request.skip or 0,
        sort_order=request.sort_order,
        include_total=request.include_total,
    )
