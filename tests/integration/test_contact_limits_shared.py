"""CONTACT_LIMITS across workers and campaigns, with every part real: the dev server, the
simulator sending signed webhooks through the bridge, two workers on one task queue (each with
its own connections to one PostgreSQL contact log, as two hosts would have), and three
campaigns started at once that call the same people. No person is called more often than the
limit allows, counted at the simulator; the dials the limit refused end rejected. A caller-ID
pool's daily cap holds across the two workers the same way."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.caller_ids_postgres import PostgresCallerIdStore
from adapters.contact_log_postgres import PostgresContactLog
from adapters.settings import BridgeSettings, SimulatorSettings
from bridge.app import create_app
from outbound_calls_client.campaign import CampaignRequest
from outbound_calls_client.models import OutcomeStatus
from outbound_calls_client.start import start_call, start_campaign
from simulator.server import running_simulator, serve_asgi_app
from stack.calls import next_number
from tests.helpers.call_harness import (
    SIM_KEY,
    SimulatorAdmin,
    call_request,
    call_worker,
    eventually,
)

pytestmark = pytest.mark.integration

LIMIT = 2
PEOPLE = 4
CAMPAIGNS = 3
LIVE = ("registered", "ongoing")
POOLED = "+14155550100"


@asynccontextmanager
async def _two_workers(client: Client, url: str, **settings: Any) -> AsyncIterator[Stack]:
    """The simulator sending webhooks through the bridge, and two workers on one task queue,
    each with a client and PostgreSQL connections of its own (as on two hosts): the contact
    log and the caller-ID pools in ``url``'s database."""
    queue = f"calls-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        bridge = await stack.enter_async_context(
            serve_asgi_app(create_app(BridgeSettings(retell_api_key=SIM_KEY), client=client))
        )
        sim = await stack.enter_async_context(
            running_simulator(
                SimulatorSettings(
                    simulator_time_scale=0.002,
                    simulator_webhook_url=f"{bridge.base_url}/webhooks/retell",
                )
            )
        )
        for _ in range(2):
            own = await Client.connect(
                client.service_client.config.target_host,
                namespace=client.namespace,
                data_converter=client.data_converter,
            )
            log = await stack.enter_async_context(PostgresContactLog.connect(url))
            pools = await stack.enter_async_context(PostgresCallerIdStore.connect(url))
            await stack.enter_async_context(
                call_worker(
                    own,
                    sim.base_url,
                    contact_log=log,
                    caller_ids=pools,
                    temporal_task_queue=queue,
                    max_concurrent_calls=20,
                    **settings,
                )
            )
        admin = SimulatorAdmin(sim.base_url)
        stack.push_async_callback(admin.aclose)
        yield Stack(queue, admin)

        async def nothing_live() -> bool:
            return not [c for c in await admin.calls() if c["call_status"] in LIVE]

        await eventually(nothing_live, timeout_s=30, what="no call live at the simulator")


@dataclass(frozen=True)
class Stack:
    task_queue: str
    sim: SimulatorAdmin


async def test_two_workers_and_three_campaigns_never_pass_the_limit(
    dev_env: WorkflowEnvironment, dnc_database_url: str
) -> None:
    client = dev_env.client
    people = [next_number() for _ in range(PEOPLE)]
    async with _two_workers(client, dnc_database_url, contact_limits=f"{LIMIT}/24h") as stack:
        # Each campaign calls every person; none waits for the limit (max_hold_s), so a
        # refused dial ends the call at once instead of a day later.
        requests = [
            CampaignRequest(
                campaign_id=f"limits-{i}-{uuid.uuid4().hex[:8]}",
                calls=[
                    call_request(to_number=person, dedupe_key=None, timeouts={"max_hold_s": 1})
                    for person in people
                ],
                max_in_flight=PEOPLE,
            )
            for i in range(CAMPAIGNS)
        ]
        handles = await asyncio.gather(
            *(start_campaign(client, r, task_queue=stack.task_queue) for r in requests)
        )
        async with asyncio.timeout(120):
            summaries = await asyncio.gather(*(h.result() for h in handles))
        dialed = Counter(call["to_number"] for call in await stack.sim.calls())
        assert dialed == dict.fromkeys(people, LIMIT)  # exactly the limit: never over it
        counts: Counter[OutcomeStatus] = Counter()
        for summary in summaries:
            counts.update(summary.counts)
        assert counts[OutcomeStatus.COMPLETED] == PEOPLE * LIMIT
        assert counts[OutcomeStatus.REJECTED] == PEOPLE * (CAMPAIGNS - LIMIT)


async def test_a_daily_cap_holds_across_two_workers(
    dev_env: WorkflowEnvironment, dnc_database_url: str
) -> None:
    client = dev_env.client
    cap, calls = 3, 8
    async with _two_workers(client, dnc_database_url) as stack:
        async with PostgresCallerIdStore.connect(dnc_database_url) as pools:
            await pools.add(POOLED, "capped", cap)
        requests = [
            call_request(
                to_number=next_number(),
                from_number=None,
                caller_id_pool="capped",
                timeouts={"max_hold_s": 1},
            )
            for _ in range(calls)
        ]
        handles = await asyncio.gather(
            *(start_call(client, r, task_queue=stack.task_queue) for r in requests)
        )
        async with asyncio.timeout(120):
            outcomes = await asyncio.gather(*(h.result() for h in handles))
        statuses = Counter(o.status for o in outcomes)
        assert statuses == {OutcomeStatus.COMPLETED: cap, OutcomeStatus.REJECTED: calls - cap}
        dialed = [call["from_number"] for call in await stack.sim.calls()]
        assert dialed == [POOLED] * cap
