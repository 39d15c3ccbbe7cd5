"""The patches lean-call-actions and recover-by-local-activity: what a call and a fresh slot
pool cost in Temporal Cloud's billable actions (bench/action_rules.py), nothing the UI shows
lost; and a release run twice, which starts no pool run. The old paths are what the recorded
histories replay (tests/workflow/test_replay.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.call_slots import CallSlotActivities
from bench.action_rules import LOCAL_ACTIVITY_MARKER, count_actions
from calls.slots import SlotTicket, slots_workflow_id
from outbound_calls_client import search_attributes as sa
from outbound_calls_client.models import OutcomeStatus
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import (
    SimulatorAdmin,
    call_id_of,
    call_request,
    call_worker,
    deliver,
    eventually,
    snapshot,
)

_E = EventType


async def _events(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    return list((await handle.fetch_history()).events)


def _upserted(events: list[HistoryEvent]) -> list[dict[str, str]]:
    """Each billable upsert's attributes (TemporalChangeVersion-only ones left out)."""
    found = []
    for event in events:
        if event.event_type != _E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            continue
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        names = {name: payload.data.decode() for name, payload in fields.indexed_fields.items()}
        if set(names) != {"TemporalChangeVersion"}:
            found.append(names)
    return found


async def _created(sim: SimulatorAdmin) -> str:
    async def probe() -> str | None:
        calls = await sim.calls()
        return str(calls[0]["call_id"]) if calls else None

    return await eventually(probe, what="the call")


def _tasks_with_markers(events: list[HistoryEvent], name: str) -> set[int]:
    return {
        e.marker_recorded_event_attributes.workflow_task_completed_event_id
        for e in events
        if e.event_type == _E.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == name
    }


async def test_an_answered_call_costs_thirteen_actions_and_its_pool_five(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    async with call_worker(ts_env.client, sim.base_url) as queue:
        handle = await start_call(ts_env.client, call_request("answered"), task_queue=queue)
        # The simulator says when the call exists: the test server answers a query through
        # a workflow task, which would be counted here.
        await deliver(handle, await sim.finished_events(await _created(sim)))
        assert (await handle.result()).status == OutcomeStatus.COMPLETED
        pool = ts_env.client.get_workflow_handle(slots_workflow_id(queue))
        await pool.result()  # idle once the slot is back: the run closes
        events, pool_events = await _events(handle), await _events(pool)

    call = count_actions(events).actions
    # Phases whose events land in one workflow task share an upsert: 5 when each event
    # comes alone (dialing, ringing, in_call, awaiting_analysis, finished), fewer otherwise.
    upserts = call.pop("search_attribute_upsert")
    assert 3 <= upserts <= 5, upserts
    assert dict(call) == {
        "workflow_started": 1,
        # Validation, do-not-call, the ask and the contact claim share the first task; the
        # release has its own.
        "local_activities": 2,
        "activity": 1,  # the create
        "timer": 1,
        "signal": 3,
    }, call
    upserted = _upserted(events)
    # The first says at once what the UI could see of the first workflow task: the number's
    # hash and dialing, never a waiting_for_slot the ask's answer had already ended.
    assert sa.TO_NUMBER_HASH.name in upserted[0]
    assert upserted[0][sa.CALL_STATUS.name] == '"dialing"'
    statuses = [u[sa.CALL_STATUS.name] for u in upserted if sa.CALL_STATUS.name in u]
    assert '"waiting_for_slot"' not in statuses
    assert statuses[-1] == '"finished"'
    assert len(statuses) == upserts
    assert len(_tasks_with_markers(events, LOCAL_ACTIVITY_MARKER)) == 2
    # The pool's fresh run: its start, the recovery's local activity with the patches' markers
    # in one task, the lease timer, the ask (an update) and the release (a signal).
    kinds = count_actions(pool_events).actions
    assert dict(kinds) == {
        "workflow_started": 1,
        "local_activities": 1,
        "timer": 1,
        "update": 1,
        "signal": 1,
    }, kinds
    assert not any(e.event_type == _E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in pool_events)


async def test_a_queued_call_shows_waiting_for_slot_while_it_waits(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    async with call_worker(ts_env.client, sim.base_url, max_concurrent_calls=1) as queue:
        first = await start_call(ts_env.client, call_request("answered"), task_queue=queue)
        first_bodies = await sim.finished_events(await call_id_of(first))
        second = await start_call(
            ts_env.client,
            call_request("answered", to_number="+12125550177"),
            task_queue=queue,
        )

        async def queued() -> bool:
            return (await snapshot(second)).phase == "waiting_for_slot"

        await eventually(queued, what="the second call queued")
        waiting = _upserted(await _events(second))
        assert waiting[-1][sa.CALL_STATUS.name] == '"waiting_for_slot"'
        assert sa.TO_NUMBER_HASH.name in waiting[-1]  # held back until then, not lost
        await deliver(first, first_bodies)
        await deliver(second, await sim.finished_events(await call_id_of(second)))
        assert (await second.result()).status == OutcomeStatus.COMPLETED
    statuses = [u.get(sa.CALL_STATUS.name) for u in _upserted(await _events(second))]
    assert statuses[:2] == ['"waiting_for_slot"', '"dialing"']


async def test_a_release_run_again_after_the_pool_closed_starts_no_run(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    """What a workflow task failed after its release (UnhandledCommand: a webhook landed
    meanwhile) does: the release local activity runs again, the pool closed since."""
    async with call_worker(ts_env.client, sim.base_url) as queue:
        handle = await start_call(ts_env.client, call_request("answered"), task_queue=queue)
        await deliver(handle, await sim.finished_events(await _created(sim)))
        await handle.result()
        pool = ts_env.client.get_workflow_handle(slots_workflow_id(queue))
        await pool.result()
        closed = (await pool.describe()).run_id
        activities = CallSlotActivities(ts_env.client, task_queue=queue, capacity=10)
        ticket = SlotTicket(shard=0, pool_id=pool.id)
        await _as_the_call(handle.id).run(activities.release_call_slot, ticket)
        latest = await ts_env.client.get_workflow_handle(pool.id).describe()
    assert latest.run_id == closed
    assert latest.status == WorkflowExecutionStatus.COMPLETED


async def test_a_release_to_a_terminated_pool_starts_a_fresh_run(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    async with call_worker(ts_env.client, sim.base_url) as queue:
        handle = await start_call(ts_env.client, call_request("answered"), task_queue=queue)
        bodies = await sim.finished_events(await _created(sim))
        pool = ts_env.client.get_workflow_handle(slots_workflow_id(queue))
        terminated = (await pool.describe()).run_id
        await pool.terminate("operator mistake (test)")
        await deliver(handle, bodies)
        assert (await handle.result()).status == OutcomeStatus.COMPLETED
        # The release's signal found no run; the pool's last run was no idle close, so the
        # release started a fresh one, which found the call gone and closed idle.
        fresh = ts_env.client.get_workflow_handle(pool.id)
        await fresh.result()
        assert (await fresh.describe()).run_id != terminated
    assert all(c.get("call_status") == "ended" for c in await sim.calls())


def _as_the_call(workflow_id: str) -> ActivityEnvironment:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, workflow_id=workflow_id)
    return environment
