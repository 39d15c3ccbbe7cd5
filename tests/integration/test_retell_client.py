"""The Retell client against the simulator over loopback: answers parsed, failures classified."""

from __future__ import annotations

import socket

import httpx
import pytest

from adapters.retell_client import (
    RetellAccountProblem,
    RetellCallNotFound,
    RetellClient,
    RetellDoNotCall,
    RetellRateLimited,
    RetellRequestRejected,
    RetellUnavailable,
)
from tests.helpers.call_harness import FROM_NUMBER, SIM_KEY, TO_NUMBER, SimulatorAdmin


def _body(scenario: str = "answered", key: str = "wf:1") -> dict[str, object]:
    return {
        "from_number": FROM_NUMBER,
        "to_number": TO_NUMBER,
        "metadata": {"simulator_scenario": scenario, "idempotency_key": key},
        "idempotency_key": key,
    }


async def test_create_get_list_and_stop(sim: SimulatorAdmin) -> None:
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        created = await client.create_phone_call(_body("hangs_ongoing"))
        assert created.call_status == "registered"
        assert created.idempotency_key == "wf:1"
        assert (await client.get_call(created.call_id)).call_id == created.call_id
        found = await client.list_calls_by_metadata("idempotency_key", "wf:1")
        assert [c.call_id for c in found] == [created.call_id]
        assert await client.list_calls_by_metadata("idempotency_key", "wf:2") == []
        await client.stop_call(created.call_id)


async def test_bad_key_is_a_rejection_that_never_shows_the_key(sim: SimulatorAdmin) -> None:
    async with RetellClient(sim.base_url, "secret-wrong-key") as client:
        with pytest.raises(RetellAccountProblem) as info:
            await client.create_phone_call(_body())
    assert info.value.status_code == 401
    assert not info.value.retryable
    assert "secret-wrong-key" not in str(info.value)


async def test_rate_limit_carries_retry_after(sim: SimulatorAdmin) -> None:
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        with pytest.raises(RetellRateLimited) as info:
            await client.create_phone_call(_body("rate_limited"))
    assert info.value.retry_after_s == 1.0


async def test_server_error_is_retryable(sim: SimulatorAdmin) -> None:
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        with pytest.raises(RetellUnavailable) as info:
            await client.create_phone_call(_body("server_errors"))
    assert info.value.status_code == 500
    assert info.value.retryable


async def test_unknown_call_and_bad_number_are_rejections(sim: SimulatorAdmin) -> None:
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        with pytest.raises(RetellCallNotFound) as missing:
            await client.get_call("call_nope")
        assert missing.value.status_code == 422
        assert "call not found" in str(missing.value)  # Retell's "message" is read
        with pytest.raises(RetellCallNotFound):
            await client.stop_call("call_nope")
        with pytest.raises(RetellRequestRejected) as bad:
            await client.create_phone_call({**_body(), "to_number": "+1415555"})
    assert bad.value.status_code == 400
    assert "to_number" in str(bad.value)
    assert "+1415555" not in str(bad.value)


async def test_timeouts_and_refused_connections_are_retryable(sim: SimulatorAdmin) -> None:
    async with RetellClient(sim.base_url, SIM_KEY, create_timeout_s=0.2) as client:
        body = _body("lost_response")
        body["metadata"] = {"simulator_scenario": "lost_response", "simulator_hold_s": "2"}
        with pytest.raises(RetellUnavailable, match="timed out"):
            await client.create_phone_call(body)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with RetellClient(dead, SIM_KEY) as client:
        with pytest.raises(RetellUnavailable, match="connection failed"):
            await client.get_call("call_x")


@pytest.mark.parametrize(("scenario", "status"), [("trial_ended", 402), ("forbidden", 403)])
async def test_billing_and_permission_refusals_are_account_problems(
    sim: SimulatorAdmin, scenario: str, status: int
) -> None:
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        with pytest.raises(RetellAccountProblem) as info:
            await client.create_phone_call(_body(scenario))
    assert info.value.status_code == status
    assert not info.value.retryable
    if status == 402:
        assert "Trial has ended" in str(info.value)


async def test_lock_conflict_and_request_timeout_are_retryable(sim: SimulatorAdmin) -> None:
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        statuses = []
        for _ in range(2):  # "conflicts" answers 409, then 408, then creates the call
            with pytest.raises(RetellUnavailable) as info:
                await client.create_phone_call(_body("conflicts"))
            assert info.value.retryable
            statuses.append(info.value.status_code)
        created = await client.create_phone_call(_body("conflicts"))
    assert statuses == [409, 408]
    assert created.call_id


async def test_do_not_call_refusal_is_its_own_rejection(sim: SimulatorAdmin) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as admin:
        (await admin.post("/_sim/dnc", json={"number": TO_NUMBER})).raise_for_status()
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        with pytest.raises(RetellDoNotCall) as info:
            await client.create_phone_call({**_body(), "honor_internal_dnc": True})
        # Any other 400 stays a plain rejection.
        with pytest.raises(RetellRequestRejected) as bad:
            await client.create_phone_call(
                {**_body(), "to_number": "+1415555", "honor_internal_dnc": True}
            )
    assert info.value.status_code == 400
    assert not info.value.retryable
    assert type(bad.value) is RetellRequestRejected


async def test_concurrency_and_agents_are_read(sim: SimulatorAdmin) -> None:
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        await client.create_phone_call(_body("hangs_ongoing"))
        concurrency = await client.get_concurrency()
        agent_id = await client.create_agent(
            {
                "voice_id": "11labs-Adrian",
                "response_engine": {"type": "retell-llm", "llm_id": "llm_x"},
                "webhook_url": "https://calls.example.com/webhooks/retell",
            }
        )
        agent = await client.get_agent(agent_id)
        with pytest.raises(RetellRequestRejected) as missing:
            await client.get_agent("agent_missing")
    assert concurrency["current_concurrency"] == 1
    assert concurrency["concurrency_limit"] == 20
    assert agent["webhook_url"] == "https://calls.example.com/webhooks/retell"
    assert missing.value.status_code == 404


async def test_create_and_list_calls_have_retell_sdks_own_timeouts(sim: SimulatorAdmin) -> None:
    """retell-sdk gives create 120 s and list-calls 300 s: a slow create is not a lost one."""
    async with RetellClient(
        sim.base_url, SIM_KEY, read_timeout_s=0.2, create_timeout_s=5.0
    ) as client:
        body = _body("lost_response")
        body["metadata"] = {"simulator_scenario": "lost_response", "simulator_hold_s": "1"}
        created = await client.create_phone_call(body)  # held 1 s, past the read timeout
    assert created.call_id
