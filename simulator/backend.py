"""The simulated Retell account: calls, idempotency keys, do-not-call list, request log.

HTTP-free on purpose: :mod:`simulator.app` maps routes onto these methods, and raises what
they raise (:class:`ApiError`) as Retell's error JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from adapters.settings import SimulatorSettings
from outbound_calls_client.phone import mask_number
from simulator.agents import AgentStore
from simulator.call_record import SimulatedCall, now_ms
from simulator.errors import ApiError
from simulator.inbound import (
    InboundAnswer,
    InboundCallRequest,
    InboundWebhookRecord,
    ask_inbound_webhook,
)
from simulator.lifecycle import play_call
from simulator.listing import ListCallsRequest, list_calls
from simulator.numbers import E164_RULE, check_e164, is_e164
from simulator.scenarios import (
    DEFAULT_SCENARIO,
    MARKED_AS_SPAM,
    SCENARIO_KEY,
    SCENARIOS,
    Scenario,
    ScenarioError,
    callback_analysis_for,
    duration_for,
    scenario_for,
    timing_for,
)
from simulator.sms import CreateSmsChatRequest, ListChatsRequest, SmsChat, chat_object, list_chats
from simulator.webhooks import WebhookOutbox, WebhookPolicy, WebhookRecord, WebhookSender

log = structlog.get_logger("simulator.calls")

IDEMPOTENCY_WINDOW_S = 3600.0
DEFAULT_AGENT_ID = "agent_simulator"
DEFAULT_AGENT_VERSION = 1
# How long stop-call waits for the call task to record the end before answering.
STOP_WAIT_S = 1.0
# Retell's refusal of a number marked do-not-call (honor_internal_dnc). Retell documents the
# status (400) and the condition ("the contact for to_number is marked do_not_call"), not
# the sentence; this one uses the documented words.
DNC_REFUSAL = "Call rejected: the contact for to_number is marked do_not_call"
DNC_CHAT_REFUSAL = "Chat rejected: the contact for to_number is marked do_not_call"
# What each simulated create failure says (402's text is Retell's own).
FAILURE_MESSAGES = {
    402: "Trial has ended, please add payment method",
    403: "Forbidden: this API key may not place calls",
    408: "Request timeout, please retry",
    409: "Conflict: a request with this idempotency_key is in progress, please retry",
}


class CreatePhoneCallRequest(BaseModel):
    """The fields of ``POST /v2/create-phone-call`` the simulator uses; others are ignored."""

    model_config = ConfigDict(extra="ignore")

    from_number: str
    to_number: str
    override_agent_id: str | None = None
    override_agent_version: int | str | None = None
    metadata: dict[str, Any] | None = None
    retell_llm_dynamic_variables: dict[str, str] | None = None
    custom_sip_headers: dict[str, str] | None = None
    honor_internal_dnc: bool = False
    idempotency_key: str | None = None

    _e164 = field_validator("from_number", "to_number")(check_e164)


def validation_message(error: ValidationError) -> str:
    """One line naming each offending field, e.g. ``to_number: must be ...``."""
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "body"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


@dataclass
class RequestRecord:
    method: str
    path: str
    received_ms: int
    status_code: int | None = None
    idempotency_key: str | None = None
    call_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "received_ms": self.received_ms,
            "status_code": self.status_code,
            "idempotency_key": self.idempotency_key,
            "call_id": self.call_id,
        }


@dataclass(frozen=True)
class CreatedCall:
    call: SimulatedCall
    # Seconds to sit on the answer before sending it (lost_response), else 0.
    hold_s: float = 0.0


def _request_identity(body: dict[str, Any], request: CreatePhoneCallRequest) -> str:
    """Who "the same request" is, for scenarios that fail the first tries of a request."""
    if request.idempotency_key is not None:
        return "key:" + request.idempotency_key
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return "body:" + hashlib.sha256(canonical.encode()).hexdigest()


def _agent_version(raw: int | str | None) -> int:
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    # Tags and "latest" resolve to some version on Retell; any fixed one will do here.
    return DEFAULT_AGENT_VERSION


class SimulatedRetell:
    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.agents = AgentStore()
        self._api_key = settings.retell_api_key.get_secret_value().encode()
        self._policy = WebhookPolicy.scaled(
            settings.simulator_webhook_url,
            settings.webhook_key(),
            settings.simulator_time_scale,
            settings.simulator_webhook_timeout_s,
        )
        self._client: httpx.AsyncClient | None = None
        self._calls: dict[str, SimulatedCall] = {}
        self._idempotency: dict[str, tuple[str, float]] = {}
        self._create_attempts: Counter[str] = Counter()
        self._dnc: set[str] = set()
        self._spam: set[str] = set()
        self._inbound_policy = replace(self._policy, url=settings.simulator_inbound_webhook_url)
        self._inbound: list[InboundWebhookRecord] = []
        self._sms_chats: list[SmsChat] = []
        # (status, how many more list-calls fail; None: all) while a test says so.
        self._list_calls_failure: tuple[int, int | None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()
        self.requests: list[RequestRecord] = []

    # -- process life -------------------------------------------------------------------

    async def start(self) -> None:
        # One client for every webhook; proxies from the environment must not see them.
        # Connections well above httpx's defaults: a delivery waiting for a pooled connection
        # would count against its timeout and look like a slow receiver. Few kept alive:
        # httpcore checks every pooled connection (a socket poll each) whenever a request
        # starts or ends, so 200 idle ones made the simulator's CPU per call grow fourfold
        # with the burst (11 ms a call with 20, up to 44 with 200; bench.e2e_calls).
        self._client = httpx.AsyncClient(
            trust_env=False,
            timeout=self._policy.attempt_timeout_s + 1.0,
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=20),
        )

    def begin_shutdown(self) -> None:
        """Release held answers and stop every call, so the HTTP server can drain."""
        self._closing.set()
        for task in self._tasks:
            task.cancel()

    async def aclose(self) -> None:
        self.begin_shutdown()
        await self._cancel_tasks()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- API ----------------------------------------------------------------------------

    def is_authorized(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(token.strip().encode(), self._api_key)

    async def create_phone_call(self, body: Any) -> CreatedCall:
        if not isinstance(body, dict):
            raise ApiError(400, "body: must be a JSON object")
        try:
            request = CreatePhoneCallRequest.model_validate(body)
            scenario = scenario_for(request.metadata)
            timing = timing_for(request.metadata, self.settings.simulator_time_scale)
            duration_s = duration_for(request.metadata)
            custom_analysis = callback_analysis_for(scenario, request.metadata)
        except ValidationError as exc:
            raise ApiError(400, validation_message(exc)) from None
        except ScenarioError as exc:
            raise ApiError(400, str(exc)) from None

        existing = self._lookup_idempotency(request.idempotency_key)
        if existing is not None:
            return CreatedCall(existing)

        identity = _request_identity(body, request)
        attempt = self._create_attempts[identity]
        self._create_attempts[identity] += 1
        if scenario.create_refusal is not None:
            status = scenario.create_refusal
            raise ApiError(status, FAILURE_MESSAGES.get(status, "simulated refusal"))
        if attempt < len(scenario.create_failures):
            status = scenario.create_failures[attempt]
            if status == 429:
                raise ApiError(429, "rate limited, retry later", {"Retry-After": "1"})
            raise ApiError(status, FAILURE_MESSAGES.get(status, "simulated server error"))

        if request.honor_internal_dnc and request.to_number in self._dnc:
            raise ApiError(400, DNC_REFUSAL)

        if request.from_number in self._spam:
            # The carrier refuses the caller ID whatever the call was meant to do.
            scenario, custom_analysis = MARKED_AS_SPAM, {}
        call_id = "call_" + uuid.uuid4().hex
        agent_id = request.override_agent_id or DEFAULT_AGENT_ID
        call = SimulatedCall(
            call_id=call_id,
            agent_id=agent_id,
            agent_version=_agent_version(request.override_agent_version),
            from_number=request.from_number,
            to_number=request.to_number,
            scenario=scenario,
            timing=timing,
            outbox=self._outbox(call_id, agent_id, scenario),
            metadata=request.metadata,
            dynamic_variables=request.retell_llm_dynamic_variables,
            custom_sip_headers=request.custom_sip_headers,
            idempotency_key=request.idempotency_key,
            duration_s=duration_s,
            custom_analysis_data=custom_analysis,
        )
        if request.idempotency_key is not None:
            self._idempotency[request.idempotency_key] = (call_id, time.monotonic())
        self._play(call)
        hold_s = timing.hold_s if scenario.holds_first_response and attempt == 0 else 0.0
        return CreatedCall(call, hold_s)

    def _http_client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("SimulatedRetell.start() was not awaited (app lifespan not run)")
        return self._client

    def _outbox(self, call_id: str, agent_id: str, scenario: Scenario) -> WebhookOutbox:
        # As at Retell: an agent's own webhook_url overrides the account-level one.
        policy = self._policy
        agent_url = self.agents.webhook_url(agent_id)
        if agent_url is not None:
            policy = replace(policy, url=agent_url)
        sender = WebhookSender(self._http_client(), policy)
        return WebhookOutbox(call_id, sender, scenario.delivery)

    def _play(self, call: SimulatedCall) -> None:
        self._calls[call.call_id] = call
        self._spawn(call.outbox.run())
        self._spawn(play_call(call, self._on_ended))
        log.info(
            "call_created",
            call_id=call.call_id,
            direction=call.direction,
            number=mask_number(call.callee_number),
            scenario=call.scenario.name,
        )

    async def inbound_call(self, body: Any) -> tuple[SimulatedCall, InboundWebhookRecord]:
        """A person calls ``to_number``: ask the inbound webhook (if the number has one),
        then play the call as its answer says; a failed or malformed answer leaves the
        call to the number's agent, with no variables."""
        if not isinstance(body, dict):
            raise ApiError(400, "body: must be a JSON object")
        try:
            request = InboundCallRequest.model_validate(body)
            scenario = scenario_for({SCENARIO_KEY: request.scenario or DEFAULT_SCENARIO})
        except ValidationError as exc:
            raise ApiError(400, validation_message(exc)) from None
        except ScenarioError:
            known = ", ".join(sorted(SCENARIOS))
            raise ApiError(400, f"scenario: unknown scenario; known: {known}") from None
        if scenario.create_refusal is not None or scenario.create_failures:
            raise ApiError(400, f"scenario: {scenario.name} is about create requests")
        call_id = "call_" + uuid.uuid4().hex
        number_agent = request.agent_id or DEFAULT_AGENT_ID
        sender = WebhookSender(self._http_client(), self._inbound_policy)
        record = await ask_inbound_webhook(sender, call_id, number_agent, request)
        self._inbound.append(record)
        answer = record.answer or InboundAnswer()
        agent_id = answer.override_agent_id or number_agent
        call = SimulatedCall(
            call_id=call_id,
            agent_id=agent_id,
            agent_version=_agent_version(answer.override_agent_version),
            from_number=request.from_number,
            to_number=request.to_number,
            scenario=scenario,
            timing=timing_for(None, self.settings.simulator_time_scale),
            outbox=self._outbox(call_id, agent_id, scenario),
            metadata=answer.metadata,
            dynamic_variables=answer.dynamic_variables,
            direction="inbound",
        )
        self._play(call)
        return call, record

    def create_sms_chat(self, body: Any) -> SmsChat:
        if not isinstance(body, dict):
            raise ApiError(400, "body: must be a JSON object")
        try:
            request = CreateSmsChatRequest.model_validate(body)
        except ValidationError as exc:
            raise ApiError(400, validation_message(exc)) from None
        if request.honor_internal_dnc and request.to_number in self._dnc:
            raise ApiError(400, DNC_CHAT_REFUSAL)
        agent_id = request.override_agent_id or DEFAULT_AGENT_ID
        version = _agent_version(request.override_agent_version)
        sent = SmsChat(request, chat_object(request, agent_id, version))
        self._sms_chats.append(sent)
        log.info("sms_chat_created", chat_id=sent.chat["chat_id"])
        return sent

    async def hold(
        self, seconds: float, client_gone: Callable[[], Awaitable[bool]] | None = None
    ) -> None:
        """Sit on an answer (lost_response) until the time is up, the simulator shuts down,
        or the client has given up (then nobody is left to answer, and a shutdown need not
        wait for this request)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._closing.is_set() and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(0.1, max(0.0, deadline - loop.time()))):
                    await self._closing.wait()
            if client_gone is not None and await client_gone():
                return

    def _lookup_idempotency(self, key: str | None) -> SimulatedCall | None:
        if key is None or key not in self._idempotency:
            return None
        call_id, created = self._idempotency[key]
        if time.monotonic() - created > IDEMPOTENCY_WINDOW_S:
            del self._idempotency[key]
            return None
        return self._calls.get(call_id)

    def _on_ended(self, call: SimulatedCall) -> None:
        if call.disconnection_reason == "user_requested_dnc":
            self._dnc.add(call.callee_number)

    def get_call(self, call_id: str) -> SimulatedCall:
        """The call; an unknown id answers 422, as Retell's get-call does."""
        call = self._calls.get(call_id)
        if call is None:
            raise ApiError(422, "call_id: call not found")
        return call

    async def stop_call(self, call_id: str) -> None:
        """Hang up; stopping a call that already ended is a no-op, an unknown id is 404."""
        call = self._calls.get(call_id)
        if call is None:
            raise ApiError(404, "call_id: call not found")
        if call.ended.is_set():
            return
        call.stop_requested.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_WAIT_S):
                await call.ended.wait()

    def list_calls(self, body: Any) -> dict[str, Any]:
        if self._list_calls_failure is not None:
            status, left = self._list_calls_failure
            if left is not None:
                self._list_calls_failure = (status, left - 1) if left > 1 else None
            raise ApiError(status, FAILURE_MESSAGES.get(status, "simulated server error"))
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ApiError(400, "body: must be a JSON object")
        try:
            request = ListCallsRequest.model_validate(body)
        except ValidationError as exc:
            raise ApiError(400, validation_message(exc)) from None
        return list_calls([c.to_api() for c in self._calls.values()], request)

    def concurrency(self) -> dict[str, Any]:
        """``GET /get-concurrency``: live calls against the configured limit (no burst)."""
        limit = self.settings.simulator_concurrency_limit
        live = sum(1 for c in self._calls.values() if c.call_status in ("registered", "ongoing"))
        return {
            "current_concurrency": live,
            "concurrency_limit": limit,
            "base_concurrency": limit,
            "purchased_concurrency": 0,
            "concurrency_purchase_limit": 0,
            "remaining_purchase_limit": 0,
            "concurrency_burst_enabled": False,
            "concurrency_burst_limit": 0,
            "reserved_inbound_concurrency": (self.settings.simulator_reserved_inbound_concurrency),
        }

    # -- controls and records for tests ---------------------------------------------------

    def fail_list_calls(self, status: int, count: int | None) -> None:
        """Answer the next ``count`` list-calls (None: every one until reset) with ``status``."""
        self._list_calls_failure = None if count == 0 else (status, count)

    def calls(self, to_number: str | None = None) -> list[SimulatedCall]:
        return [c for c in self._calls.values() if to_number in (None, c.to_number)]

    def webhooks(self, call_id: str) -> list[WebhookRecord]:
        call = self._calls.get(call_id)
        if call is None:
            raise ApiError(404, "call not found")
        return list(call.outbox.records)

    def record_request(self, method: str, path: str) -> RequestRecord:
        record = RequestRecord(method=method, path=path, received_ms=now_ms())
        self.requests.append(record)
        return record

    def forget_idempotency(self, key: str | None = None) -> int:
        """Forget one key or all (as if their hour had passed); returns how many."""
        if key is None:
            count = len(self._idempotency)
            self._idempotency.clear()
            return count
        return 1 if self._idempotency.pop(key, None) is not None else 0

    def dnc_numbers(self) -> list[str]:
        return sorted(self._dnc)

    def add_dnc(self, number: str) -> None:
        self._dnc.add(number)

    def spam_numbers(self) -> list[str]:
        return sorted(self._spam)

    def set_spam_numbers(self, numbers: Any) -> None:
        """The from-numbers carriers flag as spam from now on (replaces the list)."""
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            raise ApiError(400, "numbers: must be a list of strings")
        for i, number in enumerate(numbers):
            if not is_e164(number):
                raise ApiError(400, f"numbers[{i}]: {E164_RULE}")
        self._spam = set(numbers)

    def inbound_webhooks(self) -> list[InboundWebhookRecord]:
        return list(self._inbound)

    def list_sms_chats(self, body: Any) -> dict[str, Any]:
        """``POST /v3/list-chats`` over the texts sent (the simulator has no API chats)."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ApiError(400, "body: must be a JSON object")
        try:
            request = ListChatsRequest.model_validate(body)
        except ValidationError as exc:
            raise ApiError(400, validation_message(exc)) from None
        return list_chats(self._sms_chats, request)

    def sms_chats(self) -> list[SmsChat]:
        return list(self._sms_chats)

    async def reset(self) -> None:
        await self._cancel_tasks()
        self._calls.clear()
        self._idempotency.clear()
        self._create_attempts.clear()
        self._dnc.clear()
        self._spam.clear()
        self._inbound.clear()
        self._sms_chats.clear()
        self._list_calls_failure = None
        self.agents.clear()
        self.requests.clear()
