"""The slot pool takes turns between groups: a campaign's queue does not starve single calls.

Real pools on the dev server; the holders are tiny workflows that take a grant and give the
slot back when the test says so, so the order of grants is chosen exactly.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from outbound_calls_client import search_attributes as sa
from outbound_calls_client.names import CALL_WORKFLOW, RELEASE_SLOT_SIGNAL

with workflow.unsafe.imports_passed_through():
    from activities.call_slots import CallSlotActivities
    from calls.slots import SlotRequest, SlotsSnapshot, slots_workflow_id
    from outbound_calls_client.names import SLOT_GRANTED_SIGNAL
    from tests.helpers.call_harness import eventually
    from worker import workflow_runner
    from workflows.call_slots import CallSlotsWorkflow

pytestmark = pytest.mark.integration


@workflow.defn(name="HeldSlotWorkflow")
class HeldSlotWorkflow:
    """Waits for its grant, then for ``give_back``, then releases the slot."""

    def __init__(self) -> None:
        self._granted = False
        self._give_back = False

    @workflow.signal(name=SLOT_GRANTED_SIGNAL)
    def slot_granted(self, ticket: int) -> None:
        self._granted = True

    @workflow.signal
    def give_back(self) -> None:
        self._give_back = True

    @workflow.run
    async def run(self, pool_id: str) -> None:
        await workflow.wait_condition(lambda: self._granted and self._give_back)
        await workflow.get_external_workflow_handle(pool_id).signal(
            RELEASE_SLOT_SIGNAL, workflow.info().workflow_id
        )


@workflow.defn(name=CALL_WORKFLOW)
class DialingCallWorkflow:
    """A call in the middle of its dial, as a fresh pool's recovery finds it (CallStatus)."""

    def __init__(self) -> None:
        self._ended = False

    @workflow.signal
    def end(self) -> None:
        self._ended = True

    @workflow.run
    async def run(self) -> None:
        workflow.upsert_search_attributes([sa.CALL_STATUS.value_set("dialing")])
        await workflow.wait_condition(lambda: self._ended)


def _pool_worker(client: Client, queue: str, slots: CallSlotActivities) -> Worker:
    """The pool and the holders on one worker: few holders, so they never starve it."""
    return Worker(
        client,
        task_queue=queue,
        workflows=[CallSlotsWorkflow, HeldSlotWorkflow, DialingCallWorkflow],
        activities=[slots.request_call_slot, slots.grant_call_slots, slots.recover_slot_holders],
        workflow_runner=workflow_runner(),
    )


async def _holders(client: Client, pool: str) -> SlotsSnapshot:
    snap: SlotsSnapshot = await client.get_workflow_handle(pool).query(CallSlotsWorkflow.slots)
    return snap


async def test_single_calls_take_turns_with_a_campaign(dev_env: WorkflowEnvironment) -> None:
    client = dev_env.client
    queue = f"fair-{uuid.uuid4().hex[:8]}"
    slots = CallSlotActivities(client, task_queue=queue, capacity=1)
    pool = slots_workflow_id(queue)
    async with _pool_worker(client, queue, slots):
        names = ["a1", "a2", "a3", "single"]
        handles = {
            n: await client.start_workflow(
                "HeldSlotWorkflow", pool, id=f"{queue}-{n}", task_queue=queue
            )
            for n in names
        }
        # The campaign's three asks come first, the single call's last.
        for n in names:
            group = None if n == "single" else "campaign-a"
            request = SlotRequest(
                holder=handles[n].id, lease_s=600, capacity=1, group=group, ticket=1
            )
            # As the call's local activity does; the first ask finds room and has its slot
            # in the answer, which the call itself would take (no grant signal follows).
            ticket = await slots.request_call_slot(request)
            assert ticket.granted == (n == "a1")
            if ticket.granted:
                await handles[n].signal(SLOT_GRANTED_SIGNAL, 1)

        async def queued() -> SlotsSnapshot | None:
            snap = await _holders(client, pool)
            return snap if len(snap.waiting) == 3 else None

        first = await eventually(queued, what="three asks to wait")
        assert first.holders == (handles["a1"].id,)
        await handles["a1"].signal("give_back")

        async def next_holder() -> tuple[str, ...] | None:
            snap = await _holders(client, pool)
            return snap.holders if snap.holders and snap.holders != first.holders else None

        # First come first served would give a2 the slot; the single call's turn comes first.
        assert await eventually(next_holder, timeout_s=20, what="the next grant") == (
            handles["single"].id,
        )
        for n in ("single", "a2", "a3"):
            await handles[n].signal("give_back")
        for handle in handles.values():
            await handle.result()


class RefusingPool(CallSlotActivities):
    """As the server answers an ask by update when 10 are in flight already: refused."""

    async def _ask_with_start(self, shard: int, requests: list[SlotRequest]) -> list[bool]:
        raise RPCError(
            "limit on number of concurrent in-flight updates has been reached (10)",
            RPCStatusCode.RESOURCE_EXHAUSTED,
            b"",
        )


async def test_a_refused_ask_by_update_goes_by_signal(dev_env: WorkflowEnvironment) -> None:
    client = dev_env.client
    queue = f"refused-{uuid.uuid4().hex[:8]}"
    slots = RefusingPool(client, task_queue=queue, capacity=2)
    pool = slots_workflow_id(queue)
    async with _pool_worker(client, queue, slots):
        handle = await client.start_workflow(
            "HeldSlotWorkflow", pool, id=f"{queue}-refused", task_queue=queue
        )
        request = SlotRequest(holder=handle.id, lease_s=600, capacity=2, ticket=1)
        ticket = await slots.request_call_slot(request)
        assert not ticket.granted
        await handle.signal("give_back")
        # The holder finishes only once the pool's grant signal reached it.
        await handle.result()


async def test_a_raised_cap_takes_effect_on_the_running_pool(
    dev_env: WorkflowEnvironment,
) -> None:
    """MAX_CONCURRENT_CALLS raised on the workers (here: a second worker's activities with the
    new value) applies to the pool with the next ask: no call or pool is restarted."""
    client = dev_env.client
    queue = f"raised-{uuid.uuid4().hex[:8]}"
    before = CallSlotActivities(client, task_queue=queue, capacity=1)
    after = CallSlotActivities(client, task_queue=queue, capacity=2)
    pool = slots_workflow_id(queue)
    async with _pool_worker(client, queue, before):
        handles = [
            await client.start_workflow(
                "HeldSlotWorkflow", pool, id=f"{queue}-{n}", task_queue=queue
            )
            for n in ("first", "second")
        ]
        first = SlotRequest(holder=handles[0].id, lease_s=600, capacity=1, ticket=1)
        assert (await before.request_call_slot(first)).granted
        # With the old cap of 1 the second would queue; the raised cap grants it at once.
        second = SlotRequest(holder=handles[1].id, lease_s=600, capacity=1, ticket=1)
        assert (await after.request_call_slot(second)).granted
        snap = await _holders(client, pool)
        assert snap.capacity == 2
        assert set(snap.holders) == {h.id for h in handles}
        for handle in handles:
            await handle.signal(SLOT_GRANTED_SIGNAL, 1)
            await handle.signal("give_back")
            await handle.result()


async def _dialing_through_a_terminate(
    client: Client, queue: str, slots: CallSlotActivities
) -> WorkflowHandle[Any, Any]:
    """A dialing call holds the pool's one slot, then an operator terminates the pool."""
    dialing = await client.start_workflow(
        DialingCallWorkflow.run, id=f"{queue}-dialing", task_queue=queue
    )
    first = SlotRequest(holder=dialing.id, lease_s=600, capacity=1, ticket=1)
    assert (await slots.request_call_slot(first)).granted
    await client.get_workflow_handle(slots_workflow_id(queue)).terminate("operator mistake (test)")
    return dialing


async def test_a_fresh_pool_answers_no_ask_before_it_knows_its_holders(
    dev_env: WorkflowEnvironment,
) -> None:
    """After a terminate, the fresh run looks up who holds its slots: an ask that comes
    meanwhile waits for that, instead of taking the slot a dialing call still holds."""
    client = dev_env.client
    queue = f"recover-{uuid.uuid4().hex[:8]}"
    slots = CallSlotActivities(client, task_queue=queue, capacity=1)
    pool = slots_workflow_id(queue)
    async with _pool_worker(client, queue, slots):
        dialing = await _dialing_through_a_terminate(client, queue, slots)
        waiting = await client.start_workflow(
            "HeldSlotWorkflow", pool, id=f"{queue}-next", task_queue=queue
        )
        ask = SlotRequest(holder=waiting.id, lease_s=600, capacity=1, ticket=1)
        # The ask starts the fresh run (update-with-start) and is answered after recovery.
        assert not (await slots.request_call_slot(ask)).granted
        snap = await _holders(client, pool)
        assert (snap.holders, snap.waiting) == ((dialing.id,), (waiting.id,))
        # The dialing call ends and gives its slot back: the waiting one has it.
        await client.get_workflow_handle(pool).signal(RELEASE_SLOT_SIGNAL, dialing.id)
        await dialing.signal(DialingCallWorkflow.end)
        await waiting.signal("give_back")
        await waiting.result()
        await dialing.result()


async def test_a_slot_given_back_while_the_pool_recovers_is_free(
    dev_env: WorkflowEnvironment,
) -> None:
    """A release that reaches the fresh run before its lookup counts: the lookup may still
    see the call holding (visibility trails), and must not take the slot back for it."""
    client = dev_env.client
    queue = f"released-{uuid.uuid4().hex[:8]}"
    slots = CallSlotActivities(client, task_queue=queue, capacity=1)
    pool = slots_workflow_id(queue)
    async with _pool_worker(client, queue, slots):
        dialing = await _dialing_through_a_terminate(client, queue, slots)
        # As release_call_slot does: the release starts the fresh run.
        await slots._signal_with_start(0, RELEASE_SLOT_SIGNAL, dialing.id)
        waiting = await client.start_workflow(
            "HeldSlotWorkflow", pool, id=f"{queue}-next", task_queue=queue
        )
        ask = SlotRequest(holder=waiting.id, lease_s=600, capacity=1, ticket=1)
        assert (await slots.request_call_slot(ask)).granted
        assert (await _holders(client, pool)).holders == (waiting.id,)
        await waiting.signal(SLOT_GRANTED_SIGNAL, 1)
        await waiting.signal("give_back")
        await dialing.signal(DialingCallWorkflow.end)
        await waiting.result()
        await dialing.result()
