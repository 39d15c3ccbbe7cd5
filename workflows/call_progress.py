"""What a call's handlers show while its run goes: the phase, the attempt, when the current
wait ends, and whether a cancel was asked for.

The call workflow (workflows/outbound_call.py) owns it and its attempts
(workflows/call_attempt.py) move it along; the status query and the dialed update read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from outbound_calls_client import search_attributes as sa
    from outbound_calls_client.models import CallPhaseName


class CallProgress:
    def __init__(self) -> None:
        self.phase: CallPhaseName = "validating"
        # The attempt last dialed: it moves on when a create goes out, so the waits for the
        # calling window and a slot before it still name the attempt before.
        self.attempt = 0
        self.waiting_until: datetime | None = None
        # What holds the dial meanwhile (a contact limit, a pool with no usable number).
        self.held_by: str | None = None
        self.cancel_reason: str | None = None

    def canceled(self) -> bool:
        return self.cancel_reason is not None

    def set_phase(self, phase: CallPhaseName, *also: SearchAttributeUpdate[Any]) -> None:
        """Record the phase for the query, the UI's details and the CallStatus attribute;
        ``also`` rides along in the same upsert (each upsert is one history event)."""
        updates = list(also)
        if phase != self.phase:
            self.phase = phase
            updates.append(sa.CALL_STATUS.value_set(phase))
            workflow.set_current_details(f"attempt {self.attempt}: {phase.replace('_', ' ')}")
        if updates:
            workflow.upsert_search_attributes(updates)
