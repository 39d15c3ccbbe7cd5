"""Agents provisioned once per configuration, on the dev server with every part real."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import ValidationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.agents import AgentActivities
from adapters.retell_client import RetellClient
from adapters.settings import BridgeSettings, SimulatorSettings
from bridge import create_app
from calls.agents import agent_fingerprint, agent_name_for, create_agent_body
from outbound_calls_client.models import AgentConfig, OutcomeStatus
from outbound_calls_client.start import start_call
from simulator.server import running_simulator, serve_asgi_app
from tests.helpers.call_harness import SIM_KEY, call_request, call_worker, live_stack

pytestmark = pytest.mark.integration
# Started together, before any provisioning has finished: they all race for the one agent.
CONCURRENT_CALLS = 40

CONFIG = AgentConfig(
    voice_id="11labs-Adrian",
    response_engine={"type": "retell-llm", "llm_id": "llm_reminders"},
    agent_name="reminders",
    settings={"language": "en-US", "begin_message": "Hello, this is a reminder."},
)


def test_agent_id_and_configuration_together_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="give agent_id or agent"):
        call_request(agent_id="agent_x", agent=CONFIG)
    with pytest.raises(ValidationError, match="type must be one of"):
        AgentConfig(voice_id="v", response_engine={"type": "gpt"})
    with pytest.raises(ValidationError, match="needs llm_id"):
        AgentConfig(voice_id="v", response_engine={"type": "retell-llm"})


def test_fingerprint_ignores_key_order_and_sees_every_field() -> None:
    reordered = AgentConfig.model_validate(
        {
            "settings": {"begin_message": "Hello, this is a reminder.", "language": "en-US"},
            "agent_name": "reminders",
            "response_engine": {"llm_id": "llm_reminders", "type": "retell-llm"},
            "voice_id": "11labs-Adrian",
        }
    )
    assert agent_fingerprint(reordered) == agent_fingerprint(CONFIG)
    changed = CONFIG.model_copy(update={"voice_id": "11labs-Bella"})
    assert agent_fingerprint(changed) != agent_fingerprint(CONFIG)


async def test_many_calls_at_once_with_one_configuration_create_one_agent(
    dev_env: WorkflowEnvironment,
) -> None:
    async with live_stack(dev_env.client, time_scale=0.02) as stack:
        requests = [
            call_request(agent_id=None, agent=CONFIG, to_number=f"+1212555{4000 + i:04d}")
            for i in range(CONCURRENT_CALLS)
        ]
        handles = await asyncio.gather(
            *(start_call(dev_env.client, r, task_queue=stack.task_queue) for r in requests)
        )
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(h.result() for h in handles)), timeout=180
        )
        # A later call, after the provisioning finished, reuses the agent too.
        later = await start_call(
            dev_env.client,
            call_request(agent_id=None, agent=CONFIG, to_number="+12125554999"),
            task_queue=stack.task_queue,
        )
        assert (await later.result()).status == OutcomeStatus.COMPLETED
        async with httpx.AsyncClient(base_url=stack.sim.base_url) as http:
            agents = (await http.get("/_sim/agents")).json()
        calls = await stack.sim.calls()
    assert [o.status for o in outcomes] == [OutcomeStatus.COMPLETED] * CONCURRENT_CALLS
    assert len(agents) == 1
    agent = agents[0]
    assert agent["agent_name"] == agent_name_for(CONFIG)
    assert agent["language"] == "en-US"
    assert agent["response_engine"] == CONFIG.response_engine
    assert len(calls) == CONCURRENT_CALLS + 1  # and the later one
    assert {c["agent_id"] for c in calls} == {agent["agent_id"]}


async def test_agents_we_create_send_their_webhooks_to_bridge_public_url(
    dev_env: WorkflowEnvironment,
) -> None:
    """The simulator has no account-level webhook: only the agent's own webhook_url (from
    BRIDGE_PUBLIC_URL) brings the call's events to the bridge, as at Retell."""
    config = CONFIG.model_copy(update={"agent_name": "webhooked"})
    bridge_app = create_app(BridgeSettings(retell_api_key=SIM_KEY), client=dev_env.client)
    settings = SimulatorSettings(simulator_time_scale=0.02, simulator_webhook_url=None)
    async with (
        serve_asgi_app(bridge_app) as bridge,
        running_simulator(settings) as sim,
        call_worker(dev_env.client, sim.base_url, bridge_public_url=bridge.base_url + "/") as queue,
        httpx.AsyncClient(base_url=sim.base_url) as http,
    ):
        handle = await start_call(
            dev_env.client, call_request(agent_id=None, agent=config), task_queue=queue
        )
        outcome = await asyncio.wait_for(handle.result(), timeout=60)
        agents = (await http.get("/_sim/agents")).json()
        polls = [r for r in (await http.get("/_sim/requests")).json() if "get-call" in r["path"]]
        hooks = (await http.get(f"/_sim/calls/{outcome.call_id}/webhooks")).json()
    assert outcome.status == OutcomeStatus.COMPLETED
    assert [a["webhook_url"] for a in agents] == [bridge.base_url + "/webhooks/retell"]
    assert {h["event"] for h in hooks if h["delivered"]} >= {"call_ended", "call_analyzed"}
    assert polls == []  # the webhooks carried the call, no poll was needed


async def test_an_agent_found_with_another_webhook_url_is_pointed_at_us(
    dev_env: WorkflowEnvironment,
) -> None:
    config = CONFIG.model_copy(update={"agent_name": "repointed"})
    ours = "https://calls.example.com/webhooks/retell"  # only stored: nothing is sent there
    async with (
        running_simulator(SimulatorSettings()) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as http,
        RetellClient(sim.base_url, SIM_KEY) as retell,
    ):
        # Made by an older deployment: same name, someone else's webhook.
        old = create_agent_body(config, "https://elsewhere.example.com/hook")
        headers = {"Authorization": f"Bearer {SIM_KEY}"}
        created = (await http.post("/create-agent", json=old, headers=headers)).json()
        activities = AgentActivities(dev_env.client, retell, task_queue="unused", webhook_url=ours)
        found = await ActivityEnvironment().run(activities.find_or_create_agent, config)
        agents = (await http.get("/_sim/agents")).json()
    assert found == created["agent_id"]
    assert [a["agent_id"] for a in agents] == [found]
    assert agents[0]["webhook_url"] == ours


def test_bridge_public_url_is_checked_and_names_the_webhook_path() -> None:
    from adapters.settings import RetellSettings
    from outbound_calls_client.names import WEBHOOK_PATH

    url = RetellSettings(bridge_public_url="https://calls.example.com/").agent_webhook_url()
    assert url == f"https://calls.example.com{WEBHOOK_PATH}"
    assert RetellSettings().agent_webhook_url() is None
    with pytest.raises(ValidationError, match="bridge_public_url"):
        RetellSettings(bridge_public_url="calls.example.com")
