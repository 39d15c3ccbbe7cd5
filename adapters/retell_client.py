"""A small async client for the four Retell endpoints we use, on one shared httpx client.

Why not ``retell-sdk`` at run time: it retries creates by itself, which would hide retries
from Temporal (the one place that decides them) and could dial twice. This client never
retries; it classifies each failure so the activity can tell Temporal what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field

from adapters.tracing import instrument_httpx, with_trace_context
from outbound_calls_client.phone import mask_numbers_in
from outbound_calls_client.retell_wire import RetellCall


class RetellError(Exception):
    """Base of every failure talking to Retell. Messages never contain the API key."""

    retryable = True

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(mask_numbers_in(message))
        self.status_code = status_code


class RetellRequestRejected(RetellError):
    """400/401/402/403/404/422: the same request will fail again; do not retry."""

    retryable = False


class RetellAccountProblem(RetellRequestRejected):
    """401 (bad key), 402 (billing: "Trial has ended"), 403 (not allowed): nothing about this
    call can fix it; a person must fix the account or the key."""


class RetellDoNotCall(RetellRequestRejected):
    """400 to a create with ``honor_internal_dnc``: Retell has the number marked do-not-call."""


class RetellCallNotFound(RetellRequestRejected):
    """get-call/stop-call of a call id Retell does not know (422, or 404)."""


class RetellRateLimited(RetellError):
    """429: retry after ``retry_after_s`` (from ``Retry-After``) when Retell says."""

    def __init__(self, message: str, *, retry_after_s: float | None) -> None:
        super().__init__(message, status_code=429)
        self.retry_after_s = retry_after_s


class RetellUnavailable(RetellError):
    """5xx, 408, 409, connection errors and timeouts: retry with backoff.

    408 (request timeout) and 409 (lock conflict) are retried by retell-sdk's own client too.
    """


class CallPage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    items: list[RetellCall] = Field(default_factory=list)
    pagination_key: str | None = None


_REJECTED_STATUSES = frozenset({400, 401, 402, 403, 404, 422})
_ACCOUNT_STATUSES = frozenset({401, 402, 403})
_NOT_FOUND_STATUSES = frozenset({404, 422})
# Timeouts of retell-sdk's own client (retell/resources/call.py): create-phone-call 120 s,
# list-calls 300 s; everything else the client default.
CREATE_TIMEOUT_S = 120.0
LIST_CALLS_TIMEOUT_S = 300.0


def is_do_not_call_refusal(message: str) -> bool:
    """Whether a create's 400 is Retell's do-not-call refusal (``honor_internal_dnc``).

    Retell documents the status (400) but not the wording; its types say "the contact for
    to_number is marked do_not_call", so match the words rather than one exact sentence.
    """
    text = message.lower().replace("-", "_").replace(" ", "_")
    return "do_not_call" in text or "dnc" in text.split("_")


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from Retell; the retry policy's backoff applies


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        # Retell answers {"status": "error", "message": ...}; older answers and proxies
        # use other keys.
        for key in ("message", "error_message", "detail", "error"):
            if key in body:
                return str(body[key])[:200]
    return str(body)[:200]


def sms_chats_to_body(to_number: str, limit: int) -> dict[str, Any]:
    """list-chats' body for the newest SMS chats with ``to_number``."""
    return {
        "filter_criteria": {
            "user_number": {"op": "eq", "type": "string", "value": to_number},
            "chat_type": {"op": "in", "type": "enum", "value": ["sms_chat"]},
        },
        "limit": limit,
        "sort_order": "descending",
    }


class RetellClient:
    """Retell's HTTP API. Create one per process and share it (connection pooling)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 20.0,
        create_timeout_s: float = CREATE_TIMEOUT_S,
        list_calls_timeout_s: float = LIST_CALLS_TIMEOUT_S,
        max_connections: int = 100,
    ) -> None:
        self._create_timeout = httpx.Timeout(create_timeout_s, connect=connect_timeout_s)
        self._list_calls_timeout = httpx.Timeout(list_calls_timeout_s, connect=connect_timeout_s)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        instrument_httpx(self._http)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        json: Mapping[str, Any] | None,
        *,
        http_timeout: httpx.Timeout | None = None,
    ) -> Any:
        what = f"{method} {path.split('/call_')[0]}"
        try:
            if http_timeout is None:
                response = await self._http.request(method, path, json=json)
            else:
                response = await self._http.request(method, path, json=json, timeout=http_timeout)
        except httpx.TimeoutException as exc:
            raise RetellUnavailable(f"{what}: timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise RetellUnavailable(f"{what}: connection failed ({type(exc).__name__})") from None
        status = response.status_code
        if status < 300:
            return response.json() if response.content else None
        text = f"{what}: HTTP {status}: {_error_text(response)}"
        if status == 429:
            raise RetellRateLimited(
                text, retry_after_s=_retry_after_seconds(response.headers.get("retry-after"))
            )
        if status in _ACCOUNT_STATUSES:
            raise RetellAccountProblem(text, status_code=status)
        if status in _REJECTED_STATUSES:
            raise RetellRequestRejected(text, status_code=status)
        raise RetellUnavailable(text, status_code=status)

    async def create_phone_call(self, body: Mapping[str, Any]) -> RetellCall:
        body = with_trace_context(body)  # webhooks echo it: one trace per call
        answer = await self._create("/v2/create-phone-call", body)
        return RetellCall.model_validate(answer)

    async def _create(self, path: str, body: Mapping[str, Any]) -> Any:
        """A create (a call, a text) on the create timeout. With ``honor_internal_dnc``, a
        contact Retell knows as do-not-call is RetellDoNotCall, not a bad request."""
        try:
            return await self._request("POST", path, body, http_timeout=self._create_timeout)
        except RetellRequestRejected as exc:
            if (
                type(exc) is RetellRequestRejected
                and exc.status_code == 400
                and body.get("honor_internal_dnc")
                and is_do_not_call_refusal(str(exc))
            ):
                raise RetellDoNotCall(str(exc), status_code=400) from None
            raise

    async def _call_request(self, method: str, path: str) -> Any:
        """A request about one call id: an id Retell does not know is RetellCallNotFound."""
        try:
            return await self._request(method, path, None)
        except RetellRequestRejected as exc:
            if type(exc) is RetellRequestRejected and exc.status_code in _NOT_FOUND_STATUSES:
                raise RetellCallNotFound(str(exc), status_code=exc.status_code) from None
            raise

    async def get_call(self, call_id: str) -> RetellCall:
        return RetellCall.model_validate(await self._call_request("GET", f"/v2/get-call/{call_id}"))

    async def stop_call(self, call_id: str) -> None:
        await self._call_request("POST", f"/v2/stop-call/{call_id}")

    async def update_agent(self, agent_id: str, body: Mapping[str, Any]) -> None:
        """Change fields of an agent (``PATCH /update-agent/{agent_id}``)."""
        await self._request("PATCH", f"/update-agent/{agent_id}", body)

    async def get_agent(self, agent_id: str) -> dict[str, Any]:
        """The agent object (``GET /get-agent/{agent_id}``)."""
        answer: dict[str, Any] = await self._request("GET", f"/get-agent/{agent_id}", None)
        return answer

    async def get_concurrency(self) -> dict[str, Any]:
        """The account's live concurrency (``current_concurrency``, ``concurrency_limit``...)."""
        answer: dict[str, Any] = await self._request("GET", "/get-concurrency", None)
        return answer

    async def create_agent(self, body: Mapping[str, Any]) -> str:
        """Create an agent; answers its agent_id."""
        answer = await self._request("POST", "/create-agent", body)
        return str(answer["agent_id"])

    async def find_agent_by_name(self, name: str) -> str | None:
        """The agent_id of the agent named exactly ``name``, if one exists."""
        body = {"filter_criteria": {"query": name}}
        pagination_key: str | None = None
        for _ in range(20):  # names are unique enough that one page nearly always suffices
            path = "/v2/list-agents?limit=100"
            if pagination_key:
                path += f"&pagination_key={pagination_key}"
            page = await self._request("POST", path, body)
            for agent in page.get("items", []):
                if agent.get("agent_name") == name:
                    return str(agent["agent_id"])
            pagination_key = page.get("pagination_key")
            if not page.get("has_more") or not pagination_key:
                return None
        return None

    async def create_sms_chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Send one text (``POST /create-sms-chat``); answers the chat object. With
        ``honor_internal_dnc``, a contact Retell knows as do-not-call is RetellDoNotCall."""
        answer: dict[str, Any] = await self._create("/create-sms-chat", body)
        return answer

    async def list_sms_chats_to(self, to_number: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """The newest SMS chats with ``to_number`` (``POST /v3/list-chats``, first page)."""
        answer = await self._request(
            "POST",
            "/v3/list-chats",
            sms_chats_to_body(to_number, limit),
            http_timeout=self._list_calls_timeout,
        )
        items: list[dict[str, Any]] = answer.get("items", [])
        return items

    async def list_calls_by_metadata(
        self, key: str, value: str, *, limit: int = 10
    ) -> list[RetellCall]:
        body = {
            "filter_criteria": {
                "metadata": [{"key": key, "op": "eq", "type": "string", "value": value}]
            },
            "limit": limit,
        }
        answer = await self._request(
            "POST", "/v3/list-calls", body, http_timeout=self._list_calls_timeout
        )
        return CallPage.model_validate(answer).items
