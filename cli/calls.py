"""The steps on one call that several commands share: find it by workflow id or dedupe key,
read where it stands, follow it to its outcome, and say it in a table row or one line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from cli.failures import OUTCOME_EXIT_CODES, CliError, ExitCode
from cli.following import Following
from cli.output import Document, note
from outbound_calls_client.models import CallOutcome, CallSnapshot, OutcomeStatus
from outbound_calls_client.names import CALL_WORKFLOW, CALL_WORKFLOW_ID_PREFIX, call_workflow_id
from outbound_calls_client.search_attributes import CALL_OUTCOME
from workflows.outbound_call import OutboundCallWorkflow

STATUS_QUERY_TIMEOUT = timedelta(seconds=10)

OUTCOME_COLUMNS = (
    "workflow_id",
    "status",
    "disconnection_reason",
    "call_id",
    "attempts",
    "duration_ms",
    "started_at",
    "ended_at",
    "detail",
)
SNAPSHOT_COLUMNS = (
    "workflow_id",
    "phase",
    "attempt",
    "call_id",
    "retell_status",
    "to_number_masked",
    "waiting_until",
    "cancel_requested",
    "outcome",
)


@dataclass(frozen=True)
class FoundCall:
    handle: WorkflowHandle[Any, CallOutcome]
    description: WorkflowExecutionDescription

    @property
    def running(self) -> bool:
        return self.description.status == WorkflowExecutionStatus.RUNNING


async def describe(client: Client, workflow_id: str) -> WorkflowExecutionDescription | None:
    try:
        return await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def find_call(client: Client, name: str) -> FoundCall:
    """``name`` is a workflow id (``call-...``) or the dedupe key it was made from."""
    candidates = (
        [name] if name.startswith(CALL_WORKFLOW_ID_PREFIX) else [name, call_workflow_id(name)]
    )
    for workflow_id in candidates:
        description = await describe(client, workflow_id)
        if description is None:
            continue
        if description.workflow_type != CALL_WORKFLOW:
            raise CliError(
                f"{workflow_id} is a {description.workflow_type}, not a call "
                f"({CALL_WORKFLOW}); name a call by its workflow id or dedupe key"
            )
        handle = client.get_workflow_handle(workflow_id, result_type=CallOutcome)
        return FoundCall(handle, description)
    tried = " or ".join(candidates)
    raise CliError(f"no call {tried} in this namespace: check the id (outbound-calls list)")


def closed_state(description: WorkflowExecutionDescription) -> str:
    status = description.status
    return status.name.lower() if status else "closed"


async def outcome_of_closed(found: FoundCall) -> CallOutcome:
    if found.description.status != WorkflowExecutionStatus.COMPLETED:
        outcome = found.description.typed_search_attributes.get(CALL_OUTCOME)
        raise CliError(
            f"{found.handle.id} ended without an outcome: the workflow was "
            f"{closed_state(found.description)}" + (f" (last outcome {outcome})" if outcome else "")
        )
    return await found.handle.result()


async def snapshot_of(found: FoundCall) -> CallSnapshot:
    """Where the call stands: the ``status`` query while it runs; its outcome once closed
    (read from the history, so no worker is needed)."""
    if not found.running:
        outcome = await outcome_of_closed(found)
        return CallSnapshot(
            workflow_id=found.handle.id,
            phase="finished",
            attempt=len(outcome.attempts),
            call_id=outcome.call_id,
            outcome=outcome,
        )
    try:
        snapshot: CallSnapshot = await found.handle.query(
            OutboundCallWorkflow.status, rpc_timeout=STATUS_QUERY_TIMEOUT
        )
    except RPCError as exc:
        if exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE):
            raise CliError(
                f"{found.handle.id}: no worker answered the status query: is a worker "
                f"polling task queue {found.description.task_queue!r}?"
            ) from None
        raise
    return snapshot


def _duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


WAIT_TEXT = {
    "waiting_for_window": "waiting for calling hours",
    "waiting_to_redial": "waiting to redial",
    "waiting_for_slot": "waiting for a free call slot (MAX_CONCURRENT_CALLS)",
    "waiting_for_caller_id": "waiting for a usable number of the caller-ID pool",
    "waiting_for_contact_limit": "waiting for the contact limit (CONTACT_LIMITS)",
}


def progress_line(snapshot: CallSnapshot, now: datetime | None = None) -> str:
    """One line per state: the phase, the attempt and, for a wait, until when and how long."""
    phase = WAIT_TEXT.get(snapshot.phase, snapshot.phase.replace("_", " "))
    line = f"{phase} (attempt {snapshot.attempt}, call {snapshot.call_id or '-'})"
    # Only waits get a countdown; in the other phases waiting_until is a poll deadline.
    if snapshot.waiting_until is not None and snapshot.phase in WAIT_TEXT:
        until = snapshot.waiting_until.astimezone()
        left = until - (now or datetime.now(UTC))
        line += f" until {until:%a %d %b %H:%M %Z}, in {_duration(left)}"
    if snapshot.held_by is not None:
        line += f"; held by {snapshot.held_by}"
    return line


def outcome_row(outcome: CallOutcome) -> dict[str, Any]:
    row = outcome.model_dump(mode="json", include=set(OUTCOME_COLUMNS))
    row["attempts"] = len(outcome.attempts)
    return row


def outcome_document(outcome: CallOutcome) -> Document:
    return Document(
        data=outcome.model_dump(mode="json"),
        rows=[outcome_row(outcome)],
        columns=OUTCOME_COLUMNS,
        record=True,
    )


def snapshot_document(snapshot: CallSnapshot) -> Document:
    row: dict[str, Any] = snapshot.model_dump(mode="json", include=set(SNAPSHOT_COLUMNS))
    row["outcome"] = snapshot.outcome.status.value if snapshot.outcome else None
    return Document(
        data=snapshot.model_dump(mode="json"), rows=[row], columns=SNAPSHOT_COLUMNS, record=True
    )


def summary_line(outcome: CallOutcome) -> str:
    """``call-x: completed (user_hangup), 1 attempt, 12 s, Retell call call_...``."""
    parts = [f"{outcome.workflow_id}: {outcome.status.value}"]
    if outcome.disconnection_reason:
        parts[0] += f" ({outcome.disconnection_reason})"
    count = len(outcome.attempts)
    parts.append(f"{count} attempt{'s' if count != 1 else ''}")
    if outcome.duration_ms is not None:
        parts.append(_duration(timedelta(milliseconds=outcome.duration_ms)))
    if outcome.call_id:
        parts.append(f"Retell call {outcome.call_id}")
    if outcome.detail and outcome.status.value not in ("completed",):
        parts.append(outcome.detail)
    return ", ".join(parts)


class Interrupted(Exception):
    """Ctrl-C while following a call: the call itself goes on."""


async def follow(handle: WorkflowHandle[Any, CallOutcome]) -> CallOutcome:
    """Await the outcome, printing each new state to stderr; Ctrl-C stops following only."""
    last = ""
    with Following(handle.result()) as following:
        while not following.done:
            try:
                snapshot: CallSnapshot = await handle.query(
                    OutboundCallWorkflow.status, rpc_timeout=timedelta(seconds=5)
                )
            except RPCError:
                line = "no answer to the status query: is a worker polling the task queue?"
            else:
                line = progress_line(snapshot)
            # The countdown changes every second; print a wait again only when it moves on.
            key = line.split(" until ")[0]
            if key != last:
                note(line)
                last = key
            if await following.wait(1.0):
                raise Interrupted(handle.id)
        return following.result()


def interrupted_text(workflow_id: str) -> str:
    return (
        f"stopped following {workflow_id}; the call goes on "
        f"(outbound-calls result {workflow_id} re-attaches, cancel {workflow_id} stops it)"
    )


def finished_text(description: WorkflowExecutionDescription) -> str:
    """``running``, ``finished: no_answer`` or how a run without an outcome closed."""
    if description.status == WorkflowExecutionStatus.RUNNING:
        return "running"
    outcome = description.typed_search_attributes.get(CALL_OUTCOME)
    return f"finished: {outcome}" if outcome else closed_state(description)


def attached_text(workflow_id: str, description: WorkflowExecutionDescription) -> str:
    return (
        f"a call with this dedupe key exists ({workflow_id}, {finished_text(description)}): "
        "attached to it; nothing new is dialed"
    )


def exit_code_for(outcome: CallOutcome) -> ExitCode:
    return exit_code_for_status(outcome.status)


def exit_code_for_status(status: OutcomeStatus) -> ExitCode:
    return OUTCOME_EXIT_CODES.get(status, ExitCode.FAILED)


def search_fields(attributes: Any) -> Mapping[str, Any]:
    return {pair.key.name: pair.value for pair in attributes}
