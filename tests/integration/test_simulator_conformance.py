"""The simulator against retell-sdk, an independent reading of Retell's API.

The SDK's client, always with strict response validation (an answer missing a field the SDK
requires raises ``APIResponseValidationError``), talks to the simulator, its types parse
every call object the simulator produces, and its verifier checks the webhook signatures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError
from retell import (
    APIStatusError,
    AsyncRetell,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from retell.lib.webhook_auth import verify as retell_verify
from retell.types import (
    AgentListResponse,
    AgentResponse,
    CallListResponse,
    ChatListResponse,
    ChatResponse,
    PhoneCallResponse,
)
from retell.types.call_list_response import ItemV3PhoneCallResponse
from retell.types.chat_create_sms_chat_params import ChatCreateSMSChatParams
from retell.types.chat_list_params import ChatListParams
from retell.types.chat_list_response import Item as ChatListItem
from retell.types.chat_response import MessageWithToolCallMessageBase
from retell.types.concurrency_retrieve_response import ConcurrencyRetrieveResponse
from retell.types.phone_call_response import CallAnalysis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from activities.texts import sms_chat_body
from adapters.retell_client import RetellClient, sms_chats_to_body
from adapters.settings import SimulatorSettings
from calls.signatures import SIGNATURE_HEADER
from outbound_calls_client.models import SendTextInput
from outbound_calls_client.names import TEXT_METADATA_KEY
from simulator import SCENARIOS
from simulator.server import RunningSimulator, running_simulator, serve_asgi_app
from simulator.sms import TRANSCRIPT_FIELDS
from stack.waits import eventually

API_KEY = "conformance-api-key"
WEBHOOK_KEY = "conformance-webhook-key"
FROM = "+14155550100"
TO = "+14155550123"
RESERVED_INBOUND = 3

# (raw body, signature header) of every webhook received
Received = list[tuple[bytes, str]]


def sdk_verifies(body: bytes, key: str, signature: str) -> bool:
    result = retell_verify(body.decode(), key, signature)
    return bool(result)


@pytest.fixture(scope="module")
async def received() -> AsyncIterator[tuple[Received, str]]:
    bodies: Received = []

    async def collect(request: Request) -> Response:
        bodies.append((await request.body(), request.headers.get(SIGNATURE_HEADER, "")))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", collect, methods=["POST"])])
    async with serve_asgi_app(app) as served:
        yield bodies, f"{served.base_url}/hook"


@pytest.fixture(scope="module")
async def sim(received: tuple[Received, str]) -> AsyncIterator[RunningSimulator]:
    settings = SimulatorSettings(
        retell_api_key=API_KEY,
        retell_webhook_key=WEBHOOK_KEY,
        simulator_webhook_url=received[1],
        simulator_time_scale=0.005,
        simulator_reserved_inbound_concurrency=RESERVED_INBOUND,
    )
    async with running_simulator(settings) as running:
        yield running


@contextlib.asynccontextmanager
async def strict_client(sim: RunningSimulator, api_key: str) -> AsyncIterator[AsyncRetell]:
    async with (
        httpx.AsyncClient(trust_env=False) as http,
        AsyncRetell(
            api_key=api_key,
            base_url=sim.base_url,
            max_retries=0,
            http_client=http,
            _strict_response_validation=True,
        ) as client,
    ):
        yield client


@pytest.fixture
async def retell(sim: RunningSimulator) -> AsyncIterator[AsyncRetell]:
    async with strict_client(sim, API_KEY) as client:
        yield client


@pytest.fixture
async def raw(sim: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers, trust_env=False) as http:
        yield http


def assert_sdk_call_object(call: dict[str, Any]) -> None:
    """Every field we send is one the SDK knows (a misspelt name would pass silently)."""
    assert set(call) <= set(PhoneCallResponse.model_fields), set(call) - set(
        PhoneCallResponse.model_fields
    )
    parsed = PhoneCallResponse.model_validate(call)
    assert parsed.call_type == "phone_call"
    if "call_analysis" in call:
        assert set(call["call_analysis"]) <= set(CallAnalysis.model_fields)


async def test_sdk_creates_gets_lists_and_stops_a_call(retell: AsyncRetell) -> None:
    created = await retell.call.create_phone_call(
        from_number=FROM,
        to_number=TO,
        override_agent_id="agent_conformance",
        override_agent_version=3,
        metadata={"campaign": "sdk-1", "simulator_scenario": "hangs_ongoing"},
        retell_llm_dynamic_variables={"first_name": "Ada"},
        idempotency_key="sdk-1:1",
    )
    assert isinstance(created, PhoneCallResponse)
    assert created.call_status == "registered"
    assert (created.agent_id, created.agent_version) == ("agent_conformance", 3)
    assert created.metadata == {"campaign": "sdk-1", "simulator_scenario": "hangs_ongoing"}

    again = await retell.call.create_phone_call(
        from_number=FROM, to_number=TO, idempotency_key="sdk-1:1"
    )
    assert again.call_id == created.call_id

    async def ongoing() -> bool:
        call = await retell.call.retrieve(created.call_id)
        return isinstance(call, PhoneCallResponse) and call.call_status == "ongoing"

    await eventually(ongoing)

    listed = await retell.call.list(
        filter_criteria={
            "metadata": [{"key": "campaign", "op": "eq", "type": "string", "value": "sdk-1"}]
        },
        limit=10,
    )
    assert isinstance(listed, CallListResponse)
    assert [c.call_id for c in listed.items] == [created.call_id]
    assert isinstance(listed.items[0], ItemV3PhoneCallResponse)
    assert listed.has_more is False

    await retell.call.stop(created.call_id)
    stopped = await retell.call.retrieve(created.call_id)
    assert isinstance(stopped, PhoneCallResponse)
    assert stopped.call_status == "ended"
    assert stopped.disconnection_reason == "manual_stopped"


async def test_sdk_sees_retells_error_types(retell: AsyncRetell, sim: RunningSimulator) -> None:
    async with strict_client(sim, "wrong") as bad:
        with pytest.raises(AuthenticationError):
            await bad.call.retrieve("call_any")
    with pytest.raises(UnprocessableEntityError) as unknown:
        await retell.call.retrieve("call_unknown")
    # Retell's error body: {"status": "error", "message": ...}
    assert unknown.value.body == {"status": "error", "message": "call_id: call not found"}
    with pytest.raises(NotFoundError):
        await retell.call.stop("call_unknown")
    with pytest.raises(BadRequestError, match="to_number"):
        await retell.call.create_phone_call(from_number=FROM, to_number="+1555")
    with pytest.raises(RateLimitError) as limited:
        await retell.call.create_phone_call(
            from_number=FROM,
            to_number=TO,
            metadata={"simulator_scenario": "rate_limited"},
            idempotency_key="sdk-rl",
        )
    assert limited.value.response.headers["retry-after"] == "1"
    with pytest.raises(InternalServerError):
        await retell.call.create_phone_call(
            from_number=FROM,
            to_number=TO,
            metadata={"simulator_scenario": "server_errors"},
            idempotency_key="sdk-se",
        )
    with pytest.raises(APIStatusError) as billing:
        await retell.call.create_phone_call(
            from_number=FROM, to_number=TO, metadata={"simulator_scenario": "trial_ended"}
        )
    assert billing.value.status_code == 402
    assert billing.value.body == {
        "status": "error",
        "message": "Trial has ended, please add payment method",
    }
    with pytest.raises(PermissionDeniedError):
        await retell.call.create_phone_call(
            from_number=FROM, to_number=TO, metadata={"simulator_scenario": "forbidden"}
        )
    with pytest.raises(ConflictError):
        await retell.call.create_phone_call(
            from_number=FROM,
            to_number=TO,
            metadata={"simulator_scenario": "conflicts"},
            idempotency_key="sdk-conflict",
        )


async def test_sdk_sees_the_do_not_call_refusal(
    retell: AsyncRetell, raw: httpx.AsyncClient
) -> None:
    number = "+14155550177"
    assert (await raw.post("/_sim/dnc", json={"number": number})).status_code == 200
    with pytest.raises(BadRequestError) as refused:
        await retell.call.create_phone_call(
            from_number=FROM, to_number=number, honor_internal_dnc=True
        )
    assert refused.value.body == {
        "status": "error",
        "message": "Call rejected: the contact for to_number is marked do_not_call",
    }
    # Without honor_internal_dnc Retell dials anyway.
    dialed = await retell.call.create_phone_call(
        from_number=FROM, to_number=number, metadata={"simulator_scenario": "no_answer"}
    )
    assert dialed.to_number == number


async def test_sdk_reads_concurrency(retell: AsyncRetell) -> None:
    answer = await retell.concurrency.retrieve()
    assert isinstance(answer, ConcurrencyRetrieveResponse)
    assert answer.concurrency_limit == 20
    assert answer.current_concurrency is not None
    assert answer.current_concurrency >= 0
    assert answer.reserved_inbound_concurrency == RESERVED_INBOUND


def test_the_reserved_inbound_slots_fit_in_the_limit() -> None:
    with pytest.raises(ValidationError, match="simulator_reserved_inbound_concurrency: must not"):
        SimulatorSettings(simulator_concurrency_limit=2, simulator_reserved_inbound_concurrency=3)
    full = SimulatorSettings(
        simulator_concurrency_limit=2, simulator_reserved_inbound_concurrency=2
    )
    assert full.simulator_reserved_inbound_concurrency == 2


async def test_sdk_lists_agents_in_the_shape_it_requires(retell: AsyncRetell) -> None:
    named = await retell.agent.create(
        response_engine={"type": "retell-llm", "llm_id": "llm_conformance"},
        voice_id="11labs-Adrian",
        agent_name="listed-agent",
    )
    unnamed = await retell.agent.create(
        response_engine={"type": "retell-llm", "llm_id": "llm_conformance"},
        voice_id="11labs-Adrian",
    )
    listed = await retell.agent.list(limit=1000)
    assert isinstance(listed, AgentListResponse)
    items = {item.agent_id: item for item in listed.items}
    assert items[named.agent_id].agent_name == "listed-agent"
    assert items[named.agent_id].channel == "voice"
    assert items[named.agent_id].is_suspended is False
    assert items[named.agent_id].user_modified_timestamp == named.last_modification_timestamp
    assert items[unnamed.agent_id].agent_name == ""
    found = await retell.agent.list(filter_criteria={"query": "listed-agent"})
    assert [item.agent_id for item in found.items] == [named.agent_id]


async def calls_ended(retell: AsyncRetell, call_id: str) -> PhoneCallResponse:
    async def analysed() -> bool:
        call = await retell.call.retrieve(call_id)
        return isinstance(call, PhoneCallResponse) and call.call_analysis is not None

    await eventually(analysed)
    call = await retell.call.retrieve(call_id)
    assert isinstance(call, PhoneCallResponse)
    return call


async def test_calls_from_a_number_marked_as_spam_end_marked_as_spam(
    retell: AsyncRetell, raw: httpx.AsyncClient
) -> None:
    spam_from = "+14155550111"
    listed = await raw.post("/_sim/spam-numbers", json={"numbers": [spam_from]})
    assert listed.json() == [spam_from]
    try:
        flagged = await retell.call.create_phone_call(
            from_number=spam_from, to_number=TO, metadata={"simulator_scenario": "answered"}
        )
        clean = await retell.call.create_phone_call(from_number=FROM, to_number=TO)
        spammed = await calls_ended(retell, flagged.call_id)
        assert spammed.disconnection_reason == "marked_as_spam"
        assert spammed.start_timestamp is None  # never connected
        hooks = (await raw.get(f"/_sim/calls/{flagged.call_id}/webhooks")).json()
        assert [h["event"] for h in hooks] == ["call_ended", "call_analyzed"]
        assert (await calls_ended(retell, clean.call_id)).disconnection_reason == "user_hangup"
    finally:
        assert (await raw.post("/_sim/spam-numbers", json={"numbers": []})).json() == []
    bad = await raw.post("/_sim/spam-numbers", json={"numbers": [FROM, "+1555"]})
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("numbers[1]: must be a valid phone number")
    assert (await raw.post("/_sim/spam-numbers", json={"numbers": FROM})).status_code == 400


async def test_a_callback_request_carries_the_asked_time(
    retell: AsyncRetell, raw: httpx.AsyncClient
) -> None:
    asked = "2031-05-06T10:00:00-04:00"
    default = await retell.call.create_phone_call(
        from_number=FROM,
        to_number=TO,
        metadata={"simulator_scenario": "callback_requested", "simulator_callback_at": asked},
    )
    named = await retell.call.create_phone_call(
        from_number=FROM,
        to_number=TO,
        metadata={
            "simulator_scenario": "no_answer,callback_requested",
            "temporal_attempt": "2",
            "simulator_callback_at": "tomorrow at ten",
            "simulator_callback_field": "call_me_at",
        },
    )
    answered = await retell.call.create_phone_call(
        from_number=FROM, to_number=TO, metadata={"simulator_callback_at": asked}
    )
    first = (await calls_ended(retell, default.call_id)).call_analysis
    assert first is not None
    assert first.custom_analysis_data == {"callback_at": asked}
    second = (await calls_ended(retell, named.call_id)).call_analysis
    assert second is not None
    assert second.custom_analysis_data == {"call_me_at": "tomorrow at ten"}
    third = (await calls_ended(retell, answered.call_id)).call_analysis
    assert third is not None
    assert third.custom_analysis_data == {}
    with pytest.raises(BadRequestError, match=r"metadata\.simulator_callback_at: must be a string"):
        await retell.call.create_phone_call(
            from_number=FROM,
            to_number=TO,
            metadata={"simulator_scenario": "callback_requested", "simulator_callback_at": 10},
        )
    with pytest.raises(BadRequestError, match=r"metadata\.simulator_callback_field"):
        await retell.call.create_phone_call(
            from_number=FROM, to_number=TO, metadata={"simulator_callback_field": ""}
        )


def assert_sdk_chat_object(chat: dict[str, Any], *, listed: bool = False) -> None:
    """Every field is one the SDK knows, each message one of its message types; a list-chats
    item carries no transcript field (Retell's V3ChatResponse)."""
    model = ChatListItem if listed else ChatResponse
    assert set(chat) <= set(model.model_fields), set(chat) - set(model.model_fields)
    model.model_validate(chat)
    if listed:
        assert not set(chat) & set(TRANSCRIPT_FIELDS), set(chat) & set(TRANSCRIPT_FIELDS)
    for message in chat.get("message_with_tool_calls", []):
        assert set(message) <= set(MessageWithToolCallMessageBase.model_fields)
        MessageWithToolCallMessageBase.model_validate(message)


def assert_sdk_params(params: type, body: dict[str, Any]) -> None:
    """A body we send is one of the SDK's request TypedDicts: known keys, right types."""
    assert set(body) <= set(params.__annotations__), set(body) - set(params.__annotations__)
    TypeAdapter(params).validate_python(body)


async def test_sdk_creates_an_sms_chat_and_the_simulator_records_it(
    retell: AsyncRetell, raw: httpx.AsyncClient
) -> None:
    texted = "+14155550166"
    answer = await retell.chat.with_raw_response.create_sms_chat(
        from_number=FROM,
        to_number=texted,
        override_agent_id="agent_chat",
        metadata={"campaign": "sms-1"},
        retell_llm_dynamic_variables={"first_name": "Ada"},
    )
    assert answer.status_code == 200  # Retell's API reference: 200, not create-call's 201
    chat = await answer.parse()
    assert isinstance(chat, ChatResponse)
    assert_sdk_chat_object(answer.http_response.json())
    assert (chat.agent_id, chat.chat_type, chat.chat_status) == (
        "agent_chat",
        "sms_chat",
        "ongoing",
    )
    assert chat.retell_llm_dynamic_variables == {"first_name": "Ada"}
    assert chat.metadata == {"campaign": "sms-1"}
    assert chat.message_with_tool_calls
    sent = [
        c for c in (await raw.get("/_sim/sms-chats")).json() if c["chat"]["chat_id"] == chat.chat_id
    ]
    assert [c["request"] for c in sent] == [
        {
            "from_number": FROM,
            "to_number": texted,
            "override_agent_id": "agent_chat",
            "metadata": {"campaign": "sms-1"},
            "retell_llm_dynamic_variables": {"first_name": "Ada"},
            "honor_internal_dnc": False,
        }
    ]
    with pytest.raises(BadRequestError, match="to_number: must be a valid phone number"):
        await retell.chat.create_sms_chat(from_number=FROM, to_number="+1555")
    # Past the SDK's types (a required field left out): Retell's 400 all the same.
    missing = await raw.post("/create-sms-chat", json={"to_number": texted})
    assert missing.status_code == 400
    assert missing.json() == {"status": "error", "message": "from_number: Field required"}
    # The SDK types metadata as any value; Retell's schema as an object.
    with pytest.raises(BadRequestError, match="metadata"):
        await retell.chat.create_sms_chat(from_number=FROM, to_number=texted, metadata="ada")
    with pytest.raises(BadRequestError, match="override_agent_id"):
        await retell.chat.create_sms_chat(from_number=FROM, to_number=texted, override_agent_id="")
    listed = "+14155550188"
    assert (await raw.post("/_sim/dnc", json={"number": listed})).status_code == 200
    before = len((await raw.get("/_sim/sms-chats")).json())
    with pytest.raises(BadRequestError) as refused:
        await retell.chat.create_sms_chat(
            from_number=FROM, to_number=listed, honor_internal_dnc=True
        )
    assert refused.value.body == {
        "status": "error",
        "message": "Chat rejected: the contact for to_number is marked do_not_call",
    }
    assert len((await raw.get("/_sim/sms-chats")).json()) == before


async def test_sdk_lists_sms_chats_by_number_in_pages(
    retell: AsyncRetell, raw: httpx.AsyncClient
) -> None:
    texted, other = "+14155550131", "+14155550132"
    ids = []
    for i in range(3):
        chat = await retell.chat.create_sms_chat(
            from_number=FROM,
            to_number=texted,
            override_agent_id="agent_listed",
            metadata={"n": str(i)},
        )
        ids.append(chat.chat_id)
    await retell.chat.create_sms_chat(from_number=FROM, to_number=other)
    mine: Any = {
        "user_number": {"op": "eq", "type": "string", "value": texted},
        "chat_type": {"op": "in", "type": "enum", "value": ["sms_chat"]},
    }

    first = await retell.chat.list(filter_criteria=mine, limit=2, include_total=True)
    assert isinstance(first, ChatListResponse)
    assert [c.chat_id for c in first.items] == [ids[2], ids[1]]  # newest first by default
    assert (first.has_more, first.total) == (True, 3)
    assert first.pagination_key is not None
    rest = await retell.chat.list(
        filter_criteria=mine, limit=2, pagination_key=first.pagination_key
    )
    assert [c.chat_id for c in rest.items] == ids[:1]
    assert (rest.has_more, rest.pagination_key, rest.total) == (False, None, None)
    oldest = await retell.chat.list(filter_criteria=mine, sort_order="ascending", skip=1)
    assert [c.chat_id for c in oldest.items] == ids[1:]
    assert [c.metadata for c in oldest.items] == [{"n": "1"}, {"n": "2"}]

    by_agent = await retell.chat.list(
        filter_criteria={
            "agent": [{"agent_id": "agent_listed"}],
            "agent_number": {"op": "eq", "type": "string", "value": FROM},
            "chat_status": {"op": "in", "type": "enum", "value": ["ongoing"]},
        },
        limit=1000,
    )
    assert {c.chat_id for c in by_agent.items} == set(ids)
    none = await retell.chat.list(
        filter_criteria={"chat_type": {"op": "in", "type": "enum", "value": ["api_chat"]}}
    )
    assert (none.items, none.has_more) == ([], False)

    # Raw: the items as sent (the SDK's models would read a transcript field as unset).
    page = await retell.chat.with_raw_response.list(filter_criteria=mine)
    assert page.status_code == 200
    body = page.http_response.json()
    assert set(body) <= set(ChatListResponse.model_fields)
    for item in body["items"]:
        assert_sdk_chat_object(item, listed=True)

    # A criterion the simulator does not filter by: 400, never an unfiltered list.
    with pytest.raises(BadRequestError, match=r"filter_criteria\.user_sentiment: is not supported"):
        await retell.chat.list(
            filter_criteria={"user_sentiment": {"op": "in", "type": "enum", "value": ["Positive"]}}
        )
    # Past the SDK's types: a filter of another type, a value outside its Literal.
    for criteria, message in (
        (
            {"user_number": {"op": "in", "type": "enum", "value": [texted]}},
            "filter_criteria.user_number.type: unsupported filter: must be string",
        ),
        (
            {"chat_type": {"op": "in", "type": "enum", "value": ["sms"]}},
            "filter_criteria.chat_type.value: unknown values ['sms']",
        ),
    ):
        refused = await raw.post("/v3/list-chats", json={"filter_criteria": criteria})
        assert refused.status_code == 400
        assert refused.json() == {"status": "error", "message": message}
    with pytest.raises(BadRequestError, match="skip and pagination_key"):
        await retell.chat.list(skip=1, pagination_key=ids[0])
    with pytest.raises(BadRequestError, match="limit"):
        await retell.chat.list(limit=1001)


async def test_our_text_requests_are_the_sdks(sim: RunningSimulator) -> None:
    """The bodies activities/texts.py sends are retell-sdk's params, and what the simulator
    answers them reads back: a text, then the lookup a retried send makes."""
    text = SendTextInput(
        dedupe_key="call-conformance/run",
        to_number="+14155550144",
        from_number=FROM,
        chat_agent_id="agent_chat",
        dynamic_variables={"customer_name": "Ada"},
    )
    body = sms_chat_body(text)
    assert_sdk_params(ChatCreateSMSChatParams, body)
    assert_sdk_params(ChatListParams, sms_chats_to_body(text.to_number, 50))
    async with RetellClient(sim.base_url, API_KEY) as client:
        chat = await client.create_sms_chat(body)
        found = await client.list_sms_chats_to(text.to_number)
    assert_sdk_chat_object(chat)
    assert [c["chat_id"] for c in found] == [chat["chat_id"]]
    assert found[0]["metadata"] == {TEXT_METADATA_KEY: text.dedupe_key}
    assert_sdk_chat_object(found[0], listed=True)


async def test_sdk_creates_and_reads_an_agent_with_its_webhook_url(retell: AsyncRetell) -> None:
    created = await retell.agent.create(
        response_engine={"type": "retell-llm", "llm_id": "llm_conformance"},
        voice_id="11labs-Adrian",
        agent_name="conformance",
        webhook_url="https://calls.example.com/webhooks/retell",
    )
    assert isinstance(created, AgentResponse)
    read = await retell.agent.retrieve(created.agent_id)
    assert read.webhook_url == "https://calls.example.com/webhooks/retell"
    with pytest.raises(NotFoundError):
        await retell.agent.retrieve("agent_unknown")


async def test_an_hour_long_call_carries_word_level_transcripts(raw: httpx.AsyncClient) -> None:
    payload = {
        "from_number": FROM,
        "to_number": TO,
        "metadata": {"simulator_scenario": "answered", "simulator_duration_s": "3600"},
    }
    call_id = (await raw.post("/v2/create-phone-call", json=payload)).json()["call_id"]

    async def analysed() -> bool:
        hooks = (await raw.get(f"/_sim/calls/{call_id}/webhooks")).json()
        return any(h["event"] == "call_analyzed" for h in hooks)

    await eventually(analysed)
    hooks = {
        h["event"]: h["body"] for h in (await raw.get(f"/_sim/calls/{call_id}/webhooks")).json()
    }
    for event in ("call_ended", "call_analyzed"):
        body = hooks[event].encode()
        assert len(body) > 2 * 1024 * 1024, len(body)  # over the old 1 MiB bridge limit
        call = json.loads(body)["call"]
        assert_sdk_call_object(call)
        parsed = PhoneCallResponse.model_validate(call)
        assert parsed.transcript_object
        assert parsed.transcript_with_tool_calls
        assert parsed.scrubbed_transcript_with_tool_calls
        words = [w for u in parsed.transcript_object for w in u.words]
        # An hour at a conversational pace: thousands of timed words, the last near the end.
        assert len(words) > 5000
        assert 3000 < (words[-1].end or 0) < 4000
        roles = {getattr(item, "role", None) for item in parsed.transcript_with_tool_calls}
        assert {"agent", "user", "tool_call_invocation", "tool_call_result"} <= roles


# Scenarios whose calls play to the end by themselves.
PLAYED = sorted(
    name
    for name, s in SCENARIOS.items()
    if s.disconnection_reason is not None and s.create_refusal is None
)


async def test_every_call_object_parses_with_sdk_types(
    raw: httpx.AsyncClient, received: tuple[Received, str]
) -> None:
    bodies, _ = received
    call_ids: list[str] = []
    for name in PLAYED:
        payload = {
            "from_number": FROM,
            "to_number": TO,
            "metadata": {"simulator_scenario": name, "simulator_hold_s": "0"},
            "retell_llm_dynamic_variables": {"k": "v"},
            "idempotency_key": f"parse-{name}",
        }
        response = await raw.post("/v2/create-phone-call", json=payload)
        while response.status_code != 201:  # rate_limited, server_errors, conflicts fail first
            assert response.status_code in (408, 409, 429, 500, 503)
            response = await raw.post("/v2/create-phone-call", json=payload)
        assert_sdk_call_object(response.json())
        call_ids.append(response.json()["call_id"])

    async def all_analysed() -> bool:
        calls = [(await raw.get(f"/v2/get-call/{c}")).json() for c in call_ids]
        return all("call_analysis" in c for c in calls)

    await eventually(all_analysed)
    await asyncio.sleep(0.1)  # let the last deliveries land

    for call_id in call_ids:
        assert_sdk_call_object((await raw.get(f"/v2/get-call/{call_id}")).json())
        for record in (await raw.get(f"/_sim/calls/{call_id}/webhooks")).json():
            webhook = json.loads(record["body"])
            assert set(webhook) == {"event", "call"}
            assert webhook["event"] in {"call_started", "call_ended", "call_analyzed"}
            assert_sdk_call_object(webhook["call"])
    assert bodies, "no webhook reached the receiver"

    page = (await raw.post("/v3/list-calls", json={"limit": 1000})).json()
    assert set(page) <= set(CallListResponse.model_fields)
    listed = CallListResponse.model_validate(page)
    assert {c.call_id for c in listed.items} >= set(call_ids)


async def test_webhook_signatures_verify_with_the_sdk(
    raw: httpx.AsyncClient, received: tuple[Received, str]
) -> None:
    bodies, _ = received
    response = await raw.post("/v2/create-phone-call", json={"from_number": FROM, "to_number": TO})
    call_id = response.json()["call_id"]

    def mine() -> Received:
        return [(b, s) for b, s in bodies if json.loads(b)["call"]["call_id"] == call_id]

    async def three() -> bool:
        return len(mine()) == 3

    await eventually(three)
    for body, signature in mine():
        assert sdk_verifies(body, WEBHOOK_KEY, signature)
        assert not sdk_verifies(body, API_KEY, signature)
        assert not sdk_verifies(body.replace(b'"call_id"', b'"call_id" '), WEBHOOK_KEY, signature)
        # Verification must use the raw bytes: re-serialised JSON no longer matches.
        reserialised = json.dumps(json.loads(body)).encode()
        assert not sdk_verifies(reserialised, WEBHOOK_KEY, signature)
