"""The contract other teams' workflows call: Nexus service ``outbound-calls``.

Its names and JSON shapes are the whole interface: a caller in another namespace (or another
language) needs neither this project's code nor our task queue, only the endpoint's name::

    calls = workflow.create_nexus_client(service=OutboundCallsService, endpoint="outbound-calls")
    outcome = await calls.execute_operation(OutboundCallsService.place_call, request)
"""

from __future__ import annotations

import nexusrpc

from outbound_calls_client.models import CallOutcome, CallRequest, CallSnapshot
from outbound_calls_client.names import NEXUS_SERVICE


@nexusrpc.service(name=NEXUS_SERVICE)
class OutboundCallsService:
    # A call, durable on both sides: the result is the call's outcome, however long it takes;
    # canceling the operation hangs the call up. The same dedupe_key twice from one namespace
    # is one call; from two namespaces, two (ids call-nexus:<namespace>:<key>).
    place_call: nexusrpc.Operation[CallRequest, CallOutcome]
    # Where a call stands: its workflow id in, the status query's answer out; a call the
    # caller's namespace did not place is not found.
    call_status: nexusrpc.Operation[str, CallSnapshot]
