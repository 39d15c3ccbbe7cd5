"""The CLI encrypts only with keys the server's workers read: the dev stack's key file for
the dev stack's own server, given keys elsewhere, and a refusal (before anything starts) when
the keys cannot match. Real dev servers and the installed ``outbound-calls`` as processes."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.codec_keys import PayloadKeys, create_key_file
from adapters.dev_server_record import record_dev_server
from adapters.payload_codec import KEY_ID_METADATA_KEY, converter_for, with_data_converter
from outbound_calls_client.models import CallRequest
from outbound_calls_client.names import CALL_WORKFLOW, call_workflow_id
from outbound_calls_client.search_attributes import ALL_SEARCH_ATTRIBUTES
from stack.binaries import server_binary
from stack.ports import free_port
from tests.helpers.cli_runner import CliRun, cli_env, run_cli

pytestmark = pytest.mark.integration

DEV_KEY_ID = "dev-20250101"


async def _dev_server(port: int | None = None) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=server_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        port=port,
    )


@pytest.fixture(scope="module")
async def dev_stack_server() -> AsyncIterator[WorkflowEnvironment]:
    """The server a dev stack started (and wrote its key file for)."""
    env = await _dev_server()
    yield env
    await env.shutdown()


async def _checkout(root: Path, server: Client) -> Path:
    """A checkout where ``make run`` ran against ``server``: its key file and the record."""
    key_file = root / ".devstack" / "payload-keys.json"
    key_file.parent.mkdir(parents=True)
    create_key_file(key_file, DEV_KEY_ID)
    await record_dev_server(server, key_file)
    return key_file


def _address(client: Client) -> str:
    return client.service_client.config.target_host


async def _start(
    server: Client | str, cwd: Path, queue: str, **settings: str
) -> tuple[CliRun, str]:
    """``outbound-calls start`` (no worker needed: what it stored is what is checked)."""
    key = f"keys-{uuid.uuid4().hex[:10]}"
    address = server if isinstance(server, str) else _address(server)
    env = cli_env(TEMPORAL_ADDRESS=address, TEMPORAL_TASK_QUEUE=queue, **settings)
    run = await run_cli(
        "start", "--to", "+14155550123", "--from", "+12125550199", "--no-calling-window",
        "--dedupe-key", key, env=env, cwd=cwd,
    )  # fmt: skip
    return run, call_workflow_id(key)


async def _started_input(client: Client, workflow_id: str) -> Payload:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return started.input.payloads[0]


async def _never_started(client: Client, workflow_id: str) -> None:
    with pytest.raises(RPCError, match="not found"):
        await client.get_workflow_handle(workflow_id).describe()


def _queue() -> str:
    return f"keys-{uuid.uuid4().hex[:8]}"


def _key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def test_the_dev_key_file_encrypts_only_for_the_server_it_was_written_for(
    dev_stack_server: WorkflowEnvironment, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    await _checkout(tmp_path, dev_stack_server.client)
    # Another dev server on this machine: the checkout's key file is not the keys of its
    # workers, so the call goes out as the keys given say: none, plain JSON.
    run, workflow_id = await _start(dev_env.client, tmp_path, _queue())
    assert run.code == 0, run.err
    payload = await _started_input(dev_env.client, workflow_id)
    assert payload.metadata["encoding"] == b"json/plain"
    # The dev stack's own server, as `localhost` (the CLI's default spelling) where the dev
    # stack recorded 127.0.0.1: encrypted with the dev stack's key.
    port = _address(dev_stack_server.client).rpartition(":")[2]
    run, workflow_id = await _start(f"localhost:{port}", tmp_path, _queue())
    assert run.code == 0, run.err
    payload = await _started_input(dev_stack_server.client, workflow_id)
    assert payload.metadata["encoding"] == b"binary/encrypted"
    assert payload.metadata[KEY_ID_METADATA_KEY] == DEV_KEY_ID.encode()


async def test_a_new_server_on_the_dev_stacks_port_gets_no_dev_keys(tmp_path: Path) -> None:
    port = free_port()
    first = await _dev_server(port)
    try:
        await _checkout(tmp_path, first.client)
    finally:
        await first.shutdown()
    second = await _dev_server(port)  # same address, a fresh database: another server
    try:
        run, workflow_id = await _start(second.client, tmp_path, _queue())
        assert run.code == 0, run.err
        payload = await _started_input(second.client, workflow_id)
        assert payload.metadata["encoding"] == b"json/plain"
    finally:
        await second.shutdown()


async def test_the_dev_key_file_given_for_another_server_is_refused_before_starting(
    dev_stack_server: WorkflowEnvironment, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    key_file = await _checkout(tmp_path / "checkout", dev_stack_server.client)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The line `make run` prints, pasted, then TEMPORAL_ADDRESS changed to another server.
    run, workflow_id = await _start(
        dev_env.client, elsewhere, _queue(), PAYLOAD_KEY_FILE=str(key_file)
    )
    assert run.code == 1, run.err
    assert run.err.count("\n") == 1, run.err
    assert f"PAYLOAD_KEY_FILE={key_file} (key ids '{DEV_KEY_ID}')" in run.err
    assert f"dev stack of {_address(dev_stack_server.client)} (namespace default" in run.err
    assert f"this is Temporal at {_address(dev_env.client)} (namespace default" in run.err
    assert "nothing was started" in run.err
    await _never_started(dev_env.client, workflow_id)
    # Given for the server it names, the same file is used.
    ok, workflow_id = await _start(
        dev_stack_server.client, elsewhere, _queue(), PAYLOAD_KEY_FILE=str(key_file)
    )
    assert ok.code == 0, ok.err
    payload = await _started_input(dev_stack_server.client, workflow_id)
    assert payload.metadata[KEY_ID_METADATA_KEY] == DEV_KEY_ID.encode()


async def test_keys_without_the_key_id_of_the_servers_calls_are_refused(
    dev_stack_server: WorkflowEnvironment, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = _queue()
    team_key = _key_text()
    team = PayloadKeys(current_id="team-1", keys={"team-1": base64.b64decode(team_key)})
    encrypting = with_data_converter(dev_env.client, converter_for(team))
    request = CallRequest(to_number="+14155550123", from_number="+12125550199")
    await encrypting.start_workflow(CALL_WORKFLOW, request, id=f"team-{queue}", task_queue=queue)
    wrong, workflow_id = await _start(
        dev_env.client, tmp_path, queue, PAYLOAD_KEYS=f"other:{_key_text()}"
    )
    assert wrong.code == 1, wrong.err
    assert "is encrypted with key id 'team-1'" in wrong.err
    assert "this command has PAYLOAD_KEYS (key ids 'other')" in wrong.err
    assert team_key[:12] not in wrong.err
    await _never_started(dev_env.client, workflow_id)
    none, workflow_id = await _start(dev_env.client, tmp_path, queue)
    assert none.code == 1, none.err
    assert "this command has no payload keys" in none.err
    await _never_started(dev_env.client, workflow_id)
    # The checkout's dev key file is no key of this server's: not used, and said so.
    checkout = tmp_path / "checkout"
    key_file = await _checkout(checkout, dev_stack_server.client)
    skipped, workflow_id = await _start(dev_env.client, checkout, queue)
    assert skipped.code == 1, skipped.err
    assert f"({key_file} was not used: it was written for the dev stack of " in skipped.err
    await _never_started(dev_env.client, workflow_id)
    right, workflow_id = await _start(
        dev_env.client, tmp_path, queue, PAYLOAD_KEYS=f"team-1:{team_key}"
    )
    assert right.code == 0, right.err
    payload = await _started_input(dev_env.client, workflow_id)
    assert payload.metadata[KEY_ID_METADATA_KEY] == b"team-1"
