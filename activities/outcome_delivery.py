"""Deliver a finished call's outcome to the caller's URL, signed like Retell's webhooks.

Only to a destination :class:`adapters.outcome_urls.OutcomeUrlPolicy` allows, checked on the
address the connection then goes to, with redirects not followed. The receiver's answer is
trusted no more than its address: only its status matters, at most
:data:`MAX_ANSWER_BYTES` of its body are read (then the connection is closed), and the whole
exchange ends within the delivery timeout however slowly the receiver sends.
"""

from __future__ import annotations

import asyncio

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.logs import get_logger
from adapters.outcome_urls import OutcomeUrlPolicy, OutcomeUrlRefused, OutcomeUrlUnresolved
from calls.signatures import sign_retell_body
from outbound_calls_client.models import OutcomeDelivery

log = get_logger(__name__)

# Same scheme as Retell's x-retell-signature: v=<unix ms>,d=<hex HMAC-SHA256(key, body+ms)>,
# so a receiver that already verifies Retell's webhooks verifies ours with the same code.
OUTCOME_SIGNATURE_HEADER = "x-outcome-signature"

# Answers that will not change on a retry; 408 and 429 may, and so may every 5xx. A
# redirect is final too: it is never followed.
_FINAL_ANSWERS = frozenset(range(300, 500)) - {408, 425, 429}

# The body is never used; reading a little of it lets a well-behaved receiver finish its
# answer, and the cap keeps a hostile one from filling the worker's memory.
MAX_ANSWER_BYTES = 64 * 1024


async def _read_capped(response: httpx.Response) -> None:
    """Read and drop at most MAX_ANSWER_BYTES of the body; the caller then closes it."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read >= MAX_ANSWER_BYTES:
            return


class OutcomeDeliveryActivities:
    def __init__(
        self,
        signing_key: str | None,
        *,
        timeout_s: float = 10.0,
        policy: OutcomeUrlPolicy | None = None,
    ) -> None:
        self._key = signing_key
        self._timeout_s = timeout_s
        self._policy = policy or OutcomeUrlPolicy()

    @activity.defn(name="deliver_outcome")
    async def deliver_outcome(self, delivery: OutcomeDelivery) -> None:
        if not self._key:
            raise ApplicationError(
                "OUTCOME_SIGNING_KEY is not set on the worker; outcomes are only sent signed",
                type="OutcomeSigningKeyMissing",
                non_retryable=True,
            )
        bound = log.bind(
            workflow_id=delivery.outcome.workflow_id,
            call_id=delivery.outcome.call_id,
            attempt=activity.info().attempt,
        )
        try:
            target = await self._policy.resolve(delivery.url)
        except OutcomeUrlRefused as exc:
            bound.warning("outcome destination refused", rule=exc.rule)
            raise ApplicationError(
                str(exc),
                {"field": exc.field, "rule": exc.rule},
                type="OutcomeUrlRefused",
                non_retryable=True,
            ) from None
        except OutcomeUrlUnresolved as exc:
            bound.warning("outcome destination unresolved")
            raise ApplicationError(str(exc), type="OutcomeReceiverUnavailable") from None
        body = delivery.outcome.model_dump_json().encode()
        parts = httpx.URL(delivery.url)
        headers = {
            "content-type": "application/json",
            # The name the receiver expects, while the connection goes to the checked address.
            "host": parts.netloc.decode("ascii"),
            OUTCOME_SIGNATURE_HEADER: sign_retell_body(self._key, body),
        }
        try:
            # One delivery per finished call: a client per delivery keeps no idle pool around.
            # No redirects: a 3xx to an internal address would undo the check above.
            # httpx's timeout is per read, so a receiver sending a byte at a time would
            # never trip it: the deadline covers the whole exchange.
            async with (
                asyncio.timeout(self._timeout_s),
                httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False) as http,
                http.stream(
                    "POST",
                    target.connect_url,
                    content=body,
                    headers=headers,
                    extensions={"sni_hostname": target.host},
                ) as response,
            ):
                await _read_capped(response)
        except (httpx.HTTPError, TimeoutError) as exc:
            bound.warning("outcome delivery failed", error=type(exc).__name__)
            raise ApplicationError(
                f"outcome delivery failed: {type(exc).__name__}", type="OutcomeReceiverUnavailable"
            ) from None
        if response.status_code < 300:
            bound.info("outcome delivered", status_code=response.status_code)
            return
        bound.warning("outcome delivery refused", status_code=response.status_code)
        raise ApplicationError(
            f"outcome receiver answered HTTP {response.status_code}",
            type="OutcomeReceiverRefused",
            non_retryable=response.status_code in _FINAL_ANSWERS,
        )
