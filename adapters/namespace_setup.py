"""What a namespace needs before calls run: our search attributes and the Nexus endpoint.

Run by the dev stack, the tests and the ``outbound-calls register-search-attributes`` /
``register-nexus-endpoint`` commands; both are idempotent.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.nexus.v1 import EndpointSpec, EndpointTarget
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    CreateNexusEndpointRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from outbound_calls_client.names import DEFAULT_NEXUS_ENDPOINT
from outbound_calls_client.search_attributes import ALL_SEARCH_ATTRIBUTES

_PROTO_TYPES = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


async def register_search_attributes(client: Client) -> list[str]:
    """Add any of our search attributes the namespace lacks; answers the names added.

    Works on the dev server, the time-skipping test server and a self-hosted cluster. (Temporal
    Cloud registers them through its own control plane: ``tcld`` or the web console.)
    """
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as err:
        # The time-skipping test server can add search attributes but not list them.
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing = {
        key.name: _PROTO_TYPES[key.indexed_value_type.name]
        for key in ALL_SEARCH_ATTRIBUTES
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)


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
