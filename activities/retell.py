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
from adapters.logs import get_logger
from adapters.retell_client import (
    RetellCallNotFound,
    RetellClient,
    RetellError,
    RetellRateLimited,
    RetellRequestRejected,
    RetellUnavailable,
)
from outbound_calls_client.models import CreateCallInput
from outbound_calls_client.names import (
    ATTEMPT_METADATA_KEY,
    IDEMPOTENCY_METADATA_KEY,
    WORKFLOW_ID_METADATA_KEY,
)
from outbound_calls_client.retell_wire import RetellCall

log = get_logger(__name__)

# Retell answers the same call to the same idempotency_key for one hour. A retry scheduled
# this long after the first attempt may find the key forgotten, so it looks the call up
# first (the workflow's schedule-to-close keeps retries far inside the hour; this is a guard).
KEY_TRUSTED_FOR = timedelta(minutes=50)


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
        # Numbers Retell knows as do-not-call (dashboard, SMS STOP, other campaigns) answer
        # 400 instead of ringing: see RetellDoNotCall.
        "honor_internal_dnc": True,
    }
    if request.agent_id is not None:
        body["override_agent_id"] = request.agent_id
    if request.agent_version is not None:
        body["override_agent_version"] = request.agent_version
    if request.dynamic_variables:
        body["retell_llm_dynamic_variables"] = dict(request.dynamic_variables)
    return body


def _key_may_be_forgotten(info: activity.Info) -> bool:
    return info.current_attempt_scheduled_time - info.scheduled_time > KEY_TRUSTED_FOR


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

        Every attempt sends the same ``idempotency_key``: Retell answers a repeated key with
        the call it already created (for one hour), so a retry after a lost answer or a worker
        crash gets that call back instead of dialing again. Only when the create itself ends
        with its fate unknown (a timeout, a 5xx) does a retry reconcile by looking the call up
        by the same key in metadata; that lookup can find the call, but its own failure never
        fails the attempt on its own.
        """
        info = activity.info()
        bound = log.bind(
            workflow_id=request.workflow_id, attempt=request.attempt, activity_attempt=info.attempt
        )
        async with heartbeating(), as_temporal_errors():
            if info.attempt > 1 and _key_may_be_forgotten(info):
                # Past Retell's hour a create would dial again: look first, and if the
                # lookup fails, fail this attempt rather than risk a second call.
                found = await self._find_created(request.idempotency_key)
                if found is not None:
                    bound.info("call already created", call_id=found.call_id)
                    return found
            try:
                call = await self._client.create_phone_call(create_call_body(request))
            except RetellUnavailable:
                if info.attempt == 1:
                    raise  # nothing can have been created before this first request
                found = await self._reconcile(request, bound)
                if found is None:
                    raise
                return found
        bound.info("call created", call_id=call.call_id, call_status=call.call_status)
        return call

    async def _find_created(self, idempotency_key: str) -> RetellCall | None:
        found = await self._client.list_calls_by_metadata(
            IDEMPOTENCY_METADATA_KEY, idempotency_key, limit=1
        )
        return found[0] if found else None

    async def _reconcile(self, request: CreateCallInput, bound: BoundLogger) -> RetellCall | None:
        """The call an earlier attempt created, if list-calls can tell; None when it cannot."""
        try:
            found = await self._find_created(request.idempotency_key)
        except RetellError as exc:
            bound.warning("reconcile by list-calls failed", error=str(exc))
            return None
        if found is not None:
            bound.info("call found by reconciling", call_id=found.call_id)
        return found

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
                # Unknown (RetellCallNotFound) or already ended (400): nothing left to hang up.
                # An account problem is not that: the call may still be live.
                if not isinstance(exc, RetellCallNotFound) and exc.status_code != 400:
                    raise
                _call_log(call_id).info("call already closed", status_code=exc.status_code)
                return
        _call_log(call_id).info("call stopped")

    @activity.defn(name="find_call")
    async def find_call(self, idempotency_key: str) -> RetellCall | None:
        """The call created under ``idempotency_key``, if any: for a create whose fate is
        unknown (its answers were lost until Temporal gave up on it)."""
        async with heartbeating(), as_temporal_errors():
            found = await self._find_created(idempotency_key)
        info = activity.info()
        log.bind(workflow_id=info.workflow_id, attempt=info.attempt).info(
            "call looked up by idempotency key", found=found is not None
        )
        return found
