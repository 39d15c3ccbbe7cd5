"""Deliver a call event to its workflow as the signal ``call_event``, and say what became of it.

The HTTP answer depends on one question: would a retry by Retell help? Temporal slow or
unreachable: yes, so the caller answers 503 and Retell retries (a signal that Temporal
accepted just after our deadline arrives twice, which the workflow dedupes by (call_id,
event)). Workflow unknown, already closed or the id unusable: no retry can change that, so
the caller answers 2xx and the reason goes to the log; otherwise Retell would retry for
nothing and a person would be paged for a call that ended long ago.

Routing: the workflow id that ``create_call`` put in the call's metadata; without it (a call
placed by other means), the workflow whose ``RetellCallId`` search attribute names the call.
Visibility is eventually consistent, which is why it is only the fallback.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from calls.models import CallEvent
from calls.search_attributes import RETELL_CALL_ID
from calls.tracing import webhook_span

SIGNAL_NAME = "call_event"
# Characters a Retell call id is made of; anything else could change the meaning of a
# visibility query, so such an id is never put in one.
_SEARCHABLE_CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_NAMESPACE_NOT_FOUND = "NamespaceNotFoundFailure"
_MAX_REASON_CHARS = 300


class Outcome(StrEnum):
    """What became of one webhook delivery; every log line of the bridge carries one."""

    SIGNALLED = "signalled"
    # A repeat of a delivery this process already signalled (Retell retries). It is signalled
    # again, which is safe because the workflow dedupes by (call_id, event).
    DUPLICATE_SAFE = "duplicate-safe"
    IGNORED = "ignored"
    UNROUTABLE = "unroutable"
    WORKFLOW_CLOSED = "workflow_closed"
    UNAVAILABLE = "unavailable"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    workflow_id: str | None = None
    routed_by: str | None = None
    reason: str | None = None


class _Unroutable(Exception):
    pass


def _short(text: str) -> str:
    return text if len(text) <= _MAX_REASON_CHARS else text[:_MAX_REASON_CHARS] + "…"


def _is_namespace_missing(err: RPCError) -> bool:
    details = err.grpc_status.details if err.grpc_status is not None else []
    return any(d.type_url.endswith(_NAMESPACE_NOT_FOUND) for d in details)


def _classify(err: RPCError, workflow_id: str | None, routed_by: str | None) -> Delivery:
    status = err.status
    message = _short(err.message)
    if status == RPCStatusCode.NOT_FOUND and _is_namespace_missing(err):
        # A misconfigured namespace must not look like "workflow closed": every event would
        # be acknowledged and lost. 503 keeps Retell retrying while readyz reports it.
        return Delivery(Outcome.UNAVAILABLE, workflow_id, routed_by, f"namespace: {message}")
    if status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
        return Delivery(Outcome.WORKFLOW_CLOSED, workflow_id, routed_by, message)
    if status == RPCStatusCode.INVALID_ARGUMENT:
        return Delivery(Outcome.UNROUTABLE, workflow_id, routed_by, f"Temporal refused: {message}")
    name = status.name if status is not None else "UNKNOWN"
    return Delivery(Outcome.UNAVAILABLE, workflow_id, routed_by, f"Temporal {name}: {message}")


class _RecentDeliveries:
    """A bounded memory of signalled (workflow, call, event) triples, newest last."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[tuple[str, str, str], None] = OrderedDict()

    def note(self, key: tuple[str, str, str]) -> bool:
        """Remember ``key``; True when it was already remembered."""
        seen = key in self._keys
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return seen


class EventRouter:
    """Finds the workflow of a call event and signals it, all within one deadline."""

    def __init__(self, client: Client, *, timeout_s: float, recent_capacity: int = 10_000) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._recent = _RecentDeliveries(recent_capacity)

    async def deliver(self, event: CallEvent) -> Delivery:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        workflow_id: str | None = event.call.workflow_id or None
        routed_by: str | None = "metadata" if workflow_id else None
        try:
            # Both bounds matter: rpc_timeout stops a call the server is slow to answer, the
            # outer timeout also covers the client's own reconnect-and-retry loop.
            async with asyncio.timeout_at(deadline):
                if workflow_id is None:
                    workflow_id = await self._lookup(event.call.call_id, deadline)
                    routed_by = "search_attribute"
                handle = self._client.get_workflow_handle(workflow_id)
                with webhook_span(event.event, event.call.metadata):
                    await handle.signal(SIGNAL_NAME, event, rpc_timeout=self._left(deadline))
        except _Unroutable as err:
            return Delivery(Outcome.UNROUTABLE, reason=str(err))
        except TimeoutError:
            reason = f"Temporal did not answer within {self._timeout_s:g}s"
            return Delivery(Outcome.UNAVAILABLE, workflow_id, routed_by, reason)
        except RPCError as err:
            return _classify(err, workflow_id, routed_by)
        except (RuntimeError, OSError) as err:
            # temporalio reports a failed (re)connect as RuntimeError("Failed client connect").
            reason = _short(f"cannot reach Temporal: {err}")
            return Delivery(Outcome.UNAVAILABLE, workflow_id, routed_by, reason)
        repeat = self._recent.note((workflow_id, event.call.call_id, event.event))
        outcome = Outcome.DUPLICATE_SAFE if repeat else Outcome.SIGNALLED
        return Delivery(outcome, workflow_id, routed_by)

    async def _lookup(self, call_id: str, deadline: float) -> str:
        if not _SEARCHABLE_CALL_ID.fullmatch(call_id):
            raise _Unroutable("no workflow id in metadata; call_id is not searchable")
        query = f'{RETELL_CALL_ID.name} = "{call_id}"'
        executions = self._client.list_workflows(query, limit=1, rpc_timeout=self._left(deadline))
        async for execution in executions:
            return execution.id
        raise _Unroutable(f"no workflow id in metadata and no workflow with {RETELL_CALL_ID.name}")

    @staticmethod
    def _left(deadline: float) -> timedelta:
        left = deadline - asyncio.get_running_loop().time()
        return timedelta(seconds=max(left, 0.001))
