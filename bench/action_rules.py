"""Temporal Cloud's billable actions, counted from a workflow's history.

The rules are Temporal's "Temporal Cloud Actions" page (ACTIONS_URL; its source is
temporalio/documentation docs/evaluate/cloud/actions.mdx, read at commit 24afc58a) and the
price its "Temporal Cloud pricing" page (PRICING_URL; docs/evaluate/cloud/pricing.mdx at
commit 0217b718), both read on READ_ON. The page says itself that history events "do not
always map 1:1 to Action Types" and that Cloud's usage data is the exact figure: this is the
estimate its UI's "Billable Actions" column gives, rule by rule, as RULES below lists them.

Billable but in no history, so not counted here: queries ("Query received by Worker", except
``__temporal_workflow_metadata``, which the UI's current details use), activity heartbeats
that reach the server, update rejections, schedules, export. bench/actions.py reads those
from the dev server's ``action`` metric instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import ContinueAsNewInitiator, EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent

ACTIONS_URL = "https://docs.temporal.io/evaluate/cloud/actions"
PRICING_URL = "https://docs.temporal.io/cloud/pricing"
READ_ON = "2026-12-07"
# "Actions pricing starts at $50 per million Actions": the Developer plan's price at every
# volume and the first 5M of a month on the others; volume tiers go down to $25 per million
# (100M-200M a month), past that "Contact Sales". The plan adds 10% of usage spend (Developer)
# or the greater of $500 a month and 10% (Business); storage is billed apart.
LIST_PRICE_PER_MILLION = 50.0
LOWEST_TIER_PRICE_PER_MILLION = 25.0

LOCAL_ACTIVITY_MARKER = "core_local_activity"
CHANGE_VERSION_ATTRIBUTE = "TemporalChangeVersion"
LOCAL_ACTIVITY_RETRY_CAP = 100

# In the order they are printed.
KINDS: tuple[str, ...] = (
    "workflow_started",
    "signal_with_start",
    "continue_as_new",
    "child_workflow",
    "activity",
    "activity_retry",
    "local_activities",
    "patch_marker",
    "local_activity_retry",
    "workflow_task_heartbeat",
    "timer",
    "search_attribute_upsert",
    "signal",
    "update",
    "options_updated",
    "reset",
    "nexus",
)


@dataclass(frozen=True)
class Rule:
    """One line of the table: which history event, the kind it is printed as, how many
    actions, and the page's rule (quoted where its words settle it)."""

    event: str
    kind: str
    actions: str
    rule: str


RULES: tuple[Rule, ...] = (
    Rule(
        "WORKFLOW_EXECUTION_STARTED",
        "workflow_started",
        "1",
        "\"Workflow started\": a client's start, update-with-start's start. Search attributes "
        'given at start are "excluded". Not again for a run started by continue-as-new or as '
        "a child: counted below",
    ),
    Rule(
        "WORKFLOW_EXECUTION_STARTED, then SIGNALED as event 2",
        "signal_with_start",
        "1 for both",
        '"one total action occurs for any Signal-With-Start, regardless of whether the '
        'Workflow starts" (on a running workflow it is a plain SIGNALED)',
    ),
    Rule(
        "WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
        "continue_as_new",
        "1",
        '"Continue As New Workflow"; the new run\'s start is not counted again',
    ),
    Rule(
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "child_workflow",
        "2",
        '"one for durably storing the intent to start a Child Workflow and one for the '
        "attempt to start it\"; the child's own start is not counted again",
    ),
    Rule(
        "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
        "search_attribute_upsert",
        "1",
        "one per command, however many attributes it sets; one setting only "
        'TemporalChangeVersion (what workflow.patched() upserts) is "exempt"',
    ),
    Rule(
        "WORKFLOW_EXECUTION_OPTIONS_UPDATED",
        "options_updated",
        "1",
        '"Workflow Execution Options updated"',
    ),
    Rule("WORKFLOW_TASK_FAILED, cause RESET_WORKFLOW", "reset", "1", '"Workflow reset"'),
    Rule(
        "ACTIVITY_TASK_SCHEDULED",
        "activity",
        "1",
        '"Activity started or retried": the first attempt',
    ),
    Rule(
        "ACTIVITY_TASK_STARTED",
        "activity_retry",
        "attempt - 1",
        "each retry; only the last attempt is written, with its number",
    ),
    Rule(
        "MARKER_RECORDED, all of one workflow task",
        "local_activities or patch_marker",
        "1 per workflow task",
        '"Temporal Cloud counts all RecordMarkers from each Workflow Task as one action": '
        "local activities, and a patch's marker (a RecordMarker too) in a task without one",
    ),
    Rule(
        "WORKFLOW_TASK_COMPLETED: metering_metadata.nonfirst_local_activity_execution_attempts",
        "local_activity_retry",
        "that figure, at most 100",
        '"Local Activities retried following a Workflow Task Heartbeat count as one Action '
        '(capped at 100 Actions)"',
    ),
    Rule(
        "WORKFLOW_TASK_COMPLETED directly followed by WORKFLOW_TASK_SCHEDULED, the next task "
        "accepting no update",
        "workflow_task_heartbeat",
        "1",
        '"Each Workflow Task Heartbeat counts as an additional Action". No event says so: '
        "inferred (what a local activity outlasting the task's timeout leaves)",
    ),
    Rule("TIMER_STARTED", "timer", "1", '"Timer started", the SDK\'s implicit ones included'),
    Rule(
        "WORKFLOW_EXECUTION_SIGNALED",
        "signal",
        "1",
        '"Signal sent", by a client or a workflow; counted where it lands '
        '(SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED is 0: "The UI shows a billable action '
        'only in the signaled Event history")',
    ),
    Rule(
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "update",
        "1",
        '"every successful Update and every rejected Update"; a rejection is never written',
    ),
    Rule(
        "NEXUS_OPERATION_SCHEDULED, NEXUS_OPERATION_CANCEL_REQUESTED",
        "nexus",
        "1",
        '"Schedule Nexus Operation", "Request Nexus Operation Cancellation"',
    ),
    Rule("any other event (workflow tasks, completions, timers fired, ...)", "", "0", ""),
)

_E = EventType
_ONE_EACH: dict[int, str] = {
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continue_as_new",
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED: "options_updated",
    _E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
    _E.EVENT_TYPE_TIMER_STARTED: "timer",
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
    _E.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED: "nexus",
    _E.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED: "nexus",
}


@dataclass
class ActionCount:
    """One history's actions by kind, and what it holds that the rules leave free (kept so
    that the server's metric, which counts some of those, can be compared)."""

    actions: Counter[str] = field(default_factory=Counter)
    # TemporalChangeVersion-only upserts: free on Cloud, counted by the OSS metric.
    exempt_upserts: int = 0
    markers: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.actions.values())

    def __iadd__(self, other: ActionCount) -> ActionCount:
        self.actions += other.actions
        self.exempt_upserts += other.exempt_upserts
        self.markers += other.markers
        return self


def count_actions(events: Sequence[HistoryEvent]) -> ActionCount:
    """The billable actions of one run's history, by kind (module doc's table)."""
    count = ActionCount()
    actions = count.actions
    # Workflow task completed event id -> the kinds of marker it recorded.
    marker_tasks: dict[int, set[str]] = {}
    for index, event in enumerate(events):
        kind = _ONE_EACH.get(event.event_type)
        if kind is not None:
            actions[kind] += 1
        elif event.event_type == _E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            kind = _started_kind(events, index)
            if kind is not None:
                actions[kind] += 1
        elif event.event_type == _E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            # Event 2 after the start is a signal-with-start's signal, counted with the start.
            if index != 1 or _started_kind(events, 0) != "signal_with_start":
                actions["signal"] += 1
        elif event.event_type == _E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            actions["child_workflow"] += 2
        elif event.event_type == _E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            retries = event.activity_task_started_event_attributes.attempt - 1
            if retries > 0:
                actions["activity_retry"] += retries
        elif event.event_type == _E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if set(fields.indexed_fields) <= {CHANGE_VERSION_ATTRIBUTE}:
                count.exempt_upserts += 1
            else:
                actions["search_attribute_upsert"] += 1
        elif event.event_type == _E.EVENT_TYPE_MARKER_RECORDED:
            attributes = event.marker_recorded_event_attributes
            count.markers[attributes.marker_name] += 1
            task = marker_tasks.setdefault(attributes.workflow_task_completed_event_id, set())
            task.add(attributes.marker_name)
        elif event.event_type == _E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            metering = event.workflow_task_completed_event_attributes.metering_metadata
            retries = metering.nonfirst_local_activity_execution_attempts
            if retries:
                actions["local_activity_retry"] += min(retries, LOCAL_ACTIVITY_RETRY_CAP)
            if _is_heartbeat(events, index):
                actions["workflow_task_heartbeat"] += 1
        elif event.event_type == _E.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            cause = event.workflow_task_failed_event_attributes.cause
            if cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW:
                actions["reset"] += 1
    for names in marker_tasks.values():
        actions["local_activities" if LOCAL_ACTIVITY_MARKER in names else "patch_marker"] += 1
    return count


def _started_kind(events: Sequence[HistoryEvent], index: int) -> str | None:
    attributes = events[index].workflow_execution_started_event_attributes
    continued = (
        attributes.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW
        and attributes.continued_execution_run_id
    )
    if continued or attributes.HasField("parent_workflow_execution"):
        return None
    signaled = _E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    if index == 0 and len(events) > 1 and events[1].event_type == signaled:
        return "signal_with_start"
    return "workflow_started"


def _is_heartbeat(events: Sequence[HistoryEvent], index: int) -> bool:
    """A completed workflow task that the worker asked to follow at once with another, with
    nothing new for it (no event between, no update in it): a local activity outlasting the
    task's timeout does that. An update's task also follows directly, and accepts it."""
    scheduled = _E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    completed = _E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    if index + 1 >= len(events) or events[index + 1].event_type != scheduled:
        return False
    next_task = next(
        (at for at in range(index + 2, len(events)) if events[at].event_type == completed), None
    )
    if next_task is None:
        return False
    for event in events[next_task + 1 :]:
        if event.event_type == _E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            return False
        if event.event_type in (scheduled, completed):
            break
    return True


def rules_table() -> str:
    """RULES as a Markdown table (docs/benchmarks.md shows it; ``bench.actions --rules``)."""
    lines = ["| history event | kind | actions | the rule |", "|---|---|---|---|"]
    lines += [f"| {r.event} | {r.kind} | {r.actions} | {r.rule} |" for r in RULES]
    return "\n".join(lines)


def cost(actions: float, price_per_million: float = LIST_PRICE_PER_MILLION) -> float:
    """Dollars for ``actions`` at ``price_per_million``."""
    return actions * price_per_million / 1_000_000
