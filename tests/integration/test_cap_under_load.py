"""The account-wide cap exact under load, while a worker is killed and a pool terminated.

80 calls in CI (300 with `make load`, CAP_LOAD_CALLS), MAX_CONCURRENT_CALLS=7 split across 3
pool shards, two worker processes. In the
middle, one worker gets kill -9 (its pools and calls move to the other) and one shard's pool
is terminated by an operator (its fresh run finds who holds its slots). The count of calls
open at once comes from the simulator's own records (create received → call ended).
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from calls.slots import shard_of, slots_workflow_id
from outbound_calls_client.models import CallTimeouts, OutcomeStatus
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import (
    call_request,
    eventually,
    start_worker_process,
    stop_worker_processes,
)
from tests.integration.test_call_slots import (  # noqa: F401 (webhooks_to: a fixture)
    max_open_calls,
    simulated_account,
    webhooks_to,
)
from workflows.call_slots import CallSlotsWorkflow

pytestmark = pytest.mark.integration

CALLS = int(os.environ.get("CAP_LOAD_CALLS", "80"))
CAP = 7
SHARDS = 3


async def test_cap_holds_under_load_through_a_kill_and_a_terminated_pool(
    dev_env: WorkflowEnvironment,
    webhooks_to: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    queue = f"cap-{uuid.uuid4().hex[:8]}"
    async with simulated_account(
        dev_env,
        webhooks_to,
        tmp_path,
        # Calls of about 0.75 s: at 0.12 (0.36 s) a loaded CI machine once spread the first
        # seven creates wider than a call lasts, and the cap, although kept, was never full.
        0.25,
        TEMPORAL_TASK_QUEUE=queue,
        MAX_CONCURRENT_CALLS=str(CAP),
        CALL_SLOT_SHARDS=str(SHARDS),
        WORKER_GRACEFUL_SHUTDOWN_S="0",
    ) as (sim, env):
        workers = [await start_worker_process(env) for _ in range(2)]
        quick = CallTimeouts(
            ring_timeout_s=5, poll_interval_s=5, analysis_timeout_s=5, max_duration_s=300
        )
        numbers = [f"+1212555{4000 + i:04d}" for i in range(CALLS)]
        handles = await asyncio.gather(
            *(
                start_call(
                    dev_env.client, call_request(to_number=n, timeouts=quick), task_queue=queue
                )
                for n in numbers
            )
        )
        try:

            async def dialed(count: int) -> bool:
                return len(await sim.calls()) >= count

            await eventually(lambda: dialed(CALLS // 4), timeout_s=120, what="a quarter dialed")
            workers[0].send_signal(signal.SIGKILL)  # no shutdown: its tasks time out elsewhere
            await workers[0].wait()
            await eventually(lambda: dialed(CALLS // 2), timeout_s=120, what="half dialed")
            # An operator terminates one shard's pool while it holds slots and has a queue.
            shard = shard_of(handles[-1].id, SHARDS)
            pool = dev_env.client.get_workflow_handle(slots_workflow_id(queue, shard))
            before = await pool.query(CallSlotsWorkflow.slots)
            await pool.terminate("operator mistake (test)")
            workers[0] = await start_worker_process(env)
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(h.result() for h in handles)), timeout=300
            )
        finally:
            await stop_worker_processes(*workers)
        assert [o.status for o in outcomes] == [OutcomeStatus.COMPLETED] * CALLS
        assert len(await sim.calls()) == CALLS  # one dial each, none repeated after the kill
        peak = await max_open_calls(sim)
    assert before.holders  # the terminated pool held slots at the time
    assert peak == CAP
