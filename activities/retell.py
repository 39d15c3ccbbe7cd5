"""Retell side effects: create a call (never twice), read it, hang it up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from structlog.stdlib import BoundLogger
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.heartbeats import heartbeating
from calls.logs import get_logger
from calls.models import (
    ATTEMPT_METADATA_KEY,
    IDEMPOTENCY_METADATA_KEY,
    WORKFLOW_ID_METADATA_KEY,
    CreateCallInput,
    RetellCall,
)
from calls.retell_client import (
    RetellClient,
    RetellError,
    RetellRateLimited,
    RetellRequestRejected,
)

log = get_logger(__name__)


@asynccontextmanager
async def as_temporal_errors() -> AsyncIterator[None]:
    """Tell Temporal's retry policy what each Retell failure means."""
    try:
        yield
    except RetellRequestRejected as exc:
        raise ApplicationError(
            str(exc),
            {"status_code": exc.status_code},
            type=type(exc).__name__,
            non_retryable=True,
        ) from None
    except RetellRateLimited as exc:
        delay = timedelta(seconds=exc.retry_after_s) if exc.retry_after_s is not None else None
        # Retell asked us to slow down: expected, retried after its delay, not worth a traceback.
        raise ApplicationError(
            str(exc),
            type=type(exc).__name__,
            next_retry_delay=delay,
            category=ApplicationErrorCategory.BENIGN,
        ) from None
    except RetellError as exc:
        raise ApplicationError(str(exc), type=type(exc).__name__) from None


def create_call_body(request: CreateCallInput) -> dict[str, Any]:
    """The create-phone-call body: routing and idempotency ride along in ``metadata``."""
    body: dict[str, Any] = {
        "from_number": request.from_number,
        "to_number": request.to_number,
        "metadata": {
            **request.metadata,
            **request.privacy.metadata(),
            WORKFLOW_ID_METADATA_KEY: request.workflow_id,
            IDEMPOTENCY_METADATA_KEY: request.idempotency_key,
            ATTEMPT_METADATA_KEY: str(request.attempt),
        },
        "idempotency_key": request.idempotency_key,
    }
    if request.agent_id is not None:
        body["override_agent_id"] = request.agent_id
    if request.agent_version is not None:
        body["override_agent_version"] = request.agent_version
    if request.dynamic_variables:
        body["retell_llm_dynamic_variables"] = dict(request.dynamic_variables)
    return body


def _call_log(call_id: str) -> BoundLogger:
    """The module's logger bound to the running activity's workflow, call and attempt."""
    info = activity.info()
    return log.bind(workflow_id=info.workflow_id, call_id=call_id, attempt=info.attempt)


class RetellActivities:
    """Activities bound to the worker's one shared :class:`RetellClient`."""

    def __init__(self, client: RetellClient) -> None:
        self._client = client

    @activity.defn(name="create_call")
    async def create_call(self, request: CreateCallInput) -> RetellCall:
        """Create the attempt's call exactly once, however often Temporal retries this.

        Retell keeps an ``idempotency_key`` for one hour; a retry (say after a lost answer, or
        a worker crash) first looks the call up by the same key in metadata, so even a retry
        that comes after that hour finds the call instead of dialing again.
        """
        info = activity.info()
        bound = log.bind(
            workflow_id=request.workflow_id, attempt=request.attempt, activity_attempt=info.attempt
        )
        async with heartbeating(), as_temporal_errors():
            if info.attempt > 1:
                found = await self._client.list_calls_by_metadata(
                    IDEMPOTENCY_METADATA_KEY, request.idempotency_key, limit=1
                )
                if found:
                    bound.info("call already created", call_id=found[0].call_id)
                    return found[0]
            call = await self._client.create_phone_call(create_call_body(request))
        bound.info("call created", call_id=call.call_id, call_status=call.call_status)
        return call

    @activity.defn(name="get_call")
    async def get_call(self, call_id: str) -> RetellCall:
        async with as_temporal_errors():
            call = await self._client.get_call(call_id)
        _call_log(call_id).info("call polled", call_status=call.call_status)
        return call

    @activity.defn(name="stop_call")
    async def stop_call(self, call_id: str) -> None:
        """Hang up. A call Retell no longer knows as open is already what we want."""
        async with as_temporal_errors():
            try:
                await self._client.stop_call(call_id)
            except RetellRequestRejected as exc:
                if exc.status_code not in (400, 404, 409, 422):
                    raise
                _call_log(call_id).info("call already closed", status_code=exc.status_code)
                return
        _call_log(call_id).info("call stopped")

    @activity.defn(name="find_call")
    async def find_call(self, idempotency_key: str) -> RetellCall | None:
        """The call created under ``idempotency_key``, if any: for a create whose fate is
        unknown (its answers were lost until Temporal gave up on it)."""
        async with heartbeating(), as_temporal_errors():
            found = await self._client.list_calls_by_metadata(
                IDEMPOTENCY_METADATA_KEY, idempotency_key, limit=1
            )
        info = activity.info()
        log.bind(workflow_id=info.workflow_id, attempt=info.attempt).info(
            "call looked up by idempotency key", found=bool(found)
        )
        return found[0] if found else None
