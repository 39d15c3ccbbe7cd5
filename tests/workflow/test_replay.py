"""Replay every recorded history (``tests/histories/<release>/``) against the current code.

A change to any workflow that would break runs started on a supported release fails here
(docs/changing-workflows.md says how a change ships instead). Every workflow type the worker
runs has recorded runs.

The encrypted histories (``<release>/encrypted/``, recorded mid key rotation under TEST-ONLY
keys) replay through the payload codec: after another rotation they still replay as long as
their keys stay listed; without one of them, replay fails and names the missing key.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.workflow import NondeterminismError

from adapters.codec_keys import PayloadKeys
from adapters.payload_codec import ENCRYPTED_ENCODING, KEY_ID_METADATA_KEY, converter_for
from tests.helpers.call_harness import replayer_for
from tests.helpers.changed_workflow import OutboundCallWorkflowWithExtraStep
from tests.histories.record import (
    ENCRYPTED_OUT,
    NEW_TEST_KEY_ID,
    OLD_TEST_KEY_ID,
    OUT,
    RELEASES,
    SCENARIOS,
    history_keys,
    recorded_runs,
    workflow_id_of,
)
from tests.histories.record_campaign import recorded as campaign_histories
from worker import WORKFLOWS

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
# Payloads Temporal never hands to a codec: search attributes (indexed) and the SDK's own
# patch markers. Everything else in an encrypted history must be ciphertext.
_UNENCODED_PARTS = ("searchAttributes", "markerRecordedEventAttributes")


def _scenario_histories(kind: str) -> list[tuple[str, Path]]:
    """(workflow id, file) of every release's ``calls`` or ``encrypted`` histories."""
    return [(workflow_id_of(p.stem), p) for p in sorted(HISTORIES.glob(f"*/{kind}/*.json"))]


def _every_plain_history() -> list[tuple[str, Path]]:
    return [*_scenario_histories("calls"), *recorded_runs("others"), *campaign_histories()]


async def _histories(recorded: list[tuple[str, Path]]) -> AsyncIterator[WorkflowHistory]:
    for workflow_id, path in recorded:
        yield WorkflowHistory.from_json(workflow_id, path.read_text())


def _workflow_type(path: Path) -> str:
    started = json.loads(path.read_text())["events"][0]
    name: str = started["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
    return name


def _rotated_again() -> PayloadKeys:
    """After one more rotation: a new current key; the recorded histories' keys still listed."""
    recorded = history_keys(NEW_TEST_KEY_ID)
    return PayloadKeys(current_id="next", keys={**recorded.keys, "next": os.urandom(32)})


def _payload_key_ids(node: Any, path: str = "") -> list[tuple[str, str | None]]:
    """(path, key id or None when not encrypted) of every payload in a history's JSON."""
    found: list[tuple[str, str | None]] = []
    if isinstance(node, dict):
        metadata = node.get("metadata")
        if isinstance(metadata, dict) and isinstance(node.get("data"), str):
            encoding = base64.b64decode(metadata.get("encoding", ""))
            key_id = metadata.get(KEY_ID_METADATA_KEY)
            if encoding == ENCRYPTED_ENCODING and isinstance(key_id, str):
                found.append((path, base64.b64decode(key_id).decode()))
            else:
                found.append((path, None))
        for name, value in node.items():
            found += _payload_key_ids(value, f"{path}/{name}")
    elif isinstance(node, list):
        for value in node:
            found += _payload_key_ids(value, path)
    return found


def test_the_release_folders_are_the_supported_releases() -> None:
    # A folder left out of RELEASES would still replay; one listed but missing would not.
    folders = {p.name for p in HISTORIES.iterdir() if p.is_dir() and p.name[0].isdigit()}
    assert folders == set(RELEASES)


def test_every_scenario_has_a_recorded_history() -> None:
    for folder in (OUT, ENCRYPTED_OUT):
        recorded = {path.stem for path in folder.glob("*.json")}
        assert {s.name for s in SCENARIOS} == recorded, folder


def test_every_workflow_type_the_worker_runs_has_recorded_runs() -> None:
    recorded = {_workflow_type(path) for _, path in _every_plain_history()}
    assert recorded == {workflow._Definition.must_from_class(cls).name for cls in WORKFLOWS}


def test_encrypted_histories_hold_ciphertext_under_both_keys() -> None:
    used: set[str] = set()
    for _, path in _scenario_histories("encrypted"):
        payloads = _payload_key_ids(json.loads(path.read_text()))
        plain = [p for p, key_id in payloads if key_id is None]
        assert [p for p in plain if not any(part in p for part in _UNENCODED_PARTS)] == []
        used |= {key_id for _, key_id in payloads if key_id is not None}
    # Recorded mid-rotation: the starter's payloads under the old key, the rest the new one.
    assert used == {OLD_TEST_KEY_ID, NEW_TEST_KEY_ID}


async def test_recorded_histories_replay_on_current_code() -> None:
    results = await replayer_for(WORKFLOWS).replay_workflows(
        _histories(_every_plain_history()), raise_on_replay_failure=False
    )
    assert {wid: str(err) for wid, err in results.replay_failures.items()} == {}


async def test_encrypted_histories_replay_after_key_rotation() -> None:
    replayer = replayer_for(WORKFLOWS, converter_for(_rotated_again()))
    results = await replayer.replay_workflows(
        _histories(_scenario_histories("encrypted")), raise_on_replay_failure=False
    )
    assert {wid: str(err) for wid, err in results.replay_failures.items()} == {}


async def test_encrypted_history_without_its_key_fails_naming_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorded = history_keys(NEW_TEST_KEY_ID)
    old_key_removed = PayloadKeys(
        current_id=NEW_TEST_KEY_ID, keys={NEW_TEST_KEY_ID: recorded.keys[NEW_TEST_KEY_ID]}
    )
    history = WorkflowHistory.from_json(
        workflow_id_of("answered"), (ENCRYPTED_OUT / "answered.json").read_text()
    )
    replayer = replayer_for(WORKFLOWS, converter_for(old_key_removed))
    with caplog.at_level(logging.WARNING):
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert "UnknownPayloadKey" in str(result.replay_failure)
    assert f"payload encrypted with key id {OLD_TEST_KEY_ID!r}" in caplog.text
    # And without any codec the encrypted history is unreadable.
    plain = await replayer_for(WORKFLOWS).replay_workflow(history, raise_on_replay_failure=False)
    assert plain.replay_failure is not None


async def test_a_changed_workflow_fails_replay() -> None:
    replayer = replayer_for([OutboundCallWorkflowWithExtraStep])
    history = WorkflowHistory.from_json(
        workflow_id_of("answered"), (OUT / "answered.json").read_text()
    )
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)


def test_the_campaign_recording_continued_as_new_with_the_slot_pool_beside_it() -> None:
    """What the campaign recording must hold for its replay to mean something."""
    recorded = campaign_histories()
    kinds = {_workflow_type(path) for _, path in recorded}
    assert kinds == {"CampaignWorkflow", "CallSlotsWorkflow"}
    assert sum(1 for wid, _ in recorded if wid.startswith("campaign-")) > 1  # continued as new
