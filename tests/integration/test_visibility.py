"""What an operator sees: search attributes, summaries, details, memo; and the CLI.

On the dev server (the time-skipping server keeps no user metadata), with every part real.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client import search_attributes as sa
from outbound_calls_client.models import CallOutcome, OutcomeStatus
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import (
    TO_NUMBER,
    LiveStack,
    call_request,
    eventually,
    live_stack,
)
from tests.helpers.cli_runner import cli_env, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client) as running:
        yield running


@pytest.fixture(scope="module")
async def finished(
    dev_env: WorkflowEnvironment, stack: LiveStack
) -> tuple[WorkflowHandle[Any, CallOutcome], CallOutcome]:
    handle = await start_call(dev_env.client, call_request("answered"), task_queue=stack.task_queue)
    return handle, await asyncio.wait_for(handle.result(), timeout=30)


async def _cli(dev_env: WorkflowEnvironment, *args: str) -> tuple[int, str, str]:
    # The installed console script, from a scratch directory (no .env or .devstack keys of
    # the checkout: this stack's worker runs without payload keys).
    with tempfile.TemporaryDirectory() as scratch:
        env = cli_env(
            TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
            TEMPORAL_NAMESPACE=dev_env.client.namespace,
        )
        run = await run_cli(*args, env=env, cwd=Path(scratch), timeout_s=60)
    return run.code, run.out, run.err


async def test_finished_call_is_found_by_outcome_and_by_retell_call_id(
    dev_env: WorkflowEnvironment,
    finished: tuple[WorkflowHandle[Any, CallOutcome], CallOutcome],
) -> None:
    handle, outcome = finished
    assert outcome.status == OutcomeStatus.COMPLETED
    query = f'CallOutcome = "completed" AND RetellCallId = "{outcome.call_id}"'

    async def found() -> list[str]:
        return [wf.id async for wf in dev_env.client.list_workflows(query)]

    assert await eventually(found, what="visibility to index the call") == [handle.id]
    description = await handle.describe()
    attributes = description.typed_search_attributes
    assert attributes.get(sa.CALL_STATUS) == "finished"
    assert attributes.get(sa.CALL_ATTEMPT) == 1
    assert attributes.get(sa.TO_NUMBER_MASKED) == "+1********23"
    assert TO_NUMBER not in json.dumps(
        {k.name: v for k, v in ((p.key, p.value) for p in attributes)}
    )


async def test_summaries_details_and_memo_are_in_the_run(
    finished: tuple[WorkflowHandle[Any, CallOutcome], CallOutcome],
) -> None:
    handle, _ = finished
    description = await handle.describe()
    assert await description.static_summary() == "Call +1********23 with agent agent_test"
    memo = await description.memo()
    assert memo["to_number_masked"] == "+1********23"
    assert memo["calling_window"] == "off"
    assert TO_NUMBER not in json.dumps(memo)
    metadata: WorkflowMetadata = await handle.query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    assert metadata.current_details == "finished: completed"
    history = await handle.fetch_history()
    summaries = {
        event.user_metadata.summary.data.decode()
        for event in history.events
        if event.HasField("user_metadata") and event.user_metadata.HasField("summary")
    }
    assert '"create call, attempt 1"' in summaries
    assert any("wait for call events" in s for s in summaries)


async def test_cli_lists_shows_and_refuses_clearly(
    dev_env: WorkflowEnvironment,
    finished: tuple[WorkflowHandle[Any, CallOutcome], CallOutcome],
) -> None:
    handle, outcome = finished
    code, out, _ = await _cli(dev_env, "list", "--retell-call-id", str(outcome.call_id))
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:3] == ["workflow_id", "phase", "outcome"]
    assert row.split()[:3] == [handle.id, "finished", "completed"]
    code, out, _ = await _cli(dev_env, "status", handle.id, "-o", "json")
    assert code == 0
    assert json.loads(out)["phase"] == "finished"
    code, _, err = await _cli(dev_env, "cancel", handle.id)
    assert code == 1
    assert "already finished: completed" in err
    code, _, err = await _cli(dev_env, "start", "--to", "+1415555", "--from", "+12125550199")
    assert code == 2
    assert "to_number" in err
    assert "is_valid_number" in err


async def test_cli_start_waits_and_prints_the_outcome(
    dev_env: WorkflowEnvironment, stack: LiveStack
) -> None:
    code, out, err = await _cli(
        dev_env,
        "start",
        "--to",
        "+14155550188",
        "--from",
        "+12125550199",
        "--dedupe-key",
        "cli-wait-test",
        "--scenario",
        "busy",
        "--no-calling-window",
        "--task-queue",
        stack.task_queue,
        "--wait",
    )
    assert code == 3, err  # busy: not reached
    summary, link = out.splitlines()
    assert summary.startswith("call-cli-wait-test: busy (dial_busy), 1 attempt")
    assert link.strip().endswith("/workflows/call-cli-wait-test")
    assert "(attempt " in err  # progress lines go to stderr, the summary to stdout
