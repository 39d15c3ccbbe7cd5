"""Agents provisioned once per configuration, on the dev server with every part real."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from calls.agents import agent_fingerprint, agent_name_for
from calls.models import AgentConfig, OutcomeStatus
from calls.start import start_call
from tests.call_harness import call_request, live_stack

pytestmark = pytest.mark.integration

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


async def test_a_hundred_calls_with_one_configuration_create_one_agent(
    dev_env: WorkflowEnvironment,
) -> None:
    async with live_stack(dev_env.client, time_scale=0.02) as stack:
        requests = [
            call_request(agent_id=None, agent=CONFIG, to_number=f"+1212555{4000 + i:04d}")
            for i in range(100)
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
    assert [o.status for o in outcomes] == [OutcomeStatus.COMPLETED] * 100
    assert len(agents) == 1
    agent = agents[0]
    assert agent["agent_name"] == agent_name_for(CONFIG)
    assert agent["language"] == "en-US"
    assert agent["response_engine"] == CONFIG.response_engine
    assert len(calls) == 101
    assert {c["agent_id"] for c in calls} == {agent["agent_id"]}
