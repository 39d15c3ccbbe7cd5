"""Payload keys that match the server, checked once connected and before any command acts.

A workflow task whose input is encrypted with a key its worker lacks fails over and over
("Unknown payload encoding binary/encrypted"), so the CLI never encrypts for a server with
keys that are not that server's:

- the dev stack's key file (``.devstack/payload-keys.json``, found by itself in the checkout)
  is used only when the server is the one the dev stack recorded next to it
  (adapters/dev_server_record.py); for any other server, only the keys given are used;
- a dev stack's key file given as ``PAYLOAD_KEY_FILE`` to another server is refused;
- so are keys (or no keys) that do not include the key id of the payloads of the latest
  workflow on our task queue: that server's workers write with a key we would not read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from adapters.dev_server_record import (
    DevServerRecordError,
    TemporalServer,
    identify,
    read_record,
    record_path,
)
from adapters.payload_codec import (
    ENCODING_METADATA_KEY,
    ENCRYPTED_ENCODING,
    KEY_ID_METADATA_KEY,
    EncryptionCodec,
    data_converter,
    with_data_converter,
)
from adapters.settings import ClientSettings
from cli.failures import CliError, ExitCode

# Where devstack.py keeps its key file, relative to the checkout it runs in.
DEV_KEY_FILE = Path(".devstack") / "payload-keys.json"
# The start of one history holds the starter's input and the worker's first commands: both
# sides' keys, for one small read.
PROBE_EVENTS = 20
_MAX_KEY_ID_CHARS = 64


def dev_key_file(settings: ClientSettings, cwd: Path) -> Path | None:
    """The dev stack's key file of the checkout in ``cwd``, when no keys are given: a
    candidate only, used once the server proves to be the one it was written for."""
    if settings.payload_keys is not None or settings.payload_key_file is not None:
        return None
    path = cwd / DEV_KEY_FILE
    return path if path.is_file() else None


def _record(key_file: Path) -> TemporalServer | None:
    try:
        return read_record(key_file)
    except DevServerRecordError as err:
        raise CliError(str(err), ExitCode.BAD_INPUT) from None


def _key_ids(client: Client) -> list[str]:
    codec = client.data_converter.payload_codec
    return codec.key_ids if isinstance(codec, EncryptionCodec) else []


def _keys_text(settings: ClientSettings, key_ids: list[str]) -> str:
    ids = ", ".join(repr(k) for k in key_ids)
    if settings.payload_key_file is not None:
        return f"PAYLOAD_KEY_FILE={settings.payload_key_file} (key ids {ids})"
    if settings.payload_keys is not None:
        return f"PAYLOAD_KEYS (key ids {ids})"
    return "no payload keys (PAYLOAD_KEYS or PAYLOAD_KEY_FILE)"


async def keys_for_server(
    client: Client, settings: ClientSettings, dev_keys: Path | None
) -> tuple[Client, ClientSettings]:
    """``client`` (connected with the keys given) with the keys this server's workers read,
    and the settings that name them; a mismatch is a :class:`CliError`."""
    skipped = ""
    given_file = settings.payload_key_file
    recorded = _record(given_file) if given_file is not None else None
    if given_file is not None and recorded is not None:
        server = await identify(client)
        if not recorded.is_same_as(server):
            raise CliError(
                f"{_keys_text(settings, _key_ids(client))} is the key file of the dev stack "
                f"of {recorded} ({record_path(given_file).name} says so), and this is Temporal "
                f"at {server}: its workers cannot read payloads encrypted with it, so nothing "
                "was started; set PAYLOAD_KEY_FILE or PAYLOAD_KEYS to that server's keys "
                "(none, if its workers have none)"
            )
    elif dev_keys is not None:
        recorded = _record(dev_keys)
        if recorded is not None and recorded.is_reached_at(settings.temporal_address):
            server = await identify(client)
            if recorded.is_same_as(server):
                settings = settings.model_copy(update={"payload_key_file": dev_keys})
                return with_data_converter(client, data_converter(settings)), settings
        written_for = f"the dev stack of {recorded}" if recorded else "a dev stack (no record)"
        skipped = f" ({dev_keys} was not used: it was written for {written_for})"
    await _check_existing_payloads(client, settings, skipped)
    return client, settings


async def _check_existing_payloads(client: Client, settings: ClientSettings, skipped: str) -> None:
    queue = settings.temporal_task_queue
    found = await _latest_key_ids(client, queue)
    if found is None:
        return
    workflow_id, needed = found
    ours = _key_ids(client)
    missing = sorted(needed - set(ours))
    if not missing:
        return
    raise CliError(
        f"Temporal at {settings.temporal_address} (namespace {settings.temporal_namespace}): "
        f"the latest workflow on task queue {queue} ({workflow_id}) is encrypted with key id "
        f"{', '.join(repr(k) for k in missing)}, and this command has "
        f"{_keys_text(settings, ours)}{skipped}: it and that server's workers would not read "
        "each other's payloads, so nothing was started; set PAYLOAD_KEY_FILE or PAYLOAD_KEYS "
        "to the keys that server's workers use"
    )


async def _latest_key_ids(client: Client, queue: str) -> tuple[str, set[str]] | None:
    """The latest workflow on ``queue`` and the key ids its first events are encrypted with
    (None: no workflow yet, or this client may not list them)."""
    if '"' in queue or "\\" in queue:
        return None  # not a name a query can quote; nothing to compare against
    try:
        latest = [wf async for wf in client.list_workflows(f'TaskQueue = "{queue}"', limit=1)]
        if not latest:
            return None
        history = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=latest[0].id, run_id=latest[0].run_id),
                maximum_page_size=PROBE_EVENTS,
            )
        )
    except RPCError as err:
        if err.status == RPCStatusCode.PERMISSION_DENIED:
            return None
        raise
    ids = {
        payload.metadata.get(KEY_ID_METADATA_KEY, b"?")[:_MAX_KEY_ID_CHARS].decode(
            "utf-8", "replace"
        )
        for event in history.history.events
        for payload in _payloads(event)
        if payload.metadata.get(ENCODING_METADATA_KEY) == ENCRYPTED_ENCODING
    }
    return latest[0].id, ids


def _payloads(message: Message) -> Iterator[Payload]:
    """Every payload anywhere in ``message`` (inputs, results, memo, headers, failures)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue  # a scalar: no payload inside
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif isinstance(value, Message):
            items = [value]
        else:
            items = list(value)
        for item in items:
            if isinstance(item, Message):
                yield from _payloads(item)
