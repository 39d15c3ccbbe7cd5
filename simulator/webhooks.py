"""Webhook delivery the way Retell does it: signed, retried, in order per call.

Every delivery is recorded (body, attempts, status codes) so that tests can assert on what
a receiver was offered, including deliveries a scenario suppresses on purpose.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

from calls.signatures import SIGNATURE_HEADER, sign_retell_body
from simulator.scenarios import Delivery

log = structlog.get_logger("simulator.webhooks")

# Retell waits 10 s for a 2xx and then retries, up to 3 times.
ATTEMPT_TIMEOUT_S = 10.0
MIN_ATTEMPT_TIMEOUT_S = 0.5
RETRIES = 3
RETRY_DELAY_S = 1.0
DUPLICATE_COPIES = 3


def encode_event(event: str, call: dict[str, Any]) -> str:
    """The body as Retell's Node service writes it: compact, UTF-8, not ASCII-escaped.

    Compact separators matter: Python's default ``json.dumps`` adds spaces, so a receiver
    that re-serialises parsed JSON with it would only pass against a Python sender.
    """
    return json.dumps({"event": event, "call": call}, separators=(",", ":"), ensure_ascii=False)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class DeliveryAttempt:
    started_ms: int
    elapsed_ms: int
    status_code: int | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "started_ms": self.started_ms,
            "elapsed_ms": self.elapsed_ms,
            "status_code": self.status_code,
            "error": self.error,
        }


@dataclass
class WebhookRecord:
    """One delivery of one event (a duplicated event has one record per copy)."""

    event: str
    body: str
    copy: int = 1
    suppressed_reason: str | None = None
    delivered: bool = False
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "body": self.body,
            "copy": self.copy,
            "suppressed": self.suppressed_reason is not None,
            "suppressed_reason": self.suppressed_reason,
            "delivered": self.delivered,
            "attempts": [a.to_json() for a in self.attempts],
        }


@dataclass(frozen=True)
class WebhookPolicy:
    url: str | None
    key: str
    attempt_timeout_s: float
    retries: int = RETRIES
    retry_delay_s: float = RETRY_DELAY_S

    @classmethod
    def scaled(
        cls, url: str | None, key: str, time_scale: float, attempt_timeout_s: float | None = None
    ) -> WebhookPolicy:
        if attempt_timeout_s is None:
            attempt_timeout_s = max(ATTEMPT_TIMEOUT_S * time_scale, MIN_ATTEMPT_TIMEOUT_S)
        return cls(
            url=url,
            key=key,
            attempt_timeout_s=attempt_timeout_s,
            retry_delay_s=RETRY_DELAY_S * time_scale,
        )


class WebhookSender:
    """Posts one record until a 2xx answers or the retries run out."""

    def __init__(self, client: httpx.AsyncClient, policy: WebhookPolicy) -> None:
        self._client = client
        self.policy = policy

    async def deliver(self, call_id: str, record: WebhookRecord) -> None:
        answer = await self.post(
            record.body.encode(), record.attempts, call_id=call_id, webhook_event=record.event
        )
        record.delivered = answer is not None

    async def post(
        self, body: bytes, attempts: list[DeliveryAttempt], **log_fields: str
    ) -> httpx.Response | None:
        """POST ``body`` signed until a 2xx answers (returned) or the retries run out (None);
        each attempt is appended to ``attempts``."""
        url = self.policy.url
        if url is None:
            return None
        for attempt in range(1 + self.policy.retries):
            if attempt:
                await asyncio.sleep(self.policy.retry_delay_s)
            # Signed per attempt, as Retell does: a retry must not carry a stale timestamp.
            headers = {
                "content-type": "application/json",
                SIGNATURE_HEADER: sign_retell_body(self.policy.key, body),
            }
            started_ms = _now_ms()
            clock = time.monotonic()
            response: httpx.Response | None = None
            error: str | None = None
            try:
                async with asyncio.timeout(self.policy.attempt_timeout_s):
                    response = await self._client.post(url, content=body, headers=headers)
            except TimeoutError:
                error = "timeout"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            status = None if response is None else response.status_code
            elapsed_ms = int((time.monotonic() - clock) * 1000)
            attempts.append(DeliveryAttempt(started_ms, elapsed_ms, status, error))
            if response is not None and response.is_success:
                return response
            log.warning(
                "webhook_attempt_failed",
                attempt=attempt + 1,
                status_code=status,
                error=error,
                **log_fields,
            )
        log.error("webhook_abandoned", **log_fields)
        return None


class WebhookOutbox:
    """One call's webhooks, sent one after another in the order its scenario dictates.

    Each call has its own outbox (and task), so a slow receiver for one call never delays
    another call's events, while the events of one call keep their order.
    """

    def __init__(self, call_id: str, sender: WebhookSender, delivery: Delivery) -> None:
        self.call_id = call_id
        self.records: list[WebhookRecord] = []
        self._sender = sender
        self._delivery = delivery
        self._held: list[WebhookRecord] = []
        self._queue: asyncio.Queue[WebhookRecord | None] = asyncio.Queue()

    def emit(self, event: str, call: dict[str, Any]) -> None:
        """Queue ``event`` with the call as it is now (its body is frozen at this moment)."""
        body = encode_event(event, call)
        if self._delivery is Delivery.LOST:
            self.records.append(WebhookRecord(event, body, suppressed_reason="webhooks_lost"))
        elif self._sender.policy.url is None:
            self.records.append(WebhookRecord(event, body, suppressed_reason="no_webhook_url"))
        elif self._delivery is Delivery.REVERSED:
            self._held.append(WebhookRecord(event, body))
        elif self._delivery is Delivery.DUPLICATED:
            for copy in range(1, DUPLICATE_COPIES + 1):
                self._enqueue(WebhookRecord(event, body, copy=copy))
        else:
            self._enqueue(WebhookRecord(event, body))

    def close(self) -> None:
        """No more events: release held ones (newest first) and let :meth:`run` finish."""
        for record in reversed(self._held):
            self._enqueue(record)
        self._held.clear()
        self._queue.put_nowait(None)

    def _enqueue(self, record: WebhookRecord) -> None:
        self.records.append(record)
        self._queue.put_nowait(record)

    async def run(self) -> None:
        while (record := await self._queue.get()) is not None:
            await self._sender.deliver(self.call_id, record)
