"""The codec server: decrypts what the workers encrypted, for the bearer of the token only,
and answers the Temporal UI's CORS preflight.

The payloads come from a recorded encrypted history (``tests/histories/<release>/encrypted/``):
what a real worker, bridge and client wrote, under the TEST-ONLY keys.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr

from adapters.logs import configure_logging, secret_values
from adapters.settings import CodecServerSettings
from codec_server.app import CodecServerConfigError, create_app
from outbound_calls_client.models import CallOutcome, CallRequest
from outbound_calls_client.names import CALL_EVENT_SIGNAL
from outbound_calls_client.retell_wire import CallEvent
from tests.histories.record import (
    ENCRYPTED_OUT,
    NEW_TEST_KEY_ID,
    OLD_TEST_KEY_ID,
    private_test_key_file,
)

TOKEN = "codec-test-token-7f3a-0123456789abcdef"
PREVIOUS_TOKEN = "codec-test-token-previous-0123456789"
UI_ORIGIN = "http://localhost:8233"
BASE_URL = "http://127.0.0.1:8234"


KEY_FILE = private_test_key_file()


def _settings(**fields: Any) -> CodecServerSettings:
    fields.setdefault("payload_key_file", KEY_FILE)
    fields.setdefault("codec_server_token", SecretStr(TOKEN))
    return CodecServerSettings(**fields)


def _history(name: str = "answered") -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ENCRYPTED_OUT / f"{name}.json").read_text())
    return document


def _event_payloads(history: dict[str, Any], attributes: str, field: str) -> list[dict[str, Any]]:
    """The encoded payloads of each event carrying ``attributes`` (as JSON: base64 values)."""
    found: list[dict[str, Any]] = []
    for event in history["events"]:
        if field in event.get(attributes, {}):  # a signal without arguments has no input
            found += event[attributes][field]["payloads"]
    return found


@pytest.fixture
async def codec() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(_settings()))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


@pytest.fixture
def codec_log() -> Iterator[io.StringIO]:
    """The codec server's log, through the production logging setup (then restored)."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_structlog = structlog.get_config()
    configure_logging(secrets=secret_values(_settings()), stream=stream)
    # No logger may keep this setup after the test (structlog.testing.capture_logs elsewhere).
    structlog.configure(cache_logger_on_first_use=False)
    yield stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    structlog.configure(**saved_structlog)


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Namespace": "default"}


def _decoded_data(answer: httpx.Response) -> list[bytes]:
    assert answer.status_code == 200, answer.text
    payloads = answer.json()["payloads"]
    for payload in payloads:
        assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
    return [base64.b64decode(p["data"]) for p in payloads]


async def test_decodes_what_the_worker_client_and_bridge_encrypted(
    codec: httpx.AsyncClient, codec_log: io.StringIO
) -> None:
    history = _history()
    started = _event_payloads(history, "workflowExecutionStartedEventAttributes", "input")
    webhooks = {
        "events": [
            e
            for e in history["events"]
            if e.get("workflowExecutionSignaledEventAttributes", {}).get("signalName")
            == CALL_EVENT_SIGNAL
        ]
    }
    # The webhooks' signals (a slot grant carries its ticket, not a call event).
    signals = _event_payloads(webhooks, "workflowExecutionSignaledEventAttributes", "input")
    result = _event_payloads(history, "workflowExecutionCompletedEventAttributes", "result")
    key_ids = {
        base64.b64decode(p["metadata"]["encryption-key-id"]).decode()
        for p in started + signals + result
    }
    assert key_ids == {OLD_TEST_KEY_ID, NEW_TEST_KEY_ID}  # the client's and the worker's key

    answer = await codec.post("/decode", json={"payloads": started + result}, headers=_auth())
    request_data, outcome_data = _decoded_data(answer)
    request = CallRequest.model_validate_json(request_data)
    assert request.to_number.startswith("+1212555")
    assert request.dynamic_variables == {"customer_name": "Ada"}
    assert CallOutcome.model_validate_json(outcome_data).status == "completed"
    events = [
        CallEvent.model_validate_json(data)
        for data in _decoded_data(
            await codec.post("/decode", json={"payloads": signals}, headers=_auth())
        )
    ]
    assert {e.event for e in events} >= {"call_started", "call_ended", "call_analyzed"}
    # What was decoded and with which token is nobody's business in the log.
    log = codec_log.getvalue()
    assert '"operation": "decode"' in log
    assert [s for s in (TOKEN, request.to_number, "Ada") if s in log] == []


async def test_encode_uses_the_current_key_and_decodes_back(codec: httpx.AsyncClient) -> None:
    plain = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(b'{"to_number": "+14155550123"}').decode(),
    }
    encoded = (await codec.post("/encode", json={"payloads": [plain]}, headers=_auth())).json()
    (payload,) = encoded["payloads"]
    assert base64.b64decode(payload["metadata"]["encryption-key-id"]).decode() == NEW_TEST_KEY_ID
    assert b"+1415" not in base64.b64decode(payload["data"])
    decoded = await codec.post("/decode", json=encoded, headers=_auth())
    assert decoded.json() == {"payloads": [plain]}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": TOKEN}, 401),  # no scheme
        ({"Authorization": f"Basic {TOKEN}"}, 401),
        ({"Authorization": "Bearer not-the-token"}, 403),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403),
    ],
)
async def test_refuses_without_the_right_token(
    codec: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    payloads = _event_payloads(_history(), "workflowExecutionStartedEventAttributes", "input")
    for path in ("/decode", "/encode"):
        answer = await codec.post(path, json={"payloads": payloads}, headers=headers)
        assert answer.status_code == status, path
        assert "payloads" not in answer.json()
        if status == 401:
            assert answer.headers["www-authenticate"] == "Bearer"


async def test_answers_the_ui_preflight_and_no_other_origin(codec: httpx.AsyncClient) -> None:
    preflight = {
        "Origin": UI_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    answer = await codec.options("/decode", headers=preflight)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == UI_ORIGIN
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "x-namespace"} <= set(allowed.split(", "))
    assert "POST" in answer.headers["access-control-allow-methods"]
    # The real request from the UI origin is readable by the UI (and still needs the token).
    payloads = _event_payloads(_history(), "workflowExecutionStartedEventAttributes", "input")
    ok = await codec.post(
        "/decode", json={"payloads": payloads}, headers={**_auth(), "Origin": UI_ORIGIN}
    )
    assert ok.headers["access-control-allow-origin"] == UI_ORIGIN
    other = await codec.options("/decode", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_a_payload_of_a_removed_key_is_refused_naming_the_key() -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    only_new = _settings(payload_key_file=None, payload_keys=SecretStr(f"{NEW_TEST_KEY_ID}:{key}"))
    transport = httpx.ASGITransport(app=create_app(only_new))
    started = _event_payloads(_history(), "workflowExecutionStartedEventAttributes", "input")
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        answer = await http.post("/decode", json={"payloads": started}, headers=_auth())
    assert answer.status_code == 400
    assert f"key id {OLD_TEST_KEY_ID!r}" in answer.json()["detail"]


async def test_without_a_token_only_loopback() -> None:
    with pytest.raises(CodecServerConfigError, match="CODEC_SERVER_TOKEN is required"):
        create_app(_settings(codec_server_token=None, codec_server_host="0.0.0.0"))
    app = create_app(_settings(codec_server_token=None))
    payloads = _event_payloads(_history(), "workflowExecutionStartedEventAttributes", "input")
    for base_url, status in (
        ("http://127.0.0.1:8234", 200),
        ("http://localhost:8234", 200),
        ("http://[::1]:8234", 200),
        # A page whose name resolves to 127.0.0.1 (DNS rebinding) is not loopback to us.
        ("http://rebind.evil.example:8234", 403),
    ):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base_url
        ) as http:
            answer = await http.post("/decode", json={"payloads": payloads})
        assert answer.status_code == status, base_url


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"codec_server_token": SecretStr("x" * 31)}, "CODEC_SERVER_TOKEN must be at least 32"),
        (
            {"codec_server_token_previous": SecretStr("y" * 31)},
            "CODEC_SERVER_TOKEN_PREVIOUS must be at least 32",
        ),
        (
            {"codec_server_token": None, "codec_server_token_previous": SecretStr(TOKEN)},
            "CODEC_SERVER_TOKEN_PREVIOUS is set without CODEC_SERVER_TOKEN",
        ),
    ],
)
def test_a_token_short_enough_to_guess_is_refused_at_start(
    fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(CodecServerConfigError, match=named) as refused:
        create_app(_settings(**fields))
    assert "x" * 31 not in str(refused.value)
    assert "y" * 31 not in str(refused.value)


def test_the_process_will_not_start_with_a_short_token(tmp_path: Any) -> None:
    short = "short-codec-token"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "OUTBOUND_CALLS_ENV_FILE": "",
        "PAYLOAD_KEY_FILE": str(KEY_FILE),
        "CODEC_SERVER_TOKEN": short,
    }
    started = subprocess.run(
        [sys.executable, "-m", "codec_server", "--port", "0"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 1
    assert "CODEC_SERVER_TOKEN must be at least 32 characters" in started.stderr
    assert short not in started.stderr + started.stdout


async def test_the_previous_token_is_accepted_during_a_rotation() -> None:
    app = create_app(_settings(codec_server_token_previous=SecretStr(PREVIOUS_TOKEN)))
    payloads = _event_payloads(_history(), "workflowExecutionStartedEventAttributes", "input")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        for token, status in ((TOKEN, 200), (PREVIOUS_TOKEN, 200), (PREVIOUS_TOKEN + "x", 403)):
            answer = await http.post("/decode", json={"payloads": payloads}, headers=_auth(token))
            assert answer.status_code == status, token


async def test_refuses_bodies_that_are_not_payloads(codec: httpx.AsyncClient) -> None:
    not_json = await codec.post("/decode", content=b"{}", headers=_auth())  # no Content-Type
    assert not_json.status_code == 415
    garbage = await codec.post(
        "/decode", content=b"{not json", headers={**_auth(), "Content-Type": "application/json"}
    )
    assert garbage.status_code == 400
