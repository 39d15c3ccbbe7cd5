"""Privacy: what Temporal stores of a call is ciphertext, the UI's plain fields are masked,
and no log line holds a number or a key.

One encrypted call (and one rejected request) runs through the real stack on the dev server
(simulator → bridge → worker, the bridge and the worker on an encrypting client) while
every log line is captured; the tests below read its raw history through a client without
the codec, and its log. Key rotation and the key settings are checked without a server.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import structlog
import uvicorn
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from adapters.codec_keys import PayloadKeyError, PayloadKeys, payload_keys_from
from adapters.logs import configure_logging, get_logger, secret_values
from adapters.payload_codec import (
    ENCRYPTED_ENCODING,
    EncryptionCodec,
    PayloadDecryptionError,
    UnknownPayloadKey,
    converter_for,
    data_converter,
)
from adapters.settings import (
    BridgeSettings,
    ClientSettings,
    CodecServerSettings,
    PayloadCodecSettings,
    TemporalSettings,
    WorkerSettings,
)
from devstack import client_settings, config_from_env, ensure_payload_key_file, process_stack
from outbound_calls_client import search_attributes as sa
from outbound_calls_client.models import CallOutcome, CallRequest, OutcomeStatus
from outbound_calls_client.names import CALL_EVENT_SIGNAL, CALL_WORKFLOW
from outbound_calls_client.phone import mask_number
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import FROM_NUMBER, SIM_KEY, TO_NUMBER, call_request, live_stack

# What must never be readable outside the codec: the numbers (as dialled and as digits), the
# caller's dynamic variable values, and the transcript's words.
DYNAMIC = {"customer_name": "Ada Lovelace-Byron", "account_ref": "ACCT-93125-PRIVATE"}
TRANSCRIPT_WORDS = "Hello, this is Zoë from the simulator"
NEEDLES = (
    TO_NUMBER,
    TO_NUMBER.lstrip("+"),
    FROM_NUMBER,
    FROM_NUMBER.lstrip("+"),
    *DYNAMIC.values(),
    TRANSCRIPT_WORDS,
)
REJECTED_NUMBER = "+1415555"
CODEC_TOKEN = "codec-token-do-not-log-4d1f-0a9e7c3b"  # 32 characters at least


def _key_text(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _random_keys(*ids: str) -> PayloadKeys:
    return PayloadKeys(current_id=ids[-1], keys={key_id: os.urandom(32) for key_id in ids})


# ----- one encrypted run, shared by the tests that read its history and its log -------------


@dataclass(frozen=True)
class EncryptedRun:
    keys: PayloadKeys
    outcome: CallOutcome
    history_json: str  # fetched by a client without the codec
    rejected_history_json: str
    log_lines: list[str]


def _payloads(node: Any) -> list[dict[str, Any]]:
    """Every payload (``{"metadata": ..., "data": ...}``) in a history's JSON."""
    if isinstance(node, dict):
        here = [node] if isinstance(node.get("data"), str) and "metadata" in node else []
        return here + [p for value in node.values() for p in _payloads(value)]
    if isinstance(node, list):
        return [p for value in node for p in _payloads(value)]
    return []


def _is_encrypted(payload: dict[str, Any]) -> bool:
    encoding = payload["metadata"].get("encoding", "")
    return base64.b64decode(encoding) == ENCRYPTED_ENCODING


def _payload_texts(history_json: str) -> list[str]:
    """Each payload's bytes as text, as Temporal stores them (no codec)."""
    return [
        base64.b64decode(p["data"]).decode("utf-8", "replace")
        for p in _payloads(json.loads(history_json))
    ]


def _decrypted_texts(history_json: str, codec: EncryptionCodec) -> list[str]:
    texts = []
    for raw in _payloads(json.loads(history_json)):
        if _is_encrypted(raw):
            payload = Payload(
                metadata={k: base64.b64decode(v) for k, v in raw["metadata"].items()},
                data=base64.b64decode(raw["data"]),
            )
            texts.append(codec.decrypt(payload).data.decode("utf-8"))
    return texts


async def _run_encrypted(dev_env: WorkflowEnvironment, keys: PayloadKeys) -> EncryptedRun:
    plain = dev_env.client
    encrypting = await Client.connect(
        plain.service_client.config.target_host,
        namespace=plain.namespace,
        data_converter=converter_for(keys),
    )
    async with live_stack(encrypting) as stack:
        handle = await start_call(
            encrypting,
            call_request("answered", dynamic_variables=DYNAMIC),
            task_queue=stack.task_queue,
        )
        # Started as any client could (start_call would refuse it up front).
        rejected: WorkflowHandle[Any, CallOutcome] = await encrypting.start_workflow(
            CALL_WORKFLOW,
            call_request(to_number=REJECTED_NUMBER, dynamic_variables=DYNAMIC),
            id=f"privacy-rejected-{os.urandom(4).hex()}",
            task_queue=stack.task_queue,
            result_type=CallOutcome,
        )
        outcome = await handle.result()
        assert (await rejected.result()).status == OutcomeStatus.REJECTED
        # Canaries: a number and a key through structlog and through stdlib logging, as any
        # module or library might write them.
        get_logger("privacy-canary").info(
            "canary", note=f"dialled {TO_NUMBER}", detail=f"key {_key_text(keys.current_key)}"
        )
        logging.getLogger("temporalio.canary").warning(
            "canary number %s key %s", FROM_NUMBER, _key_text(keys.current_key)
        )
    history = await plain.get_workflow_handle(handle.id).fetch_history()
    rejected_history = await plain.get_workflow_handle(rejected.id).fetch_history()
    return EncryptedRun(
        keys=keys,
        outcome=outcome,
        history_json=history.to_json(),
        rejected_history_json=rejected_history.to_json(),
        log_lines=[],
    )


@pytest.fixture(scope="module")
async def encrypted_run(dev_env: WorkflowEnvironment) -> EncryptedRun:
    keys = _random_keys("privacy-old", "privacy-current")
    settings = WorkerSettings(
        retell_api_key=SIM_KEY,
        payload_keys=SecretStr(",".join(f"{k}:{_key_text(v)}" for k, v in keys.keys.items())),
        payload_key_id=keys.current_id,
    )
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_structlog = structlog.get_config()
    configure_logging(secrets=secret_values(settings), stream=stream)
    # No logger may keep this setup after the run (structlog.testing.capture_logs elsewhere).
    structlog.configure(cache_logger_on_first_use=False)
    try:
        run = await _run_encrypted(dev_env, keys)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.configure(**saved_structlog)
    return EncryptedRun(**{**run.__dict__, "log_lines": stream.getvalue().splitlines()})


# ----- the history Temporal stores -----------------------------------------------------------


async def test_raw_history_holds_no_personal_data(encrypted_run: EncryptedRun) -> None:
    run = encrypted_run
    assert run.outcome.status == OutcomeStatus.COMPLETED
    assert TRANSCRIPT_WORDS in (run.outcome.transcript or "")
    for history_json in (run.history_json, run.rejected_history_json):
        stored = "\n".join([history_json, *_payload_texts(history_json)])
        assert [n for n in NEEDLES if n in stored] == []
        assert REJECTED_NUMBER not in stored
    # The data is in there, encrypted: the codec reads every needle back.
    decrypted = "\n".join(_decrypted_texts(run.history_json, EncryptionCodec(run.keys)))
    assert [n for n in NEEDLES if n not in decrypted] == []


async def test_every_payload_is_encrypted_but_search_attributes(
    encrypted_run: EncryptedRun,
) -> None:
    events = json.loads(encrypted_run.history_json)["events"]
    for event in events:
        for name, attributes in event.items():
            if not name.endswith("Attributes") or name.startswith(
                ("upsertWorkflowSearchAttributes", "markerRecorded")
            ):
                continue
            outside = {k: v for k, v in attributes.items() if k != "searchAttributes"}
            plain = [p for p in _payloads(outside) if not _is_encrypted(p)]
            assert plain == [], (name, plain)
    # Webhooks arrived through the bridge's encrypting client: every signal is ciphertext.
    signals = [
        e["workflowExecutionSignaledEventAttributes"]
        for e in events
        if e.get("workflowExecutionSignaledEventAttributes", {}).get("signalName")
        == CALL_EVENT_SIGNAL
    ]
    assert len(signals) >= 3
    for signal_event in signals:
        payloads = _payloads(signal_event)
        assert payloads
        assert all(_is_encrypted(p) for p in payloads)
    # The search attributes (never encrypted; given at start, then upserted) carry the
    # masked number only.
    masked = [
        base64.b64decode(p["data"]).decode()
        for e in events
        for p in _payloads(
            e.get("upsertWorkflowSearchAttributesEventAttributes")
            or e.get("workflowExecutionStartedEventAttributes", {}).get("searchAttributes", {})
        )
    ]
    assert json.dumps(mask_number(TO_NUMBER)) in masked


async def test_failures_travel_encrypted(encrypted_run: EncryptedRun) -> None:
    # Validation runs as a local activity: its failure is in a marker event.
    failures = [
        attributes["failure"]
        for e in json.loads(encrypted_run.rejected_history_json)["events"]
        for name in ("activityTaskFailedEventAttributes", "markerRecordedEventAttributes")
        if "failure" in (attributes := e.get(name, {}))
    ]
    assert failures
    for failure in failures:
        assert failure["message"] == "Encoded failure"
        assert _is_encrypted(failure["encodedAttributes"])


# ----- what the UI shows without a codec: memo, search attributes, summaries, details -------


async def test_ui_fields_carry_only_masked_numbers(dev_env: WorkflowEnvironment) -> None:
    """Without encryption (the default for existing users), memo, search attributes, the
    static summary, activity and timer summaries and the current details are plain text."""
    client = dev_env.client
    async with live_stack(client) as stack:
        handle = await start_call(
            client, call_request("answered", dynamic_variables=DYNAMIC), task_queue=stack.task_queue
        )
        assert (await handle.result()).status == OutcomeStatus.COMPLETED
        metadata: WorkflowMetadata = await handle.query(
            "__temporal_workflow_metadata", result_type=WorkflowMetadata
        )
    description = await handle.describe()
    history = await handle.fetch_history()
    summaries = [
        base64.b64decode(p["data"]).decode()
        for e in json.loads(history.to_json())["events"]
        for p in _payloads(e.get("userMetadata", {}))
    ]
    ui_fields: dict[str, str] = {
        "memo": json.dumps(await description.memo()),
        "search attributes": json.dumps(
            {pair.key.name: str(pair.value) for pair in description.typed_search_attributes}
        ),
        "static summary": await description.static_summary() or "",
        "event summaries": "\n".join(summaries),
        "current details": metadata.current_details,
    }
    masked = mask_number(TO_NUMBER)
    assert masked in ui_fields["memo"]
    assert masked in ui_fields["static summary"]
    assert description.typed_search_attributes.get(sa.TO_NUMBER_MASKED) == masked
    assert "create call" in ui_fields["event summaries"]
    assert ui_fields["current details"] == "finished: completed"
    leaks = {name: [n for n in NEEDLES if n in text] for name, text in ui_fields.items()}
    assert leaks == {name: [] for name in ui_fields}


# ----- logs ---------------------------------------------------------------------------------


def test_scenario_log_holds_no_number_and_no_key(encrypted_run: EncryptedRun) -> None:
    lines = encrypted_run.log_lines
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    # Lines of every part: bridge, simulator, activities, workflows, the SDK's worker.
    loggers = {"bridge", "simulator.calls", "activities.retell", "temporalio.workflow"}
    assert loggers <= {line.get("logger") for line in parsed}
    text = "\n".join(lines)
    secrets = [*encrypted_run.keys.secret_texts()]
    numbers = [TO_NUMBER, FROM_NUMBER, REJECTED_NUMBER, TO_NUMBER.lstrip("+")]
    assert [n for n in numbers if n in text] == []
    assert [s for s in secrets if s in text] == []
    # The canaries were written, masked and redacted.
    canaries = [line for line in parsed if "canary" in str(line.get("event"))]
    assert len(canaries) == 2
    assert mask_number(TO_NUMBER) in json.dumps(canaries)
    assert "[redacted]" in json.dumps(canaries)


def test_secret_values_hold_every_key_form_and_the_token(tmp_path: Any) -> None:
    keys = _random_keys("a", "b")
    key_file = tmp_path / "keys.json"
    key_file.write_text(
        json.dumps({"current": "b", "keys": {k: _key_text(v) for k, v in keys.keys.items()}})
    )
    key_file.chmod(0o600)
    settings = CodecServerSettings(
        payload_key_file=key_file, codec_server_token=SecretStr(CODEC_TOKEN)
    )
    found = secret_values(settings)
    assert CODEC_TOKEN in found
    for key in keys.keys.values():
        assert {_key_text(key), base64.urlsafe_b64encode(key).decode(), key.hex()} <= set(found)


@pytest.mark.parametrize("process", ["worker", "bridge", "codec_server", "cli"])
def test_every_process_logs_through_the_redactor_with_its_keys(
    process: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each process's main installs the JSON logging with every secret it holds."""
    keys = _random_keys("proc")
    monkeypatch.setenv("PAYLOAD_KEYS", f"proc:{_key_text(keys.current_key)}")
    monkeypatch.setenv("RETELL_API_KEY", "retell-secret-for-test")
    monkeypatch.setenv("CODEC_SERVER_TOKEN", CODEC_TOKEN)
    seen: list[list[str]] = []

    def capture(*_: Any, secrets: Any = (), **__: Any) -> None:
        seen.append(list(secrets))

    def stop(runnable: Any = None, *_: Any, **__: Any) -> None:
        if hasattr(runnable, "close"):
            runnable.close()  # a coroutine asyncio.run was given: never started
        raise SystemExit(0)

    main: Callable[[], Any]
    if process == "worker":
        import worker

        monkeypatch.setattr(worker, "configure_logging", capture)
        monkeypatch.setattr(asyncio, "run", stop)
        main = lambda: worker.main([])  # noqa: E731
    elif process == "bridge":
        import bridge.__main__ as bridge_main

        monkeypatch.setattr(bridge_main, "configure_logging", capture)
        monkeypatch.setattr(uvicorn, "run", stop)
        monkeypatch.setattr(signal, "signal", lambda *_: None)
        main = lambda: bridge_main.main([])  # noqa: E731
    elif process == "codec_server":
        import codec_server.__main__ as codec_main

        monkeypatch.setattr(codec_main, "configure_logging", capture)
        monkeypatch.setattr(uvicorn, "run", stop)
        monkeypatch.setattr(signal, "signal", lambda *_: None)
        main = lambda: codec_main.main([])  # noqa: E731
    else:
        import cli.command
        import cli.main

        monkeypatch.setattr(cli.command, "configure_logging", capture)
        monkeypatch.setattr(asyncio, "run", stop)
        # main answers the exit code (the console script exits with it).
        main = lambda: sys.exit(cli.main.main(["status", "call-x"]))  # noqa: E731
    with pytest.raises(SystemExit):
        main()
    assert len(seen) == 1
    assert _key_text(keys.current_key) in seen[0]
    if process == "codec_server":
        assert CODEC_TOKEN in seen[0]
    if process in ("worker", "bridge"):
        assert "retell-secret-for-test" in seen[0]


# ----- keys: rotation, removal, settings ----------------------------------------------------


async def test_rotation_keeps_old_payloads_readable_and_names_a_removed_key() -> None:
    old = _random_keys("2025-01")
    request = call_request(dynamic_variables=DYNAMIC)
    written = await converter_for(old).encode([request])
    rotated = PayloadKeys(current_id="2025-06", keys={**old.keys, "2025-06": os.urandom(32)})
    after = converter_for(rotated)
    assert (await after.decode(written, [CallRequest]))[0] == request
    new = await after.encode(["hello"])
    assert new[0].metadata["encryption-key-id"] == b"2025-06"
    removed = PayloadKeys(current_id="2025-06", keys={"2025-06": rotated.keys["2025-06"]})
    with pytest.raises(UnknownPayloadKey) as caught:
        await converter_for(removed).decode(written, [CallRequest])
    message = str(caught.value)
    assert "'2025-01'" in message
    assert caught.value.key_id == "2025-01"
    assert [s for s in [*old.secret_texts(), *rotated.secret_texts()] if s in message] == []


async def test_ciphertext_is_authenticated_and_nonces_differ() -> None:
    codec = EncryptionCodec(_random_keys("k"))
    one, two = await codec.encode([Payload(data=b"same")] * 2)
    assert one.data[:12] != two.data[:12]
    tampered = Payload(metadata=one.metadata, data=one.data[:-1] + bytes([one.data[-1] ^ 1]))
    with pytest.raises(PayloadDecryptionError, match="'k' does not decrypt"):
        codec.decrypt(tampered)
    relabelled = Payload(metadata={**one.metadata, "encryption-key-id": b"other"}, data=one.data)
    with pytest.raises(UnknownPayloadKey):
        codec.decrypt(relabelled)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
    assert codec.decrypt(plain) == plain  # histories from before encryption still decode


async def test_no_keys_means_the_plain_converter(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PAYLOAD_KEYS", "PAYLOAD_KEY_FILE", "PAYLOAD_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    assert data_converter(TemporalSettings()) is pydantic_data_converter
    assert data_converter(WorkerSettings()) is pydantic_data_converter
    key = _key_text(os.urandom(32))
    assert isinstance(
        data_converter(BridgeSettings(payload_keys=SecretStr(f"b:{key}"))).payload_codec,
        EncryptionCodec,
    )
    # A plain TemporalSettings (user code, the health check) reads the keys from the env.
    monkeypatch.setenv("PAYLOAD_KEYS", f"env:{key}")
    codec = data_converter(TemporalSettings()).payload_codec
    assert isinstance(codec, EncryptionCodec)
    assert codec.current_key_id == "env"
    assert isinstance(data_converter(ClientSettings()).payload_codec, EncryptionCodec)


def test_key_settings(tmp_path: Any) -> None:
    a, b = _key_text(os.urandom(32)), _key_text(os.urandom(32))

    def keys(**fields: Any) -> PayloadKeys | None:
        return payload_keys_from(PayloadCodecSettings(**fields))

    assert keys() is None
    both = keys(payload_keys=SecretStr(f"a:{a},b:{b}"), payload_key_id="b")
    assert both is not None
    assert (both.current_id, sorted(both.keys)) == ("b", ["a", "b"])
    single = keys(payload_keys=SecretStr(f"only:{a}"))
    assert single is not None
    assert single.current_id == "only"
    plain_file = tmp_path / "plain.json"
    plain_file.write_text(json.dumps({"a": a, "b": b}))
    plain_file.chmod(0o600)
    shared_file = tmp_path / "shared.json"
    shared_file.write_text(json.dumps({"a": a}))
    shared_file.chmod(0o640)
    from_file = keys(payload_key_file=plain_file, payload_key_id="a")
    assert from_file is not None
    assert from_file.current_id == "a"
    failures: dict[str, dict[str, Any]] = {
        "several keys": dict(payload_keys=SecretStr(f"a:{a},b:{b}")),
        "not among the keys": dict(payload_keys=SecretStr(f"a:{a}"), payload_key_id="c"),
        "not both": dict(payload_keys=SecretStr(f"a:{a}"), payload_key_file=plain_file),
        "is a key where its id should be": dict(payload_keys=SecretStr(f"{a}:a")),
        "bytes; AES-256 needs 32": dict(payload_keys=SecretStr(f"a:{_key_text(b'short')}")),
        "cannot read it": dict(payload_key_file=tmp_path / "missing.json"),
        "group or other users have access": dict(payload_key_file=shared_file),
        "no PAYLOAD_KEYS": dict(payload_key_id="a"),
    }
    for expected, fields in failures.items():
        with pytest.raises(PayloadKeyError, match=expected) as caught:
            keys(**fields)
        assert [k for k in (a, b) if k in str(caught.value)] == []
    repr_text = repr(both) + repr(EncryptionCodec(both))
    assert [k for k in (a, b) if k in repr_text] == []


def test_dev_stack_makes_one_private_key_file_and_hands_it_to_every_process(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PAYLOAD_KEYS", "PAYLOAD_KEY_FILE", "PAYLOAD_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    config = config_from_env(tmp_path)
    ensure_payload_key_file(config)
    key_file = tmp_path / "payload-keys.json"
    assert key_file.stat().st_mode & 0o777 == 0o600
    first = key_file.read_text()
    ensure_payload_key_file(config)  # a later run keeps the key: old histories stay readable
    assert key_file.read_text() == first
    env = process_stack(tmp_path, config).environment()
    assert env["PAYLOAD_KEY_FILE"] == str(key_file)
    assert env["CODEC_SERVER_HOST"] == "127.0.0.1"
    assert f"http://localhost:{config.ui_port}" in env["CODEC_SERVER_CORS_ORIGINS"].split(",")
    assert isinstance(data_converter(client_settings(config)).payload_codec, EncryptionCodec)
    # Keys from the environment win: no key file of its own.
    monkeypatch.setenv("PAYLOAD_KEYS", f"mine:{_key_text(os.urandom(32))}")
    other = tmp_path / "other"
    assert "PAYLOAD_KEY_FILE" not in process_stack(other, config_from_env(other)).environment()
