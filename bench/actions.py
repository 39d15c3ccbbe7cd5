"""What a call costs on Temporal Cloud: billable actions per call, read from real histories.

    .venv/bin/python -m bench.actions [--calls 2 --burst 20 --contacts 5]

The whole stack runs as processes (bench/common.py), its dev server serving Prometheus
metrics. Then, one phase after another, each alone on the stack:

- **scenarios**: for each simulator scenario (calls/scenario_names.py), and an answered call
  whose caller ID comes from a pool (``pick_caller_id``), ``--calls`` calls one after
  another, each followed to its outcome and the slot pool let go idle after it (an idle pool
  closes): each call pays a pool run of its own, as calls far apart do;
- **burst**: ``--burst`` answered calls at once: the pool's share when calls share its runs;
- **campaign**: a campaign of ``--contacts`` answered contacts from a file.

Each history (every call, every run of the slot pool and of the campaign) is counted by
Temporal Cloud's published rules (bench/action_rules.py: the table, its source and date).
Per phase the dev server's ``action`` counter, read before and after, is set beside the
count: the OSS server counts what Cloud bills by the same names, so the two must agree kind
by kind, except where the rules differ (said where printed). Printed and written to
``bench/results/actions.json``: actions by kind per call of each scenario, per campaign
contact, the pool's share per call, and what 1,000 answered calls cost at list price.

Every call gets slot and contact-limit checks (the worker's defaults, MAX_CONCURRENT_CALLS
above any phase's calls: nobody queues). The scenarios that need a poll (webhooks_lost,
hangs_ongoing) run on short deadlines as tests/integration/test_scenarios_e2e.py does, so
their figures are floors (a real call polls once per ``poll_interval_s`` of its length); the
others run on the shipped deadlines, which an ordinary call never reaches.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.client import WorkflowHandle

from adapters.caller_ids import SqliteCallerIdStore
from bench.action_rules import (
    ACTIONS_URL,
    KINDS,
    LIST_PRICE_PER_MILLION,
    LOWEST_TIER_PRICE_PER_MILLION,
    PRICING_URL,
    READ_ON,
    ActionCount,
    cost,
    count_actions,
    rules_table,
)
from bench.common import (
    add_stack_arguments,
    bench_stack,
    print_table,
    stack_parameters,
    write_result,
)
from calls.scenario_names import SCENARIO_NAMES
from outbound_calls_client.campaign import CampaignRequest, CampaignSummary
from outbound_calls_client.contacts import CallTemplate, ContactSource
from outbound_calls_client.models import CallingWindow, CallOutcome, CallRequest, CallTimeouts
from outbound_calls_client.names import CALL_WORKFLOW, SLOTS_WORKFLOW
from outbound_calls_client.search_attributes import CAMPAIGN_ID
from outbound_calls_client.start import start_call, start_campaign
from stack.calls import FROM_NUMBER, call_request, next_number
from stack.ports import free_port
from stack.processes import ProcessStack
from worker import slots_task_queue_for

# Deadlines of the two scenarios that end by a poll or a deadline (as the e2e scenario test).
QUICK = CallTimeouts(ring_timeout_s=2, poll_interval_s=1, analysis_timeout_s=2, max_duration_s=4)
QUICK_SCENARIOS = frozenset({"webhooks_lost", "hangs_ongoing"})
# lost_response holds the create's answer 30 s by default (unscaled); 3 s is as telling.
EXTRA_METADATA: Mapping[str, Mapping[str, str]] = {"lost_response": {"simulator_hold_s": "3"}}
FROM_POOL = "answered_from_pool"
POOL = "bench"
POOL_NUMBER = "+12125550100"
CALL_TIMEOUT_S = 120.0
SETTLE_TIMEOUT_S = 60.0

# History kinds next to the server's action types that count the same thing. The OSS
# server's names (common/rpc/interceptor/telemetry.go): grpc_<method> for client calls,
# command_<command> for a workflow task's commands (one command_BatchMarkers per task with
# any marker), message_... for updates, activity_retry for a retried activity's poll. Compared
# by normal_action_type: server 1.32 writes command_ScheduleActivityTask and
# message_UpdateWorkflowExecution_Acceptance where its source says
# command_SCHEDULE_ACTIVITY_TASK and message_UpdateWorkflowExecution:Acceptance.
CROSS_CHECK: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "workflow starts",
        ("workflow_started",),
        ("grpc_StartWorkflowExecution", "grpc_ExecuteMultiOperation"),
    ),
    (
        "signals (signal-with-start included)",
        ("signal", "signal_with_start"),
        (
            "grpc_SignalWorkflowExecution",
            "grpc_SignalWithStartWorkflowExecution",
            "command_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION",
        ),
    ),
    ("updates", ("update",), ("message_UpdateWorkflowExecution:Acceptance",)),
    ("activities", ("activity",), ("command_SCHEDULE_ACTIVITY_TASK",)),
    ("activity retries", ("activity_retry",), ("activity_retry",)),
    ("marker batches", ("local_activities", "patch_marker"), ("command_BatchMarkers",)),
    ("timers", ("timer",), ("command_START_TIMER",)),
    (
        "search attribute upserts",
        ("search_attribute_upsert",),
        ("command_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",),
    ),
    (
        "continue-as-new",
        ("continue_as_new",),
        ("command_CONTINUE_AS_NEW_WORKFLOW_EXECUTION",),
    ),
    (
        "child workflows",
        ("child_workflow",),
        (
            "command_START_CHILD_WORKFLOW_EXECUTION",
            "command_START_CHILD_WORKFLOW_EXECUTION_Extra",
        ),
    ),
    (
        "nexus operations",
        ("nexus",),
        ("command_SCHEDULE_NEXUS_OPERATION", "command_REQUEST_CANCEL_NEXUS_OPERATION"),
    ),
)
# Billable on Cloud, in no history: only the metric sees them.
METRIC_ONLY: Mapping[str, str] = {
    "grpc_QueryWorkflow": "queries",
    "grpc_RecordActivityTaskHeartbeat": "activity heartbeats",
    "grpc_RecordActivityTaskHeartbeatById": "activity heartbeats",
    "message_UpdateWorkflowExecution:Rejection": "update rejections",
}


def normal_action_type(action_type: str) -> str:
    """One spelling of an action type, whatever the server version's case and separators."""
    prefix, _, rest = action_type.partition("_")
    return f"{prefix}:{re.sub(r'[^a-z0-9]', '', rest.lower())}"


_METRIC_ONLY = {normal_action_type(t): what for t, what in METRIC_ONLY.items()}
_METRIC_LINE = re.compile(r"^action\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class Phase:
    """One phase's calls, what each one's history and the pool's runs hold, and the server's
    own count over the same time."""

    name: str
    calls: list[ActionCount] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    pool: ActionCount = field(default_factory=ActionCount)
    pool_runs: int = 0
    # Other workflows of the phase (the campaign's runs).
    others: ActionCount = field(default_factory=ActionCount)
    metric: Counter[str] = field(default_factory=Counter)

    @property
    def call_total(self) -> ActionCount:
        total = ActionCount()
        for call in self.calls:
            total += call
        return total

    def everything(self) -> ActionCount:
        total = self.call_total
        total += self.pool
        total += self.others
        return total

    def per_call(self) -> float:
        return self.call_total.total / len(self.calls)

    def pool_per_call(self) -> float:
        return self.pool.total / len(self.calls)


# ----- the server's action counter -------------------------------------------------------------


async def read_action_metric(http: httpx.AsyncClient, namespace: str) -> Counter[str]:
    """The dev server's ``action`` counter for ``namespace``, by action_type."""
    response = await http.get("/metrics")
    response.raise_for_status()
    counts: Counter[str] = Counter()
    for line in response.text.splitlines():
        match = _METRIC_LINE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("namespace") == namespace:
            action_type = normal_action_type(labels.get("action_type", "?"))
            counts[action_type] += round(float(match["value"]))
    return counts


async def settled_metric(http: httpx.AsyncClient, namespace: str) -> Counter[str]:
    """The counter once two readings a second apart agree (the last commands counted)."""
    last = await read_action_metric(http, namespace)
    async with asyncio.timeout(SETTLE_TIMEOUT_S):
        while True:
            await asyncio.sleep(1.0)
            now = await read_action_metric(http, namespace)
            if now == last:
                return now
            last = now


# ----- histories -------------------------------------------------------------------------------


async def actions_of(stack: ProcessStack, workflow_id: str, run_id: str | None) -> ActionCount:
    history = await stack.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return count_actions(history.events)


def _pool_query(stack: ProcessStack, extra: str = "") -> str:
    queues = f'"{stack.task_queue}", "{slots_task_queue_for(stack.task_queue)}"'
    return f'WorkflowType = "{SLOTS_WORKFLOW}" AND TaskQueue IN ({queues}){extra}'


async def until_pool_idle(stack: ProcessStack) -> None:
    """Every pool run closed (an idle pool closes): its runs are this phase's alone."""
    query = _pool_query(stack, ' AND ExecutionStatus = "Running"')
    async with asyncio.timeout(SETTLE_TIMEOUT_S):
        while True:
            if not (await stack.client.count_workflows(query)).count:
                return
            await asyncio.sleep(0.5)


async def new_pool_runs(stack: ProcessStack, seen: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pool runs not counted yet (and now counted)."""
    fresh = []
    async for execution in stack.client.list_workflows(_pool_query(stack)):
        key = (execution.id, execution.run_id)
        if key not in seen:
            seen.add(key)
            fresh.append(key)
    return fresh


# ----- the phases ------------------------------------------------------------------------------


def scenario_request(scenario: str, label: str) -> CallRequest:
    """A call the simulator plays as ``scenario`` (``FROM_POOL``: answered, its caller ID
    picked from the pool), to a number of its own."""
    timeouts = QUICK if scenario in QUICK_SCENARIOS else CallTimeouts()
    played = "answered" if scenario == FROM_POOL else scenario
    pool = {"from_number": None, "caller_id_pool": POOL} if scenario == FROM_POOL else {}
    return call_request(
        played,
        to_number=next_number(),
        metadata={"simulator_scenario": played, **EXTRA_METADATA.get(scenario, {})},
        timeouts=timeouts,
        dedupe_key=f"{label}-{uuid.uuid4().hex[:10]}",
        **pool,
    )


async def _outcome(handle: WorkflowHandle[Any, CallOutcome]) -> str:
    try:
        outcome = await asyncio.wait_for(handle.result(), timeout=CALL_TIMEOUT_S)
    except Exception as err:  # a failed workflow is a figure too, not the end of the run
        return f"error: {type(err).__name__}"
    return str(outcome.status.value)


async def run_alone(stack: ProcessStack, phase: Phase, scenario: str, count: int) -> None:
    """``count`` calls one after another, each with a pool run of its own (the pool closes
    when idle): what a call costs when calls are far apart."""
    for _ in range(count):
        await run_at_once(stack, phase, scenario, 1)
        await until_pool_idle(stack)


async def run_at_once(stack: ProcessStack, phase: Phase, scenario: str, count: int) -> None:
    handles = await asyncio.gather(
        *(
            start_call(
                stack.client,
                scenario_request(scenario, f"bench-actions-{scenario}"),
                task_queue=stack.task_queue,
            )
            for _ in range(count)
        )
    )
    phase.outcomes.update(await asyncio.gather(*(_outcome(h) for h in handles)))
    for handle in handles:
        phase.calls.append(await actions_of(stack, handle.id, handle.result_run_id))


async def run_campaign(stack: ProcessStack, phase: Phase, contacts: int) -> None:
    path = stack.data_dir / "contacts.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["to_number", "customer_name"])
        for i in range(contacts):
            writer.writerow([f"+1312555{i:04d}", f"Ada {i}"])
    request = CampaignRequest(
        campaign_id=f"bench-actions-{uuid.uuid4().hex[:8]}",
        contacts=ContactSource(
            location=str(path),
            template=CallTemplate(
                from_number=FROM_NUMBER,
                agent_id="agent_bench",
                calling_window=CallingWindow(enabled=False),
            ),
        ),
        max_in_flight=contacts,
    )
    handle = await start_campaign(stack.client, request, task_queue=stack.task_queue)
    summary: CampaignSummary = await asyncio.wait_for(handle.result(), timeout=CALL_TIMEOUT_S)
    phase.outcomes.update({k.value: v for k, v in summary.counts.items()})
    run_id: str | None = handle.first_execution_run_id or handle.result_run_id
    while run_id:
        history = await stack.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        phase.others += count_actions(history.events)
        last = history.events[-1].workflow_execution_continued_as_new_event_attributes
        run_id = last.new_execution_run_id or None
    query = (
        f'WorkflowType = "{CALL_WORKFLOW}" AND {CAMPAIGN_ID.name} = "{request.campaign_id}"'
        ' AND ExecutionStatus != "Running"'
    )
    async with asyncio.timeout(SETTLE_TIMEOUT_S):
        while True:
            if (await stack.client.count_workflows(query)).count >= contacts:
                break
            await asyncio.sleep(0.5)
    async for execution in stack.client.list_workflows(query):
        phase.calls.append(await actions_of(stack, execution.id, execution.run_id))


async def fill_pool(stack: ProcessStack) -> None:
    """The caller-ID pool the from-pool calls pick from, in the worker's store."""
    store = SqliteCallerIdStore(stack.data_dir / "do_not_call.sqlite3")
    await store.add(POOL_NUMBER, POOL, None)
    await store.restore(POOL_NUMBER)


async def measure(args: argparse.Namespace) -> list[Phase]:
    port = free_port()
    # Above every phase's calls: the pool is in each call's path, nobody queues.
    env = {"MAX_CONCURRENT_CALLS": str(max(args.burst, args.contacts, args.calls) + 10)}
    phases: list[Phase] = []
    async with (
        bench_stack(args, time_scale=0.05, env=env, server_metrics_port=port) as stack,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
    ):
        await fill_pool(stack)
        namespace = stack.config.namespace
        seen: set[tuple[str, str]] = set()
        plan: list[tuple[str, str, int]] = [
            *((name, name, args.calls) for name in (*SCENARIO_NAMES, FROM_POOL)),
            (f"burst of {args.burst} answered", "answered", args.burst),
        ]
        if args.contacts:
            plan.append((f"campaign of {args.contacts}", "campaign", args.contacts))
        before = await settled_metric(http, namespace)
        for name, scenario, count in plan:
            began = time.monotonic()
            phase = Phase(name)
            if scenario == "campaign":
                await run_campaign(stack, phase, count)
            elif name.startswith("burst"):
                await run_at_once(stack, phase, scenario, count)
            else:
                await run_alone(stack, phase, scenario, count)
            await until_pool_idle(stack)
            for pool_id, run_id in await new_pool_runs(stack, seen):
                phase.pool += await actions_of(stack, pool_id, run_id)
                phase.pool_runs += 1
            after = await settled_metric(http, namespace)
            phase.metric = after - before
            before = after
            phases.append(phase)
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(phase.outcomes.items()))
            print(
                f"{name:<28} {phase.per_call():5.1f} actions a call, pool "
                f"{phase.pool_per_call():4.1f} ({outcomes}; {time.monotonic() - began:.1f}s)",
                flush=True,
            )
    return phases


# ----- figures ---------------------------------------------------------------------------------


def by_kind(count: ActionCount, divisor: int) -> dict[str, float]:
    return {kind: round(count.actions[kind] / divisor, 2) for kind in KINDS if count.actions[kind]}


def _kinds_text(kinds: Mapping[str, float]) -> str:
    return ", ".join(f"{kind} {_num(n)}" for kind, n in kinds.items())


def _num(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def cross_check(phase: Phase) -> dict[str, Any]:
    """Histories against the server's metric, group by group; what only the metric sees."""
    counted = phase.everything()
    groups: dict[str, dict[str, int]] = {}
    claimed: set[str] = set()
    for label, kinds, metric_types in CROSS_CHECK:
        history = sum(counted.actions[k] for k in kinds)
        if label == "search attribute upserts":
            # The OSS metric counts TemporalChangeVersion upserts; Cloud leaves them free.
            history += counted.exempt_upserts
        normal = {normal_action_type(t) for t in metric_types}
        metric = sum(phase.metric[t] for t in normal)
        claimed.update(normal)
        if history or metric:
            groups[label] = {"histories": history, "metric": metric}
    metric_only: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    for action_type, n in phase.metric.items():
        if action_type in claimed or not n:
            continue
        if action_type in _METRIC_ONLY:
            metric_only[_METRIC_ONLY[action_type]] += n
        else:
            unknown[action_type] += n
    return {
        "groups": groups,
        "agree": all(g["histories"] == g["metric"] for g in groups.values()),
        "metric_only": dict(metric_only),
        "unexplained": dict(unknown),
        "exempt_change_version_upserts": counted.exempt_upserts,
    }


def phase_figures(phase: Phase) -> dict[str, Any]:
    calls = len(phase.calls)
    totals = sorted(c.total for c in phase.calls)
    figures: dict[str, Any] = {
        "calls": calls,
        "outcomes": dict(phase.outcomes),
        "actions_per_call": round(phase.per_call(), 2),
        "actions_per_call_range": [totals[0], totals[-1]],
        "by_kind_per_call": by_kind(phase.call_total, calls),
        "pool_runs": phase.pool_runs,
        "pool_actions": phase.pool.total,
        "pool_per_call": round(phase.pool_per_call(), 2),
        "pool_by_kind": by_kind(phase.pool, 1),
        "markers_per_call": {
            name: round(n / calls, 2) for name, n in phase.call_total.markers.items()
        },
        "cross_check": cross_check(phase),
    }
    check = figures["cross_check"]
    # Billable, in no history: read from the metric, which sees this phase alone.
    figures["not_in_histories_per_call"] = round(sum(check["metric_only"].values()) / calls, 2)
    if phase.others.total:
        figures["campaign_actions"] = phase.others.total
        figures["campaign_per_contact"] = round(phase.others.total / calls, 2)
        figures["campaign_by_kind"] = by_kind(phase.others, 1)
    figures["billable_per_call"] = round(
        (phase.everything().total + sum(check["metric_only"].values())) / calls, 2
    )
    return figures


def _check_text(check: Mapping[str, Any]) -> str:
    off = [
        f"{label} {g['histories']} vs {g['metric']}"
        for label, g in check["groups"].items()
        if g["histories"] != g["metric"]
    ]
    parts = ["agrees" if check["agree"] else "differs: " + "; ".join(off)]
    if check["metric_only"]:
        parts.append("metric only: " + _kinds_text(check["metric_only"]))
    if check["unexplained"]:
        parts.append("unexplained: " + _kinds_text(check["unexplained"]))
    return ", ".join(parts)


def cost_rows(label: str, actions_per_call: float) -> list[tuple[str, Any]]:
    thousand = actions_per_call * 1000
    return [
        (
            label,
            f"{_num(round(actions_per_call, 2))} actions a call -> {thousand:,.0f} actions: "
            f"${cost(thousand):.2f} at ${LIST_PRICE_PER_MILLION:g}/M "
            f"(${cost(thousand, LOWEST_TIER_PRICE_PER_MILLION):.2f} at the lowest published "
            f"tier, ${LOWEST_TIER_PRICE_PER_MILLION:g}/M)",
        )
    ]


def report(phases: Sequence[Phase], args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "rules": ACTIONS_URL,
        "pricing": PRICING_URL,
        "read_on": READ_ON,
        "list_price_per_million": LIST_PRICE_PER_MILLION,
        "lowest_tier_price_per_million": LOWEST_TIER_PRICE_PER_MILLION,
        "phases": {p.name: phase_figures(p) for p in phases},
    }
    by_name = figures["phases"]
    print_table(
        f"actions per call by scenario ({args.calls} calls each, one at a time): its own "
        "history + the pool's share + what no history holds (the metric) = everything",
        _scenario_rows(phases, by_name),
    )
    print_table("the server's action metric beside the histories", _check_rows(phases, by_name))
    answered = by_name["answered"]
    burst = by_name[f"burst of {args.burst} answered"]
    rows = [
        ("answered call, its own history", answered["actions_per_call"]),
        ("  by kind", _kinds_text(answered["by_kind_per_call"])),
        ("  markers it records (one action per task)", _kinds_text(answered["markers_per_call"])),
        ("  in no history (the metric)", answered["not_in_histories_per_call"]),
        ("pool's share, each call alone", answered["pool_per_call"]),
        ("  pool by kind, all its runs", _kinds_text(answered["pool_by_kind"])),
        (f"pool's share, {args.burst} calls at once", burst["pool_per_call"]),
        ("  pool by kind, all its runs", _kinds_text(burst["pool_by_kind"])),
        ("answered call, everything, alone", answered["billable_per_call"]),
        (f"answered call, everything, {args.burst} at once", burst["billable_per_call"]),
    ]
    campaign = by_name.get(f"campaign of {args.contacts}")
    if campaign is not None:
        rows += [
            (
                f"campaign contact ({args.contacts} contacts), everything",
                campaign["billable_per_call"],
            ),
            ("  its call", campaign["actions_per_call"]),
            ("  the campaign's runs", campaign["campaign_per_contact"]),
            ("  campaign by kind, all runs", _kinds_text(campaign["campaign_by_kind"])),
            ("  pool", campaign["pool_per_call"]),
            ("  in no history (the metric)", campaign["not_in_histories_per_call"]),
        ]
    print_table("answered calls, the pool and campaigns", rows)
    costs = cost_rows("1,000 answered calls, each alone", answered["billable_per_call"])
    costs += cost_rows(f"1,000 answered calls, {args.burst} at a time", burst["billable_per_call"])
    if campaign is not None:
        costs += cost_rows("1,000 campaign contacts", campaign["billable_per_call"])
    figures["cost_of_1000"] = {label: text for label, text in costs}
    print_table(
        f"what 1,000 cost at list price ({PRICING_URL}, read {READ_ON}; actions only: the "
        "plan adds 10% of usage, storage is apart)",
        costs,
    )
    return figures


def _scenario_rows(
    phases: Iterable[Phase], by_name: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for phase in phases:
        f = by_name[phase.name]
        low, high = f["actions_per_call_range"]
        spread = "" if low == high else f" ({low}-{high})"
        rows.append(
            (
                phase.name,
                f"{_num(f['actions_per_call'])}{spread} + pool {_num(f['pool_per_call'])} "
                f"+ no history {_num(f['not_in_histories_per_call'])} = "
                f"{_num(f['billable_per_call'])} [{', '.join(sorted(f['outcomes']))}]",
            )
        )
        rows.append(("", _kinds_text(f["by_kind_per_call"])))
    return rows


def _check_rows(
    phases: Iterable[Phase], by_name: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, Any]]:
    return [(p.name, _check_text(by_name[p.name]["cross_check"])) for p in phases]


async def main_async(args: argparse.Namespace) -> int:
    phases = await measure(args)
    figures = report(phases, args)
    write_result(
        "actions",
        {
            "calls": args.calls,
            "burst": args.burst,
            "contacts": args.contacts,
            "time_scale": 0.05,
            **stack_parameters(args),
        },
        figures,
    )
    agree = all(f["cross_check"]["agree"] for f in figures["phases"].values())
    return 0 if agree else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.actions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=2, help="calls of each scenario")
    parser.add_argument("--burst", type=int, default=20, help="answered calls at once")
    parser.add_argument(
        "--contacts", type=int, default=5, help="contacts of the campaign (0: no campaign)"
    )
    parser.add_argument(
        "--rules", action="store_true", help="print the rules (a Markdown table) and exit"
    )
    add_stack_arguments(parser)
    args = parser.parse_args()
    if args.rules:
        print(f"{ACTIONS_URL}, read {READ_ON}\n\n{rules_table()}")
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
