"""Inbound calls through the simulator process: Retell's inbound webhook, then the call.

``python -m simulator`` runs as its own process; a small receiver on loopback plays both the
inbound webhook (it answers how to take the call) and the call webhooks' endpoint. The
signatures are checked with retell-sdk's verifier, the call objects with its strict client.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from retell import AsyncRetell
from retell.lib.webhook_auth import verify as retell_verify
from retell.types import CallListResponse, PhoneCallResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.settings import SimulatorSettings
from calls.signatures import SIGNATURE_HEADER
from simulator.server import running_simulator, serve_asgi_app
from stack.ports import LOOPBACK, free_port
from stack.processes import stop_process
from stack.waits import eventually, until_http_ok

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "inbound-api-key"
WEBHOOK_KEY = "inbound-webhook-key"
OUR_NUMBER = "+14155550100"
# The receiver answers by who calls (see Receiver.inbound).
RETURNING = "+12125550101"
SLOW = "+12125550102"
MALFORMED = "+12125550103"
REFUSED = "+12125550104"
DNC_CALLER = "+12125550105"

ANSWER = {
    "call_inbound": {
        "override_agent_id": "agent_returned",
        "dynamic_variables": {"campaign_id": "spring", "last_attempt_at": "2031-05-06T10:00Z"},
        "metadata": {"returned_call": "yes"},
    }
}


@dataclass
class Receiver:
    inbound_url: str = ""
    events_url: str = ""
    # (raw body, whether the SDK verified its signature) of every inbound webhook
    inbound_bodies: list[tuple[bytes, bool]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    async def inbound(self, request: Request) -> Response:
        raw = await request.body()
        signature = request.headers.get(SIGNATURE_HEADER, "")
        self.inbound_bodies.append((raw, bool(retell_verify(raw.decode(), WEBHOOK_KEY, signature))))
        caller = json.loads(raw)["call_inbound"]["from_number"]
        if caller == SLOW and sum(1 for b, _ in self.inbound_bodies if SLOW.encode() in b) == 1:
            await asyncio.sleep(2.0)  # past the simulator's (scaled) 0.5 s per try
        if caller == MALFORMED:
            return JSONResponse({"call_inbound": {"dynamic_variables": {"campaign_id": 7}}})
        if caller == REFUSED:
            return Response(status_code=500)
        return JSONResponse(ANSWER)

    async def event(self, request: Request) -> Response:
        self.events.append(json.loads(await request.body()))
        return Response(status_code=204)

    def events_of(self, call_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["call"]["call_id"] == call_id]


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = Starlette(
        routes=[
            Route("/inbound", found.inbound, methods=["POST"]),
            Route("/events", found.event, methods=["POST"]),
        ]
    )
    async with serve_asgi_app(app) as served:
        found.inbound_url = f"{served.base_url}/inbound"
        found.events_url = f"{served.base_url}/events"
        yield found


@pytest.fixture(scope="module")
async def simulator_url(
    receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """``python -m simulator`` with only its own settings (no .env, none of the shell's)."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "OUTBOUND_CALLS_ENV_FILE": "",
        "RETELL_API_KEY": API_KEY,
        "RETELL_WEBHOOK_KEY": WEBHOOK_KEY,
        "SIMULATOR_HOST": LOOPBACK,
        "SIMULATOR_PORT": str(port),
        "SIMULATOR_WEBHOOK_URL": receiver.events_url,
        "SIMULATOR_INBOUND_WEBHOOK_URL": receiver.inbound_url,
        "SIMULATOR_TIME_SCALE": "0.01",
    }
    log = (tmp_path_factory.mktemp("simulator") / "simulator.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulator", cwd=ROOT, env=env, stdout=log, stderr=log
    )
    url = f"http://{LOOPBACK}:{port}"
    try:

        def alive() -> None:
            if proc.returncode is not None:
                raise RuntimeError(f"the simulator exited with {proc.returncode}")

        async with asyncio.timeout(30):
            await until_http_ok(f"{url}/_sim/healthz", alive=alive)
        yield url
    finally:
        await stop_process(proc)
        log.close()


@pytest.fixture
async def admin(simulator_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=simulator_url, trust_env=False, timeout=30) as http:
        yield http


@pytest.fixture
async def retell(simulator_url: str) -> AsyncIterator[AsyncRetell]:
    async with (
        httpx.AsyncClient(trust_env=False) as http,
        AsyncRetell(
            api_key=API_KEY,
            base_url=simulator_url,
            max_retries=0,
            http_client=http,
            _strict_response_validation=True,
        ) as client,
    ):
        yield client


async def analysed(retell: AsyncRetell, call_id: str) -> PhoneCallResponse:
    async def probe() -> PhoneCallResponse | None:
        call = await retell.call.retrieve(call_id)
        assert isinstance(call, PhoneCallResponse)
        return call if call.call_analysis is not None else None

    return await eventually(probe, what=f"inbound call {call_id} analysed")


async def test_the_inbound_webhook_shapes_an_inbound_call(
    admin: httpx.AsyncClient, retell: AsyncRetell, receiver: Receiver
) -> None:
    answer = await admin.post(
        "/_sim/inbound-call",
        json={"from_number": RETURNING, "to_number": OUR_NUMBER, "agent_id": "agent_inbound"},
    )
    assert answer.status_code == 201, answer.text
    call = answer.json()["call"]
    exchange = answer.json()["inbound_webhook"]
    # What Retell sends before the call connects, signed with the webhook key.
    mine = [(b, ok) for b, ok in receiver.inbound_bodies if RETURNING.encode() in b]
    assert len(mine) == 1
    body, verified = mine[0]
    assert verified
    assert json.loads(body) == {
        "event": "call_inbound",
        "call_inbound": {
            "agent_id": "agent_inbound",
            "from_number": RETURNING,
            "to_number": OUR_NUMBER,
            "call_id": call["call_id"],
        },
    }
    assert exchange["delivered"] is True
    assert exchange["answer_error"] is None
    assert exchange["answer"] == ANSWER["call_inbound"]
    assert [a["status_code"] for a in exchange["attempts"]] == [200]

    # The call the answer shaped, inbound, with the answer's agent, variables and metadata.
    played = await analysed(retell, call["call_id"])
    assert played.direction == "inbound"
    assert (played.from_number, played.to_number) == (RETURNING, OUR_NUMBER)
    assert played.agent_id == "agent_returned"
    assert played.retell_llm_dynamic_variables == ANSWER["call_inbound"]["dynamic_variables"]
    assert played.metadata == {"returned_call": "yes"}
    assert played.disconnection_reason == "user_hangup"

    # A delivery the receiver answered too late for the simulator is sent again, as Retell
    # does: the same event twice is a retry, so events are counted once each.
    def kinds() -> list[str]:
        return list(dict.fromkeys(e["event"] for e in receiver.events_of(call["call_id"])))

    async def three_events() -> bool:
        return len(kinds()) == 3

    await eventually(three_events, timeout_s=30, what="the inbound call's three events")
    events = receiver.events_of(call["call_id"])
    assert kinds() == ["call_started", "call_ended", "call_analyzed"]
    assert {e["call"]["direction"] for e in events} == {"inbound"}

    listed = await retell.call.list(
        filter_criteria={"direction": {"type": "enum", "op": "in", "value": ["inbound"]}},
        limit=100,
    )
    assert isinstance(listed, CallListResponse)
    assert call["call_id"] in {c.call_id for c in listed.items}
    records = (await admin.get("/_sim/inbound-calls")).json()
    assert [r["call_id"] for r in records if RETURNING in r["body"]] == [call["call_id"]]


async def test_a_slow_inbound_webhook_is_retried_within_its_time(
    admin: httpx.AsyncClient, retell: AsyncRetell
) -> None:
    answer = await admin.post(
        "/_sim/inbound-call", json={"from_number": SLOW, "to_number": OUR_NUMBER}
    )
    exchange = answer.json()["inbound_webhook"]
    assert [(a["status_code"], a["error"]) for a in exchange["attempts"]] == [
        (None, "timeout"),
        (200, None),
    ]
    assert exchange["attempts"][0]["elapsed_ms"] < 1500
    played = await analysed(retell, answer.json()["call"]["call_id"])
    assert played.agent_id == "agent_returned"


async def test_a_failed_or_malformed_answer_leaves_the_call_to_the_numbers_agent(
    admin: httpx.AsyncClient, retell: AsyncRetell
) -> None:
    malformed = await admin.post(
        "/_sim/inbound-call",
        json={"from_number": MALFORMED, "to_number": OUR_NUMBER, "agent_id": "agent_inbound"},
    )
    exchange = malformed.json()["inbound_webhook"]
    assert exchange["delivered"] is True
    assert exchange["answer_error"].startswith("call_inbound.dynamic_variables.campaign_id:")
    played = await analysed(retell, malformed.json()["call"]["call_id"])
    assert played.agent_id == "agent_inbound"
    assert played.retell_llm_dynamic_variables is None

    refused = await admin.post(
        "/_sim/inbound-call", json={"from_number": REFUSED, "to_number": OUR_NUMBER}
    )
    exchange = refused.json()["inbound_webhook"]
    assert exchange["delivered"] is False
    assert [a["status_code"] for a in exchange["attempts"]] == [500, 500, 500, 500]
    assert refused.json()["call"]["agent_id"] == "agent_simulator"


async def test_an_inbound_caller_asking_for_no_calls_is_listed(
    admin: httpx.AsyncClient, retell: AsyncRetell
) -> None:
    answer = await admin.post(
        "/_sim/inbound-call",
        json={"from_number": DNC_CALLER, "to_number": OUR_NUMBER, "scenario": "dnc_requested"},
    )
    await analysed(retell, answer.json()["call"]["call_id"])
    listed = (await admin.get("/_sim/dnc")).json()
    assert DNC_CALLER in listed
    assert OUR_NUMBER not in listed


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"from_number": "+1555", "to_number": OUR_NUMBER}, "from_number: must be a valid"),
        ({"from_number": RETURNING}, "to_number: Field required"),
        (
            {"from_number": RETURNING, "to_number": OUR_NUMBER, "scenario": "nope"},
            "scenario: unknown scenario",
        ),
        (
            {"from_number": RETURNING, "to_number": OUR_NUMBER, "scenario": "rate_limited"},
            "scenario: rate_limited is about create requests",
        ),
        (
            {"from_number": RETURNING, "to_number": OUR_NUMBER, "metadata": {}},
            "metadata: Extra inputs are not permitted",
        ),
    ],
)
async def test_bad_inbound_requests_name_the_field(
    admin: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    answer = await admin.post("/_sim/inbound-call", json=body)
    assert answer.status_code == 400
    assert answer.json()["message"].startswith(message), answer.json()


async def test_without_an_inbound_webhook_the_numbers_agent_takes_the_call() -> None:
    settings = SimulatorSettings(retell_api_key=API_KEY, simulator_time_scale=0.01)
    async with (
        running_simulator(settings) as sim,
        httpx.AsyncClient(base_url=sim.base_url, trust_env=False) as http,
    ):
        answer = await http.post(
            "/_sim/inbound-call", json={"from_number": RETURNING, "to_number": OUR_NUMBER}
        )
        assert answer.status_code == 201
        assert answer.json()["inbound_webhook"]["suppressed_reason"] == "no_inbound_webhook_url"
        assert answer.json()["call"]["direction"] == "inbound"
        assert answer.json()["call"]["agent_id"] == "agent_simulator"
