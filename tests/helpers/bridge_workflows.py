"""A probe workflow for the bridge tests: records every ``call_event`` signal it receives.

It lives in its own module because the workflow sandbox re-imports the module that defines
a workflow class; a test module full of fixtures and HTTP clients is a poor thing to import
there.
"""

from __future__ import annotations

from temporalio import workflow

from outbound_calls_client.names import CALL_EVENT_SIGNAL

with workflow.unsafe.imports_passed_through():
    from outbound_calls_client.retell_wire import CallEvent
    from outbound_calls_client.search_attributes import RETELL_CALL_ID


@workflow.defn(name="BridgeProbeWorkflow")
class BridgeProbeWorkflow:
    """Keeps the events signalled to it, in order, until told to finish.

    With a Retell call id as input it carries the ``RetellCallId`` search attribute, like a
    real call workflow after its call was created, so the bridge can find it without metadata.
    """

    @workflow.init
    def __init__(self, retell_call_id: str | None) -> None:
        self._events: list[CallEvent] = []
        self._finished = False

    @workflow.run
    async def run(self, retell_call_id: str | None) -> int:
        if retell_call_id is not None:
            workflow.upsert_search_attributes([RETELL_CALL_ID.value_set(retell_call_id)])
        await workflow.wait_condition(lambda: self._finished)
        return len(self._events)

    @workflow.signal(name=CALL_EVENT_SIGNAL)
    def call_event(self, event: CallEvent) -> None:
        self._events.append(event)

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self._finished = True

    @workflow.query(name="events")
    def events(self) -> list[CallEvent]:
        return list(self._events)
