"""Deliver a call event to its workflow as the signal ``call_event``, and say what became of it.

The HTTP answer depends on one question: would a retry by Retell help? Temporal slow or
unreachable: yes, so the caller answers 503 and Retell retries. Workflow unknown, already
closed or the id unusable: no retry can change that, so the caller answers 2xx and the
reason goes to the log; otherwise Retell would retry for nothing and a person would be
paged for a call that ended long ago.

Routing: the workflow id that ``create_call`` put in the call's metadata; without it (a call
placed by other means), the workflow whose ``RetellCallId`` search attribute names the call.
Visibility is eventually consistent, which is why it is only the fallback.

Repeats cost no history. Each signal carries a request id derived from (workflow id, call
id, event), so Temporal itself drops a repeat of a signal it already took, whichever bridge
replica sends it and however long after (the id lives in the run's mutable state); the SDK's
``handle.signal`` draws a random id per call, so the request is built here. On top of that,
a bounded memory of recent deliveries answers a repeat this process already signalled
without asking Temporal at all: one captured webhook replayed thousands of times costs a
dictionary lookup each, not a history event.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.converter import WorkflowSerializationContext
from temporalio.service import RPCError, RPCStatusCode

from adapters.tracing import signal_span, webhook_span
from outbound_calls_client.names import CALL_EVENT_SIGNAL
from outbound_calls_client.retell_wire import CallEvent
from outbound_calls_client.search_attributes import RETELL_CALL_ID

# Characters a Retell call id is made of; anything else could change the meaning of a
# visibility query, so such an id is never put in one.
_SEARCHABLE_CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_NAMESPACE_NOT_FOUND = "NamespaceNotFoundFailure"
_MAX_REASON_CHARS = 300
# Fixed forever: replicas (and versions) of the bridge must derive the same request id.
_SIGNAL_REQUEST_NAMESPACE = uuid.UUID("6f1d4c52-3a57-4d0e-9a43-5b0c2f6e8d71")


def signal_request_id(workflow_id: str, call_id: str, event: str) -> str:
    """The request id of the signal for one (workflow, call, event): the same in every
    process, so Temporal drops a repeat instead of adding it to the history."""
    return str(uuid.uuid5(_SIGNAL_REQUEST_NAMESPACE, "\x00".join((workflow_id, call_id, event))))


class Outcome(StrEnum):
    """What became of one webhook delivery; every log line of the bridge carries one."""

    SIGNALLED = "signalled"
    # A repeat of a delivery this process already signalled (Retell retries, or a replay):
    # answered 2xx without a signal.
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    UNROUTABLE = "unroutable"
    WORKFLOW_CLOSED = "workflow_closed"
    UNAVAILABLE = "unavailable"
    REJECTED = "rejected"
    # Answered 503 unread: BRIDGE_MAX_UNVERIFIED_READS bodies were being read already.
    BUSY = "busy"


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

    def seen(self, key: tuple[str, str, str]) -> bool:
        if key not in self._keys:
            return False
        self._keys.move_to_end(key)
        return True

    def note(self, key: tuple[str, str, str]) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)


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
                key = (workflow_id, event.call.call_id, event.event)
                if self._recent.seen(key):
                    return Delivery(Outcome.DUPLICATE, workflow_id, routed_by)
                with webhook_span(event.event, event.call.metadata):
                    await self._signal(workflow_id, event, deadline)
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
        # Only once Temporal has it: a failed signal must be tried again on Retell's retry.
        self._recent.note(key)
        return Delivery(Outcome.SIGNALLED, workflow_id, routed_by)

    async def _signal(self, workflow_id: str, event: CallEvent, deadline: float) -> None:
        converter = self._client.data_converter.with_context(
            WorkflowSerializationContext(namespace=self._client.namespace, workflow_id=workflow_id)
        )
        request = SignalWorkflowExecutionRequest(
            namespace=self._client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            signal_name=CALL_EVENT_SIGNAL,
            identity=self._client.identity,
            request_id=signal_request_id(workflow_id, event.call.call_id, event.event),
        )
        request.input.payloads.extend(await converter.encode([event]))
        with signal_span(CALL_EVENT_SIGNAL) as headers:
            # Built by hand for the fixed request id, so Temporal's tracing interceptor does
            # not see this signal: its trace header is added here the way it would add it.
            for name, payload in headers.items():
                request.header.fields[name].CopyFrom(payload)
            # Retrying is safe now: a retry carries the same request id.
            await self._client.workflow_service.signal_workflow_execution(
                request, retry=True, timeout=self._left(deadline)
            )

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
