"""The typed search attributes every call workflow keeps current, declared once.

The dev stack and the setup command register exactly this set.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

CALL_STATUS = SearchAttributeKey.for_keyword("CallStatus")
CALL_OUTCOME = SearchAttributeKey.for_keyword("CallOutcome")
RETELL_CALL_ID = SearchAttributeKey.for_keyword("RetellCallId")
CAMPAIGN_ID = SearchAttributeKey.for_keyword("CampaignId")
TO_NUMBER_MASKED = SearchAttributeKey.for_keyword("ToNumberMasked")
CALL_ATTEMPT = SearchAttributeKey.for_int("CallAttempt")

ALL_SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[str] | SearchAttributeKey[int], ...] = (
    CALL_STATUS,
    CALL_OUTCOME,
    RETELL_CALL_ID,
    CAMPAIGN_ID,
    TO_NUMBER_MASKED,
    CALL_ATTEMPT,
)

_PROTO_TYPES = {
    "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


def dev_server_flags() -> list[str]:
    """``--search-attribute`` flags for ``temporal server start-dev``."""
    kinds = {"KEYWORD": "Keyword", "INT": "Int"}
    return [
        f"--search-attribute={key.name}={kinds[key.indexed_value_type.name]}"
        for key in ALL_SEARCH_ATTRIBUTES
    ]


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
