"""bench/action_rules.py: Temporal Cloud's published rules for billable actions, applied to
histories, event by event (the benchmark bench.actions checks them against the dev server's
own counter; here each rule on its own, and on a recorded call)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload, SearchAttributes, WorkflowExecution
from temporalio.api.enums.v1 import ContinueAsNewInitiator, EventType
from temporalio.api.history.v1 import (
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    MarkerRecordedEventAttributes,
    UpsertWorkflowSearchAttributesEventAttributes,
    WorkflowExecutionStartedEventAttributes,
    WorkflowTaskCompletedEventAttributes,
)
from temporalio.client import WorkflowHistory

from bench.action_rules import RULES, count_actions, rules_table
from bench.actions import normal_action_type

ROOT = Path(__file__).resolve().parents[2]
E = EventType


def event(event_type: int, **attributes: Any) -> HistoryEvent:
    return HistoryEvent(event_type=event_type, **attributes)  # type: ignore[arg-type]


def started(**fields: Any) -> HistoryEvent:
    return event(
        E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(
            **fields
        ),
    )


def task(*, completed_id: int = 0) -> list[HistoryEvent]:
    """A workflow task: scheduled, started, completed (id ``completed_id``)."""
    return [
        event(E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
        event(E.EVENT_TYPE_WORKFLOW_TASK_STARTED),
        HistoryEvent(event_id=completed_id, event_type=E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    ]


def marker(name: str, completed_id: int) -> HistoryEvent:
    return event(
        E.EVENT_TYPE_MARKER_RECORDED,
        marker_recorded_event_attributes=MarkerRecordedEventAttributes(
            marker_name=name, workflow_task_completed_event_id=completed_id
        ),
    )


def upsert(*names: str) -> HistoryEvent:
    fields = {name: Payload(data=b'"x"') for name in names}
    return event(
        E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        upsert_workflow_search_attributes_event_attributes=(
            UpsertWorkflowSearchAttributesEventAttributes(
                search_attributes=SearchAttributes(indexed_fields=fields)
            )
        ),
    )


def test_a_start_its_attributes_and_a_signal_with_start() -> None:
    plain = count_actions([started(), *task()])
    assert dict(plain.actions) == {"workflow_started": 1}
    # Started by signal-with-start: one action for the start and its signal together.
    with_signal = count_actions(
        [started(), event(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED), *task()]
    )
    assert dict(with_signal.actions) == {"signal_with_start": 1}
    # A signal after the first task is a signal of its own.
    later = count_actions([started(), *task(), event(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)])
    assert dict(later.actions) == {"workflow_started": 1, "signal": 1}


def test_continue_as_new_and_children_are_counted_once() -> None:
    old_run = count_actions(
        [started(), *task(), event(E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW)]
    )
    new_run = count_actions(
        [
            started(
                initiator=ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW,
                continued_execution_run_id="old",
            ),
            *task(),
        ]
    )
    assert dict(old_run.actions) == {"workflow_started": 1, "continue_as_new": 1}
    assert new_run.total == 0
    parent = count_actions(
        [started(), *task(), event(E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)]
    )
    child = count_actions(
        [started(parent_workflow_execution=WorkflowExecution(workflow_id="p")), *task()]
    )
    assert dict(parent.actions) == {"workflow_started": 1, "child_workflow": 2}
    assert child.total == 0


def test_an_upsert_of_the_change_version_alone_is_exempt() -> None:
    count = count_actions(
        [started(), *task(), upsert("TemporalChangeVersion"), upsert("CallStatus", "CallAttempt")]
    )
    assert dict(count.actions) == {"workflow_started": 1, "search_attribute_upsert": 1}
    assert count.exempt_upserts == 1
    both = count_actions([upsert("TemporalChangeVersion", "CallStatus")])
    assert both.actions["search_attribute_upsert"] == 1


def test_markers_count_once_per_workflow_task() -> None:
    count = count_actions(
        [
            started(),
            *task(completed_id=4),
            marker("core_local_activity", 4),
            marker("core_patch", 4),
            marker("core_local_activity", 4),
            *task(completed_id=9),
            marker("core_patch", 9),
        ]
    )
    # Two local activities and a patch in one task: one action; a patch alone: one more.
    assert count.actions["local_activities"] == 1
    assert count.actions["patch_marker"] == 1
    assert dict(count.markers) == {"core_local_activity": 2, "core_patch": 2}


def test_activity_retries_and_local_activity_retries() -> None:
    retried = count_actions(
        [
            event(E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
            event(
                E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
                activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(
                    attempt=3
                ),
            ),
        ]
    )
    assert dict(retried.actions) == {"activity": 1, "activity_retry": 2}
    completed = WorkflowTaskCompletedEventAttributes()
    completed.metering_metadata.nonfirst_local_activity_execution_attempts = 150
    local = count_actions(
        [
            event(
                E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
                workflow_task_completed_event_attributes=completed,
            )
        ]
    )
    assert dict(local.actions) == {"local_activity_retry": 100}


def test_a_workflow_task_heartbeat_is_told_from_an_update() -> None:
    heartbeat = [*task(), *task(), event(E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)]
    assert count_actions(heartbeat).actions == {"workflow_task_heartbeat": 1}
    update = [*task(), *task(), event(E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)]
    assert count_actions(update).actions == {"update": 1}
    signaled = [*task(), event(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED), *task()]
    assert count_actions(signaled).actions == {"signal": 1}


def test_a_recorded_answered_call() -> None:
    path = ROOT / "tests/histories/1.0/calls/answered.json"
    history = WorkflowHistory.from_json("answered", path.read_text())
    count = count_actions(history.events)
    assert dict(count.actions) == {
        "workflow_started": 1,
        "activity": 1,
        # validate, do-not-call and the slot's ask in the first task; the release in the last.
        "local_activities": 2,
        "timer": 1,
        "search_attribute_upsert": 5,
        "signal": 3,
    }
    assert count.total == 13


def test_server_action_types_compare_across_spellings() -> None:
    assert normal_action_type("command_ScheduleActivityTask") == normal_action_type(
        "command_SCHEDULE_ACTIVITY_TASK"
    )
    assert normal_action_type("message_UpdateWorkflowExecution_Acceptance") == (
        normal_action_type("message_UpdateWorkflowExecution:Acceptance")
    )
    assert normal_action_type("grpc_StartWorkflowExecution") != normal_action_type(
        "grpc_SignalWorkflowExecution"
    )


def test_the_docs_show_the_rules_the_code_applies() -> None:
    assert len(RULES) > 10
    assert rules_table() in (ROOT / "docs/benchmarks.md").read_text()
