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

from calls.models import RetellCall
from calls.phone import mask_numbers_in


class RetellError(Exception):
    """Base of every failure talking to Retell. Messages never contain the API key."""

    retryable = True

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(mask_numbers_in(message))
        self.status_code = status_code


class RetellRequestRejected(RetellError):
    """400/401/402/403/404/422: the same request will fail again; do not retry."""

    retryable = False


class RetellRateLimited(RetellError):
    """429: retry after ``retry_after_s`` (from ``Retry-After``) when Retell says."""

    def __init__(self, message: str, *, retry_after_s: float | None) -> None:
        super().__init__(message, status_code=429)
        self.retry_after_s = retry_after_s


class RetellUnavailable(RetellError):
    """5xx, connection errors and timeouts: retry with backoff."""


class CallPage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    items: list[RetellCall] = Field(default_factory=list)
    pagination_key: str | None = None


_REJECTED_STATUSES = frozenset({400, 401, 402, 403, 404, 409, 422})


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
        for key in ("error_message", "message", "detail", "error"):
            if key in body:
                return str(body[key])[:200]
    return str(body)[:200]


class RetellClient:
    """Retell's HTTP API. Create one per process and share it (connection pooling)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 20.0,
        max_connections: int = 100,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

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

    async def _request(self, method: str, path: str, json: Mapping[str, Any] | None) -> Any:
        what = f"{method} {path.split('/call_')[0]}"
        try:
            response = await self._http.request(method, path, json=json)
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
        if status in _REJECTED_STATUSES:
            raise RetellRequestRejected(text, status_code=status)
        raise RetellUnavailable(text, status_code=status)

    async def create_phone_call(self, body: Mapping[str, Any]) -> RetellCall:
        return RetellCall.model_validate(await self._request("POST", "/v2/create-phone-call", body))

    async def get_call(self, call_id: str) -> RetellCall:
        return RetellCall.model_validate(
            await self._request("GET", f"/v2/get-call/{call_id}", None)
        )

    async def stop_call(self, call_id: str) -> None:
        await self._request("POST", f"/v2/stop-call/{call_id}", None)

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

    async def list_calls_by_metadata(
        self, key: str, value: str, *, limit: int = 10
    ) -> list[RetellCall]:
        body = {
            "filter_criteria": {
                "metadata": [{"key": key, "op": "eq", "type": "string", "value": value}]
            },
            "limit": limit,
        }
        return CallPage.model_validate(await self._request("POST", "/v3/list-calls", body)).items
