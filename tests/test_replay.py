"""Replay every recorded history (``tests/histories/``) against the current workflow code.

A change to OutboundCallWorkflow that would break running calls fails here. Intended
changes go behind ``workflow.patched`` (see the README), then ``make histories`` adds
fresh recordings beside the old ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.changed_workflow import OutboundCallWorkflowWithExtraStep
from tests.histories.record import SCENARIOS, VERSION, workflow_id_of
from worker import WORKFLOWS, workflow_runner

HISTORIES = Path(__file__).resolve().parent / "histories"


async def _histories() -> AsyncIterator[WorkflowHistory]:
    for path in sorted(HISTORIES.glob("v*/*.json")):
        yield WorkflowHistory.from_json(workflow_id_of(path.stem), path.read_text())


def _replayer(*workflows: type) -> Replayer:
    return Replayer(
        workflows=list(workflows),
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )


def test_every_scenario_has_a_recorded_history() -> None:
    for version in (HISTORIES / "v1", HISTORIES / VERSION):
        recorded = {path.stem for path in version.glob("*.json")}
        assert {s.name for s in SCENARIOS} == recorded, version


async def test_recorded_histories_replay_on_current_code() -> None:
    results = await _replayer(*WORKFLOWS).replay_workflows(
        _histories(), raise_on_replay_failure=False
    )
    assert {wid: str(err) for wid, err in results.replay_failures.items()} == {}


async def test_a_changed_workflow_fails_replay() -> None:
    replayer = _replayer(OutboundCallWorkflowWithExtraStep)
    history = WorkflowHistory.from_json(
        workflow_id_of("answered"), (HISTORIES / VERSION / "answered.json").read_text()
    )
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)
