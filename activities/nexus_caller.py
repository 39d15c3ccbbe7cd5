"""Who places a Nexus request, and which calls are theirs.

The caller is the namespace of the workflow whose ``NexusOperationScheduled`` event the
request comes from: the caller's Temporal server writes that event's link into the request
(the ``Nexus-Link`` header, ``inbound_links`` here), and the caller's workflow code has no say
in it. A client that speaks Nexus HTTP to the frontend itself could write any link, which is
why who may reach the endpoint at all is restricted too (docs/nexus.md, "Who may call").

A call is a caller's when its id is in that caller's Nexus space (call-nexus:<ns>:...), or,
for calls placed before that space existed (ids call-<key>), when its start event carries the
caller's link: the server copied the link there from our handler's start.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Sequence

import nexusrpc
from temporalio.api.common.v1 import Link
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from outbound_calls_client.call_ids import NAMESPACE_PATTERN
from outbound_calls_client.names import CALL_WORKFLOW

WORKFLOW_EVENT_LINK = "temporal.api.common.v1.Link.WorkflowEvent"


def _namespace_of(url: str) -> str | None:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "temporal":
        return None
    parts = parsed.path.split("/")
    # temporal:///namespaces/<ns>/workflows/<id>/<run id>/history
    if len(parts) < 4 or parts[1] != "namespaces" or parts[3] != "workflows":
        return None
    return urllib.parse.unquote(parts[2])


def caller_namespace(links: Sequence[nexusrpc.Link]) -> str:
    """The namespace the request's workflow-event links name; refuses a request without one,
    or with links naming two namespaces, as unauthenticated."""
    named = (_namespace_of(link.url) for link in links if link.type == WORKFLOW_EVENT_LINK)
    found = {ns for ns in named if ns}
    if len(found) != 1 or not NAMESPACE_PATTERN.match(next(iter(found))):
        raise nexusrpc.HandlerError(
            "no caller namespace: this service takes requests from workflows only (their "
            "server names the caller's namespace in the request's Nexus-Link)",
            type=nexusrpc.HandlerErrorType.UNAUTHENTICATED,
            retryable_override=False,
        )
    return found.pop()


def not_found(workflow_id: str) -> nexusrpc.HandlerError:
    """The one answer for a call that does not exist and for one that is not the caller's."""
    return nexusrpc.HandlerError(
        f"no call {workflow_id} placed by this namespace",
        type=nexusrpc.HandlerErrorType.NOT_FOUND,
        retryable_override=False,
    )


def _namespaces(links: Iterable[Link]) -> set[str]:
    return {link.workflow_event.namespace for link in links if link.HasField("workflow_event")}


async def placed_before_spaces_by(client: Client, workflow_id: str, caller: str) -> bool:
    """Whether ``workflow_id`` is a call the caller placed through Nexus under the id scheme
    before the caller spaces (``call-<key>``): its first event names the caller's workflow."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        async for event in handle.fetch_history_events(page_size=1):
            if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                return False
            started = event.workflow_execution_started_event_attributes
            return started.workflow_type.name == CALL_WORKFLOW and caller in _namespaces(
                event.links
            )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return False
