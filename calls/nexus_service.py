"""The contract other teams' workflows call: Nexus service ``outbound-calls``.

Its names and JSON shapes are the whole interface: a caller in another namespace (or another
language) needs neither this project's code nor our task queue, only the endpoint's name::

    calls = workflow.create_nexus_client(service=OutboundCallsService, endpoint="outbound-calls")
    outcome = await calls.execute_operation(OutboundCallsService.place_call, request)
"""

from __future__ import annotations

import nexusrpc
from temporalio.api.nexus.v1 import EndpointSpec, EndpointTarget
from temporalio.api.operatorservice.v1 import CreateNexusEndpointRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from calls.models import CallOutcome, CallRequest, CallSnapshot
from calls.names import DEFAULT_NEXUS_ENDPOINT, NEXUS_SERVICE


@nexusrpc.service(name=NEXUS_SERVICE)
class OutboundCallsService:
    # A call, durable on both sides: the result is the call's outcome, however long it takes;
    # canceling the operation hangs the call up. The same dedupe_key twice is one call.
    place_call: nexusrpc.Operation[CallRequest, CallOutcome]
    # Where a call stands: its workflow id in, the status query's answer out.
    call_status: nexusrpc.Operation[str, CallSnapshot]


async def register_nexus_endpoint(
    client: Client, *, task_queue: str, name: str = DEFAULT_NEXUS_ENDPOINT
) -> bool:
    """Create the endpoint ``name`` targeting our namespace and task queue on a self-hosted
    cluster or the dev server; False when it exists already (left as it is)."""
    request = CreateNexusEndpointRequest(
        spec=EndpointSpec(
            name=name,
            target=EndpointTarget(
                worker=EndpointTarget.Worker(namespace=client.namespace, task_queue=task_queue)
            ),
        )
    )
    try:
        await client.operator_service.create_nexus_endpoint(request)
    except RPCError as err:
        if err.status == RPCStatusCode.ALREADY_EXISTS:
            return False
        raise
    return True
