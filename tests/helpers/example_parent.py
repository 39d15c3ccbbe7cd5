"""An example parent workflow: an appointment reminder that calls the patient.

Shows how another workflow places a call: ``call_as_child`` with the request's dedupe key.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from outbound_calls_client.models import CallOutcome, CallReport, CallRequest, OutcomeStatus
    from outbound_calls_client.names import CALL_FINISHED_SIGNAL

from outbound_calls_client.child_calls import call_as_child


@workflow.defn(name="AppointmentReminderWorkflow")
class AppointmentReminderWorkflow:
    @workflow.run
    async def run(self, request: CallRequest) -> str:
        outcome: CallOutcome = await call_as_child(request)  # a child OutboundCallWorkflow
        if outcome.status == OutcomeStatus.COMPLETED:
            return f"reminded by call {outcome.call_id}"
        return f"not reached ({outcome.status.value}); send a text instead"


@workflow.defn(name="CallBothWorkflow")
class CallBothWorkflow:
    """Calls two people at once and waits for both: a parent that may close with calls open."""

    @workflow.run
    async def run(self, requests: list[CallRequest]) -> list[str]:
        outcomes = await asyncio.gather(*(call_as_child(r) for r in requests))
        return [o.status.value for o in outcomes]


@workflow.defn(name="CallReportCollectorWorkflow")
class CallReportCollectorWorkflow:
    """Waits to be told of one call's end (CallRequest.report_to), as a campaign is."""

    def __init__(self) -> None:
        self._reports: list[CallReport] = []

    @workflow.signal(name=CALL_FINISHED_SIGNAL)
    def call_finished(self, report: CallReport) -> None:
        self._reports.append(report)

    @workflow.run
    async def run(self) -> CallReport:
        await workflow.wait_condition(lambda: bool(self._reports))
        return self._reports[0]
