"""A call's text follow-up: one SMS through Retell's create-sms-chat, never twice.

create-sms-chat takes no idempotency key, so the text carries ours in its metadata and a
retried attempt first looks for a chat with it among the callee's SMS chats (list-chats by
``user_number``). A lookup that fails fails the attempt rather than risk a second text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from activities.heartbeats import heartbeating
from activities.retell import as_temporal_errors
from adapters.do_not_call import DoNotCallList
from adapters.logs import get_logger
from adapters.retell_client import RetellClient, RetellDoNotCall
from outbound_calls_client.models import SendTextInput, TextRecord
from outbound_calls_client.names import TEXT_METADATA_KEY

log = get_logger(__name__)

LISTED_BY_US = "to_number is on the do-not-call list"
LISTED_BY_RETELL = "Retell refused it: to_number is marked do_not_call"


def sms_chat_body(text: SendTextInput) -> dict[str, Any]:
    body: dict[str, Any] = {
        "from_number": text.from_number,
        "to_number": text.to_number,
        "override_agent_id": text.chat_agent_id,
        "metadata": {TEXT_METADATA_KEY: text.dedupe_key},
        # Contacts Retell knows as do-not-call (an SMS STOP, the dashboard) answer 400.
        "honor_internal_dnc": True,
    }
    if text.dynamic_variables:
        body["retell_llm_dynamic_variables"] = dict(text.dynamic_variables)
    return body


def _sent(chat: dict[str, Any]) -> TextRecord:
    started = chat.get("start_timestamp")
    sent_at = (
        datetime.fromtimestamp(started / 1000, UTC)
        if isinstance(started, int | float)
        else datetime.now(UTC)
    )
    return TextRecord(status="sent", chat_id=str(chat["chat_id"]), sent_at=sent_at)


class TextActivities:
    """Bound to the worker's Retell client and the do-not-call store its calls check."""

    def __init__(self, client: RetellClient, store: DoNotCallList) -> None:
        self._client = client
        self._store = store

    @activity.defn(name="send_text")
    async def send_text(self, text: SendTextInput) -> TextRecord:
        info = activity.info()
        bound = log.bind(workflow_id=info.workflow_id, activity_attempt=info.attempt)
        # Checked here, at the moment of sending: the list may have grown since the call.
        if await self._store.contains(text.to_number):
            bound.info("text not sent: do-not-call")
            return TextRecord(status="not_sent", detail=LISTED_BY_US)
        async with heartbeating(), as_temporal_errors():
            if info.attempt > 1:
                found = await self._find_sent(text)
                if found is not None:
                    bound.info("text already sent", chat_id=found.get("chat_id"))
                    return _sent(found)
            try:
                chat = await self._client.create_sms_chat(sms_chat_body(text))
            except RetellDoNotCall:
                bound.info("text refused by Retell: do-not-call")
                return TextRecord(status="not_sent", detail=LISTED_BY_RETELL)
        bound.info("text sent", chat_id=chat.get("chat_id"))
        return _sent(chat)

    async def _find_sent(self, text: SendTextInput) -> dict[str, Any] | None:
        for chat in await self._client.list_sms_chats_to(text.to_number):
            metadata = chat.get("metadata")
            if isinstance(metadata, dict) and metadata.get(TEXT_METADATA_KEY) == text.dedupe_key:
                return chat
        return None
