"""The Retell simulator over real HTTP on loopback, with a real webhook receiver."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.settings import SimulatorSettings
from calls.signatures import SIGNATURE_HEADER, verify_retell_signature
from simulator.server import RunningSimulator, running_simulator, serve_asgi_app
from stack.waits import eventually

API_KEY = "test-simulator-key"
WEBHOOK_KEY = "test-webhook-key"
TIME_SCALE = 0.01
FROM = "+14155550100"
TO = "+14155550171"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ALL_EVENTS = ["call_started", "call_ended", "call_analyzed"]
NOT_CONNECTED_EVENTS = ["call_ended", "call_analyzed"]


@dataclass(frozen=True)
class Delivery:
    event: str
    call: dict[str, Any]
    body: bytes
    signature: str | None
    status: int


# (payload, how many times this (call_id, event) arrived so far) -> status to answer
Responder = Callable[[dict[str, Any], int], Awaitable[int]]


class WebhookReceiver:
    """Collects every POST; a test may set ``responder`` to fail or slow some of them."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.responder: Responder | None = None
        self._seen: Counter[tuple[str, str]] = Counter()
        self.app = Starlette(routes=[Route("/webhooks/retell", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        payload = json.loads(body)
        key = (payload["call"]["call_id"], payload["event"])
        self._seen[key] += 1
        responder = self.responder
        status = 204 if responder is None else await responder(payload, self._seen[key])
        self.deliveries.append(
            Delivery(
                payload["event"],
                payload["call"],
                body,
                request.headers.get(SIGNATURE_HEADER),
                status,
            )
        )
        return Response(status_code=status)

    def for_call(self, call_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.call["call_id"] == call_id]

    def accepted(self, call_id: str) -> list[Delivery]:
        return [d for d in self.for_call(call_id) if 200 <= d.status < 300]

    def reset(self) -> None:
        self.deliveries.clear()
        self._seen.clear()
        self.responder = None


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[tuple[WebhookReceiver, str]]:
    rx = WebhookReceiver()
    async with serve_asgi_app(rx.app) as served:
        yield rx, f"{served.base_url}/webhooks/retell"


@pytest.fixture(scope="module")
async def sim(receiver: tuple[WebhookReceiver, str]) -> AsyncIterator[RunningSimulator]:
    settings = SimulatorSettings(
        retell_api_key=API_KEY,
        retell_webhook_key=WEBHOOK_KEY,
        simulator_webhook_url=receiver[1],
        simulator_time_scale=TIME_SCALE,
    )
    async with running_simulator(settings) as running:
        yield running


@pytest.fixture
async def rx(receiver: tuple[WebhookReceiver, str]) -> WebhookReceiver:
    receiver[0].reset()
    return receiver[0]


@pytest.fixture
async def client(sim: RunningSimulator, rx: WebhookReceiver) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH, trust_env=False) as http:
        assert (await http.post("/_sim/reset")).status_code == 204
        yield http


def call_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"from_number": FROM, "to_number": TO}
    body.update(overrides)
    return body


def scenario(name: str, **extra: str) -> dict[str, str]:
    return {"simulator_scenario": name, **extra}


async def create(http: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await http.post("/v2/create-phone-call", json=call_body(**overrides))
    assert response.status_code == 201, response.text
    call: dict[str, Any] = response.json()
    return call


async def webhook_records(http: httpx.AsyncClient, call_id: str) -> list[dict[str, Any]]:
    response = await http.get(f"/_sim/calls/{call_id}/webhooks")
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()
    return records


async def settled(http: httpx.AsyncClient, call_id: str, count: int) -> list[dict[str, Any]]:
    """Wait until the call produced ``count`` deliveries and none is still being tried."""
    records: list[dict[str, Any]] = []

    async def done() -> bool:
        nonlocal records
        records = await webhook_records(http, call_id)
        return len(records) == count and all(
            r["delivered"] or r["suppressed"] or len(r["attempts"]) == 4 for r in records
        )

    await eventually(done)
    return records


async def get_call(http: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    response = await http.get(f"/v2/get-call/{call_id}")
    assert response.status_code == 200, response.text
    call: dict[str, Any] = response.json()
    return call


async def sim_calls(http: httpx.AsyncClient, to_number: str = TO) -> list[dict[str, Any]]:
    response = await http.get("/_sim/calls", params={"to_number": to_number})
    calls: list[dict[str, Any]] = response.json()
    return calls


# -- auth, validation, shape ----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_KEY}"}],
    ids=["missing", "wrong-key", "wrong-scheme"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/create-phone-call"),
        ("GET", "/v2/get-call/call_x"),
        ("POST", "/v2/stop-call/call_x"),
        ("POST", "/v3/list-calls"),
    ],
)
async def test_api_needs_the_bearer_key(
    client: httpx.AsyncClient, headers: dict[str, str], method: str, path: str
) -> None:
    response = await client.request(
        method, path, json=call_body(), headers={"Authorization": "", **headers}
    )
    assert response.status_code == 401
    assert response.json()["message"]
    assert API_KEY not in response.text
    assert await sim_calls(client) == []


async def test_unknown_paths_answer_404(client: httpx.AsyncClient) -> None:
    for path in ("/v2/nope", "/docs", "/openapi.json"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["status"] == "error"
        assert response.json()["message"]
    # Retell answers get-call of an unknown id with 422; stop-call with 404.
    assert (await client.get("/v2/get-call/call_unknown")).status_code == 422
    assert (await client.post("/v2/stop-call/call_unknown")).status_code == 404
    assert (await client.get("/_sim/calls/call_unknown/webhooks")).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"to_number": "4155550171"}, "to_number"),
        ({"to_number": "+1 415 555 0171"}, "to_number"),
        ({"to_number": "+99912345678"}, "to_number"),
        ({"to_number": "+1415555017"}, "to_number"),
        ({"to_number": None}, "to_number"),
        ({"from_number": "+1555"}, "from_number"),
        ({"metadata": "not-an-object"}, "metadata"),
        ({"retell_llm_dynamic_variables": {"n": 1}}, "retell_llm_dynamic_variables"),
        ({"metadata": scenario("no_such_scenario")}, "metadata.simulator_scenario"),
        ({"metadata": scenario("answered", simulator_talk_ms="soon")}, "simulator_talk_ms"),
    ],
)
async def test_create_rejects_bad_fields_naming_them(
    client: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    response = await client.post("/v2/create-phone-call", json=call_body(**overrides))
    assert response.status_code == 400
    assert field in response.json()["message"]
    assert (await client.get("/_sim/calls")).json() == []


async def test_create_rejects_a_body_that_is_not_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v2/create-phone-call", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "body" in response.json()["message"]


@pytest.mark.parametrize("number", ["+447911123456", "+33612345678", "+81312345678"])
async def test_create_accepts_valid_numbers_of_any_country(
    client: httpx.AsyncClient, number: str
) -> None:
    call = await create(client, to_number=number)
    assert call["to_number"] == number


async def test_create_answers_the_call_object(client: httpx.AsyncClient) -> None:
    call = await create(
        client,
        override_agent_id="agent_123",
        override_agent_version=4,
        metadata={"wf": "wf-1", "nested": {"a": [1, 2]}, "simulator_ring_ms": "60000"},
        retell_llm_dynamic_variables={"name": "Zoë"},
        custom_sip_headers={"X-Campaign": "c1"},
        some_future_field={"ignored": True},
    )
    assert re.fullmatch(r"call_[0-9a-f]{32}", call["call_id"])
    assert call["call_type"] == "phone_call"
    assert call["call_status"] == "registered"
    assert call["direction"] == "outbound"
    assert (call["agent_id"], call["agent_version"]) == ("agent_123", 4)
    assert (call["from_number"], call["to_number"]) == (FROM, TO)
    assert call["metadata"] == {"wf": "wf-1", "nested": {"a": [1, 2]}, "simulator_ring_ms": "60000"}
    assert call["retell_llm_dynamic_variables"] == {"name": "Zoë"}
    assert call["custom_sip_headers"] == {"X-Campaign": "c1"}
    assert "some_future_field" not in call
    assert "end_timestamp" not in call
    assert "call_analysis" not in call
    assert await get_call(client, call["call_id"]) == call
    await client.post(f"/v2/stop-call/{call['call_id']}")


# -- scenarios and their webhooks -----------------------------------------------------


def assert_signed(delivery: Delivery) -> None:
    verify_retell_signature(WEBHOOK_KEY, delivery.body, delivery.signature)


@pytest.mark.parametrize(
    ("name", "reason", "successful", "voicemail"),
    [
        (None, "user_hangup", True, False),
        ("answered", "user_hangup", True, False),
        ("voicemail", "voicemail_reached", False, True),
        ("dnc_requested", "user_requested_dnc", False, False),
        ("callback_requested", "user_requested_callback", False, False),
    ],
)
async def test_connected_scenarios_send_started_ended_analyzed(
    client: httpx.AsyncClient,
    rx: WebhookReceiver,
    name: str | None,
    reason: str,
    successful: bool,
    voicemail: bool,
) -> None:
    call = await create(client, metadata=None if name is None else scenario(name))
    records = await settled(client, call["call_id"], 3)
    got = rx.for_call(call["call_id"])
    assert [d.event for d in got] == ALL_EVENTS
    for delivery, record in zip(got, records, strict=True):
        assert_signed(delivery)
        assert delivery.body.decode() == record["body"]
    started, ended, analyzed = (d.call for d in got)
    assert started["call_status"] == "ongoing"
    assert "start_timestamp" in started
    assert "disconnection_reason" not in started
    assert ended["call_status"] == "ended"
    assert ended["disconnection_reason"] == reason
    assert ended["end_timestamp"] >= ended["start_timestamp"]
    assert ended["duration_ms"] == ended["end_timestamp"] - ended["start_timestamp"]
    assert ended["transcript"]
    assert "call_analysis" not in ended
    analysis = analyzed["call_analysis"]
    assert analysis["call_successful"] is successful
    assert analysis["in_voicemail"] is voicemail
    assert analysis["call_summary"]
    assert analysis["user_sentiment"] in {"Negative", "Positive", "Neutral", "Unknown"}
    assert await get_call(client, call["call_id"]) == analyzed


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("no_answer", "dial_no_answer"),
        ("busy", "dial_busy"),
        ("dial_failed", "dial_failed"),
        ("invalid_destination", "invalid_destination"),
        ("account_problem", "credit_exhausted"),
    ],
)
async def test_calls_that_never_connect_get_no_call_started(
    client: httpx.AsyncClient, rx: WebhookReceiver, name: str, reason: str
) -> None:
    call = await create(client, metadata=scenario(name))
    await settled(client, call["call_id"], 2)
    got = rx.for_call(call["call_id"])
    assert [d.event for d in got] == NOT_CONNECTED_EVENTS
    for delivery in got:
        assert_signed(delivery)
    ended, analyzed = (d.call for d in got)
    assert ended["call_status"] == "ended"
    assert ended["disconnection_reason"] == reason
    assert "start_timestamp" not in ended
    assert ended["duration_ms"] == 0
    assert analyzed["call_analysis"]["call_successful"] is False


async def test_duplicate_webhooks_arrive_three_times_each_in_order(
    client: httpx.AsyncClient, rx: WebhookReceiver
) -> None:
    call = await create(client, metadata=scenario("duplicate_webhooks"))
    records = await settled(client, call["call_id"], 9)
    events = [d.event for d in rx.for_call(call["call_id"])]
    assert events == [e for e in ALL_EVENTS for _ in range(3)]
    assert [r["copy"] for r in records] == [1, 2, 3] * 3
    # The copies of one event are the same bytes: a receiver can only dedupe on content.
    assert len({d.body for d in rx.for_call(call["call_id"])}) == 3


async def test_out_of_order_sends_newest_first_after_the_analysis(
    client: httpx.AsyncClient, rx: WebhookReceiver
) -> None:
    call = await create(client, metadata=scenario("out_of_order"))
    await settled(client, call["call_id"], 3)
    got = rx.for_call(call["call_id"])
    assert [d.event for d in got] == list(reversed(ALL_EVENTS))
    analyzed, ended, started = (d.call for d in got)
    assert "call_analysis" in analyzed
    assert ended["disconnection_reason"] == "user_hangup"
    assert "call_analysis" not in ended
    assert started["call_status"] == "ongoing"


async def test_webhooks_lost_plays_the_call_but_delivers_nothing(
    client: httpx.AsyncClient, rx: WebhookReceiver
) -> None:
    call = await create(
        client,
        metadata=scenario("webhooks_lost", simulator_ring_ms="150", simulator_talk_ms="150"),
    )
    seen: list[str] = []

    async def analysed() -> bool:
        status = (await get_call(client, call["call_id"]))["call_status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        return "call_analysis" in await get_call(client, call["call_id"])

    await eventually(analysed)
    assert seen[:3] == ["registered", "ongoing", "ended"]
    records = await settled(client, call["call_id"], 3)
    assert [r["event"] for r in records] == ALL_EVENTS
    assert all(r["suppressed"] and r["attempts"] == [] for r in records)
    assert {r["suppressed_reason"] for r in records} == {"webhooks_lost"}
    await asyncio.sleep(0.05)
    assert rx.for_call(call["call_id"]) == []


async def test_a_failed_delivery_is_retried(client: httpx.AsyncClient, rx: WebhookReceiver) -> None:
    async def fail_first_start(payload: dict[str, Any], nth: int) -> int:
        return 500 if payload["event"] == "call_started" and nth == 1 else 204

    rx.responder = fail_first_start
    call = await create(client)
    records = await settled(client, call["call_id"], 3)
    assert [d.event for d in rx.for_call(call["call_id"])] == ["call_started", *ALL_EVENTS]
    assert [a["status_code"] for a in records[0]["attempts"]] == [500, 204]
    assert all(r["delivered"] for r in records)
    # The retry is signed anew, over the same bytes.
    first, retry = rx.for_call(call["call_id"])[:2]
    assert first.body == retry.body
    assert_signed(retry)


async def test_delivery_gives_up_after_three_retries_and_goes_on(
    client: httpx.AsyncClient, rx: WebhookReceiver
) -> None:
    async def always_fail_start(payload: dict[str, Any], nth: int) -> int:
        return 503 if payload["event"] == "call_started" else 200

    rx.responder = always_fail_start
    call = await create(client)
    records = await settled(client, call["call_id"], 3)
    assert [a["status_code"] for a in records[0]["attempts"]] == [503] * 4
    assert records[0]["delivered"] is False
    assert [r["delivered"] for r in records[1:]] == [True, True]
    events = [d.event for d in rx.for_call(call["call_id"])]
    assert events == ["call_started"] * 4 + ["call_ended", "call_analyzed"]


async def test_a_slow_receiver_times_out_and_is_retried(
    client: httpx.AsyncClient, rx: WebhookReceiver
) -> None:
    async def slow_first_start(payload: dict[str, Any], nth: int) -> int:
        if payload["event"] == "call_started" and nth == 1:
            await asyncio.sleep(1.0)  # past the 0.5 s floor of the delivery timeout
        return 204

    rx.responder = slow_first_start
    call = await create(client)
    records = await settled(client, call["call_id"], 3)
    first, second = records[0]["attempts"]
    assert (first["status_code"], first["error"]) == (None, "timeout")
    assert second["status_code"] == 204
    assert 400 <= first["elapsed_ms"] < 900


async def test_one_calls_slow_webhooks_do_not_delay_another_call(
    client: httpx.AsyncClient, rx: WebhookReceiver
) -> None:
    async def slow_for_tagged(payload: dict[str, Any], nth: int) -> int:
        if (payload["call"].get("metadata") or {}).get("receiver") == "slow":
            await asyncio.sleep(0.25)
        return 204

    rx.responder = slow_for_tagged
    slow = await create(client, metadata={"receiver": "slow"})
    fast = await create(client)

    async def fast_done() -> bool:
        return [d.event for d in rx.accepted(fast["call_id"])] == ALL_EVENTS

    await eventually(fast_done)
    assert rx.accepted(slow["call_id"]) == []
    await settled(client, slow["call_id"], 3)
    assert [d.event for d in rx.accepted(slow["call_id"])] == ALL_EVENTS


async def test_without_a_webhook_url_events_are_only_recorded() -> None:
    settings = SimulatorSettings(retell_api_key=API_KEY, simulator_time_scale=TIME_SCALE)
    async with (
        running_simulator(settings) as quiet,
        httpx.AsyncClient(base_url=quiet.base_url, headers=AUTH, trust_env=False) as http,
    ):
        call = await create(http)
        records = await settled(http, call["call_id"], 3)
        assert [r["event"] for r in records] == ALL_EVENTS
        assert {r["suppressed_reason"] for r in records} == {"no_webhook_url"}


# -- idempotency and failing creates --------------------------------------------------


async def test_same_idempotency_key_returns_the_same_call(client: httpx.AsyncClient) -> None:
    first = await create(client, idempotency_key="wf-1:1")
    again = await create(client, idempotency_key="wf-1:1")
    other = await create(client, idempotency_key="wf-1:2")
    assert again["call_id"] == first["call_id"]
    assert other["call_id"] != first["call_id"]
    assert len(await sim_calls(client)) == 2

    forgotten = await client.post("/_sim/forget-idempotency")
    assert forgotten.json() == {"forgotten": 2}
    later = await create(client, idempotency_key="wf-1:1")
    assert later["call_id"] not in {first["call_id"], other["call_id"]}
    assert len(await sim_calls(client)) == 3


async def test_forget_one_idempotency_key(client: httpx.AsyncClient) -> None:
    a = await create(client, idempotency_key="a")
    b = await create(client, idempotency_key="b")
    await client.post("/_sim/forget-idempotency", params={"idempotency_key": "a"})
    assert (await create(client, idempotency_key="a"))["call_id"] != a["call_id"]
    assert (await create(client, idempotency_key="b"))["call_id"] == b["call_id"]


async def test_rate_limited_answers_429_then_creates(
    client: httpx.AsyncClient, rx: WebhookReceiver
) -> None:
    body = call_body(metadata=scenario("rate_limited"), idempotency_key="rl-1")
    limited = await client.post("/v2/create-phone-call", json=body)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["message"]
    assert await sim_calls(client) == []

    created = await client.post("/v2/create-phone-call", json=body)
    assert created.status_code == 201
    call_id = created.json()["call_id"]
    assert [c["call_id"] for c in await sim_calls(client)] == [call_id]
    await settled(client, call_id, 3)
    assert [d.event for d in rx.for_call(call_id)] == ALL_EVENTS


async def test_server_errors_answer_500_then_503_then_create(client: httpx.AsyncClient) -> None:
    body = call_body(metadata=scenario("server_errors"), idempotency_key="se-1")
    statuses = []
    for _ in range(3):
        response = await client.post("/v2/create-phone-call", json=body)
        statuses.append(response.status_code)
        if response.status_code != 201:
            assert await sim_calls(client) == []
    assert statuses == [500, 503, 201]
    assert len(await sim_calls(client)) == 1
    requests = (await client.get("/_sim/requests")).json()
    creates = [r for r in requests if r["path"] == "/v2/create-phone-call"]
    assert [r["status_code"] for r in creates] == [500, 503, 201]
    assert {r["idempotency_key"] for r in creates} == {"se-1"}


async def test_failures_count_per_request_without_a_key(client: httpx.AsyncClient) -> None:
    body = call_body(metadata=scenario("rate_limited"))
    other = call_body(metadata=scenario("rate_limited"), to_number="+14155550172")
    assert (await client.post("/v2/create-phone-call", json=body)).status_code == 429
    assert (await client.post("/v2/create-phone-call", json=other)).status_code == 429
    assert (await client.post("/v2/create-phone-call", json=body)).status_code == 201


async def test_lost_response_dials_and_a_retry_with_the_key_gets_the_same_call(
    sim: RunningSimulator, client: httpx.AsyncClient, rx: WebhookReceiver
) -> None:
    body = call_body(
        metadata=scenario("lost_response", simulator_hold_s="3"), idempotency_key="lost-1"
    )
    impatient = httpx.Timeout(5.0, read=0.2)
    async with httpx.AsyncClient(
        base_url=sim.base_url, headers=AUTH, timeout=impatient, trust_env=False
    ) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v2/create-phone-call", json=body)
        dialed = await sim_calls(client)
        assert len(dialed) == 1
        retry = await http.post("/v2/create-phone-call", json=body)
    assert retry.status_code == 201
    assert retry.json()["call_id"] == dialed[0]["call_id"]
    assert len(await sim_calls(client)) == 1
    await settled(client, dialed[0]["call_id"], 3)
    assert [d.event for d in rx.for_call(dialed[0]["call_id"])] == ALL_EVENTS
    requests = (await client.get("/_sim/requests")).json()
    creates = [r for r in requests if r["path"] == "/v2/create-phone-call"]
    # The first answer went nowhere: the client had given up, so the hold ended early.
    assert [r["status_code"] for r in creates] == [201, 201]
    assert {r["call_id"] for r in creates} == {dialed[0]["call_id"]}


async def test_lost_response_retried_without_a_key_dials_twice(
    sim: RunningSimulator, client: httpx.AsyncClient
) -> None:
    body = call_body(metadata=scenario("lost_response", simulator_hold_s="3"))
    async with httpx.AsyncClient(
        base_url=sim.base_url, headers=AUTH, timeout=httpx.Timeout(5.0, read=0.2), trust_env=False
    ) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v2/create-phone-call", json=body)
        assert (await http.post("/v2/create-phone-call", json=body)).status_code == 201
    assert len(await sim_calls(client)) == 2


async def test_lost_response_answer_arrives_after_the_hold(client: httpx.AsyncClient) -> None:
    body = call_body(metadata=scenario("lost_response", simulator_hold_s="0.3"))
    started = time.monotonic()
    response = await client.post("/v2/create-phone-call", json=body)
    assert response.status_code == 201
    assert time.monotonic() - started >= 0.3
    assert response.json()["call_status"] == "registered"


# -- stop-call, timing overrides, list-calls, do-not-call -----------------------------


async def test_hangs_ongoing_until_stop_call(
    client: httpx.AsyncClient, rx: WebhookReceiver
) -> None:
    call = await create(client, metadata=scenario("hangs_ongoing"))
    call_id = call["call_id"]

    async def started() -> bool:
        return [d.event for d in rx.accepted(call_id)] == ["call_started"]

    await eventually(started)
    await asyncio.sleep(0.2)  # 10x the scaled talk time
    assert (await get_call(client, call_id))["call_status"] == "ongoing"
    assert [d.event for d in rx.for_call(call_id)] == ["call_started"]

    stopped = await client.post(f"/v2/stop-call/{call_id}")
    assert stopped.status_code == 204
    ended = await get_call(client, call_id)
    assert ended["call_status"] == "ended"
    assert ended["disconnection_reason"] == "manual_stopped"
    await settled(client, call_id, 3)
    assert [d.event for d in rx.for_call(call_id)] == ALL_EVENTS
    assert (await client.post(f"/v2/stop-call/{call_id}")).status_code == 204
    assert len(rx.for_call(call_id)) == 3


async def test_stop_call_while_ringing_sends_no_call_started(
    client: httpx.AsyncClient, rx: WebhookReceiver
) -> None:
    call = await create(client, metadata={"simulator_ring_ms": "60000"})
    assert (await client.post(f"/v2/stop-call/{call['call_id']}")).status_code == 204
    await settled(client, call["call_id"], 2)
    got = rx.for_call(call["call_id"])
    assert [d.event for d in got] == NOT_CONNECTED_EVENTS
    assert got[0].call["disconnection_reason"] == "manual_stopped"


async def test_talk_time_override_keeps_one_call_ongoing(client: httpx.AsyncClient) -> None:
    long = await create(client, metadata={"simulator_talk_ms": "60000"})
    short = await create(client)

    async def short_ended() -> bool:
        status: str = (await get_call(client, short["call_id"]))["call_status"]
        return status == "ended"

    await eventually(short_ended)
    await asyncio.sleep(0.05)
    assert (await get_call(client, long["call_id"]))["call_status"] == "ongoing"
    await client.post(f"/v2/stop-call/{long['call_id']}")


async def list_calls(http: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post("/v3/list-calls", json=body)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def metadata_eq(key: str, value: str) -> dict[str, Any]:
    return {"metadata": [{"key": key, "op": "eq", "type": "string", "value": value}]}


async def test_list_calls_filters_by_metadata_and_pages(client: httpx.AsyncClient) -> None:
    a1 = await create(client, metadata={"campaign": "c1", "slot": "1"})
    a2 = await create(client, metadata={"campaign": "c1", "slot": "2"})
    b = await create(client, metadata={"campaign": "c2"})
    await create(client)

    page = await list_calls(client, {"filter_criteria": metadata_eq("campaign", "c1")})
    assert [c["call_id"] for c in page["items"]] == [a2["call_id"], a1["call_id"]]
    assert (page["has_more"], page["pagination_key"]) == (False, None)

    both = {"metadata": [*metadata_eq("campaign", "c1")["metadata"], {
        "key": "slot", "op": "eq", "type": "string", "value": "1"}]}  # fmt: skip
    page = await list_calls(client, {"filter_criteria": both})
    assert [c["call_id"] for c in page["items"]] == [a1["call_id"]]

    criteria = metadata_eq("campaign", "c2")
    page = await list_calls(client, {"filter_criteria": criteria, "limit": 10})
    assert [c["call_id"] for c in page["items"]] == [b["call_id"]]

    first = await list_calls(
        client,
        {
            "filter_criteria": metadata_eq("campaign", "c1"),
            "limit": 1,
            "sort_order": "ascending",
        },
    )
    assert [c["call_id"] for c in first["items"]] == [a1["call_id"]]
    assert first["has_more"] is True
    second = await list_calls(
        client,
        {
            "filter_criteria": metadata_eq("campaign", "c1"),
            "limit": 1,
            "sort_order": "ascending",
            "pagination_key": first["pagination_key"],
        },
    )
    assert [c["call_id"] for c in second["items"]] == [a2["call_id"]]
    assert (second["has_more"], second["pagination_key"]) == (False, None)

    everything = await list_calls(client, {"include_total": True})
    assert everything["total"] == len(everything["items"]) == 4


async def test_list_calls_filters_by_number(client: httpx.AsyncClient) -> None:
    mine = await create(client, to_number="+14155550199")
    await create(client)
    criteria = {"to_number": {"op": "eq", "type": "string", "value": "+14155550199"}}
    page = await list_calls(client, {"filter_criteria": criteria})
    assert [c["call_id"] for c in page["items"]] == [mine["call_id"]]


async def test_list_calls_rejects_criteria_it_does_not_understand(
    client: httpx.AsyncClient,
) -> None:
    for criteria in (
        {"tool_calls": [{"name": "x"}]},
        {"metadata": [{"key": "k", "op": "regex", "type": "string", "value": "v"}]},
        {"metadata": {"key": "k"}},
    ):
        response = await client.post("/v3/list-calls", json={"filter_criteria": criteria})
        assert response.status_code == 400
        assert "filter_criteria" in response.json()["message"]
    response = await client.post("/v3/list-calls", json={"limit": 0})
    assert response.status_code == 400
    assert "limit" in response.json()["message"]


async def test_honor_internal_dnc_after_a_dnc_request(client: httpx.AsyncClient) -> None:
    number = "+14155550142"
    call = await create(client, to_number=number, metadata=scenario("dnc_requested"))
    await settled(client, call["call_id"], 3)
    assert (await client.get("/_sim/dnc")).json() == [number]

    refused = await client.post(
        "/v2/create-phone-call", json=call_body(to_number=number, honor_internal_dnc=True)
    )
    assert refused.status_code == 400
    assert "to_number" in refused.json()["message"]
    assert len(await sim_calls(client, number)) == 1
    # Retell checks the list only when asked to.
    await create(client, to_number=number)
    await create(client, honor_internal_dnc=True)
    assert len(await sim_calls(client, number)) == 2


async def test_numbers_can_be_put_on_the_dnc_list(client: httpx.AsyncClient) -> None:
    await client.post("/_sim/dnc", json={"number": TO})
    refused = await client.post("/v2/create-phone-call", json=call_body(honor_internal_dnc=True))
    assert refused.status_code == 400


# -- records, reset, logs, entry point ------------------------------------------------


async def test_requests_are_recorded_without_credentials(client: httpx.AsyncClient) -> None:
    await client.post("/v2/create-phone-call", json=call_body(idempotency_key="k-1"))
    await client.get("/v2/get-call/call_missing")
    await client.post("/v3/list-calls", json={}, headers={"Authorization": "Bearer wrong"})
    await client.get("/_sim/calls")
    response = await client.get("/_sim/requests")
    records = response.json()
    assert [(r["method"], r["path"], r["status_code"]) for r in records] == [
        ("POST", "/v2/create-phone-call", 201),
        ("GET", "/v2/get-call/call_missing", 422),
        ("POST", "/v3/list-calls", 401),
    ]
    assert records[0]["idempotency_key"] == "k-1"
    assert API_KEY not in response.text
    assert "authorization" not in response.text.lower()


async def test_reset_forgets_everything(client: httpx.AsyncClient) -> None:
    await create(client, idempotency_key="r-1", metadata={"simulator_talk_ms": "60000"})
    await client.post("/_sim/dnc", json={"number": TO})
    assert (await client.post("/_sim/reset")).status_code == 204
    assert (await client.get("/_sim/calls")).json() == []
    assert (await client.get("/_sim/requests")).json() == []
    assert (await client.get("/_sim/dnc")).json() == []
    assert (await client.post("/_sim/forget-idempotency")).json() == {"forgotten": 0}


async def test_logs_mask_phone_numbers(client: httpx.AsyncClient) -> None:
    with structlog.testing.capture_logs() as logs:
        call = await create(client)
        await settled(client, call["call_id"], 3)
        await client.get("/_sim/calls", params={"to_number": TO})
    text = json.dumps(logs)
    assert TO not in text
    assert TO[1:] not in text
    assert "+1********71" in text
    assert API_KEY not in text
    assert any(entry["event"] == "request" for entry in logs)


def test_module_entry_point_has_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: python -m simulator" in result.stdout
    assert "SIMULATOR_WEBHOOK_URL" in result.stdout


@pytest.mark.parametrize(
    ("attempt", "reason"),
    [("1", "dial_no_answer"), ("2", "dial_busy"), ("3", "user_hangup"), ("9", "user_hangup")],
)
async def test_a_scenario_list_plays_one_step_per_attempt(
    client: httpx.AsyncClient, attempt: str, reason: str
) -> None:
    metadata = scenario("no_answer,busy,answered", temporal_attempt=attempt)
    call = await create(client, metadata=metadata)

    async def ended() -> bool:
        return (await get_call(client, call["call_id"])).get("disconnection_reason") == reason

    await eventually(ended)
