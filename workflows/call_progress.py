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
        # The patch `lean-call-actions` (workflows/outbound_call.py): upserts that the UI could
        # never see apart wait for the next one.
        self.lean = False
        # Search-attribute updates held back (lean only), by attribute name: the last wins.
        self._pending: dict[str, SearchAttributeUpdate[Any]] = {}
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

    def set_phase(
        self, phase: CallPhaseName, *also: SearchAttributeUpdate[Any], defer: bool = False
    ) -> None:
        """Record the phase for the query, the UI's details and the CallStatus attribute;
        ``also`` rides along in the same upsert (each upsert is one history event and one
        billable action). ``defer`` (lean runs only) holds the upsert back for the next one:
        for a phase that may end in the same workflow task, whose commands the server
        applies together, so the UI could not have seen it anyway."""
        self.hold(*also)
        if phase != self.phase:
            self.phase = phase
            self.hold(sa.CALL_STATUS.value_set(phase))
            workflow.set_current_details(f"attempt {self.attempt}: {phase.replace('_', ' ')}")
        if not (defer and self.lean):
            self.flush()

    def hold(self, *updates: SearchAttributeUpdate[Any]) -> None:
        """Upserted with the next flush (the next phase, or before the run waits)."""
        for update in updates:
            self._pending[update.key.name] = update

    def flush(self) -> None:
        """Upsert what is held, in one command; call before anything the run may wait on
        past its current workflow task."""
        if self._pending:
            workflow.upsert_search_attributes(list(self._pending.values()))
            self._pending.clear()
