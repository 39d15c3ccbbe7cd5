"""The docs' snippets that talk to Temporal, run as written: on the time-skipping server, with
a worker on the default task queue (what the snippets start on) dialing the simulator. The
README's own ``connect_temporal(TemporalSettings())`` reads the server from the environment.
Which snippets these are, and the rules for the others: tests/unit/test_docs_snippets.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.settings import DEFAULT_TASK_QUEUE
from calls.campaign import CampaignSummary
from calls.models import CallOutcome, OutcomeStatus
from tests.helpers.call_harness import (
    SimulatorAdmin,
    call_request,
    call_worker,
    start_time_skipping_server,
)
from tests.helpers.doc_snippets import Snippet, run_problems, run_snippet, snippets

ON_TEMPORAL = [s for s in snippets("python") if s.kind == "run" and s.awaits]


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of each snippet's own: the snippets start their calls and
    campaigns under fixed ids on the default task queue, which a shared server may hold from
    other tests (a run there, whose worker is gone, would be joined and never finish)."""
    env = await start_time_skipping_server()
    yield env
    await env.shutdown()


@asynccontextmanager
async def time_skipping(env: WorkflowEnvironment) -> AsyncIterator[None]:
    """Time skips while the snippet runs, whichever client it made: its calling-window and
    poll timers pass at once."""
    async with cast(Any, env).time_skipping_unlocked():
        yield


@pytest.mark.parametrize("snippet", ON_TEMPORAL, ids=[s.where for s in ON_TEMPORAL])
async def test_a_snippet_runs_on_temporal(
    snippet: Snippet,
    ts_env: WorkflowEnvironment,
    sim: SimulatorAdmin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not run_problems(snippet)  # the unit test says why
    monkeypatch.setenv("TEMPORAL_ADDRESS", ts_env.client.service_client.config.target_host)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", ts_env.client.namespace)
    for name in ("TEMPORAL_API_KEY", "PAYLOAD_KEYS", "PAYLOAD_KEY_FILE", "PAYLOAD_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    given = {"client": ts_env.client, "request": call_request()}
    async with (
        call_worker(ts_env.client, sim.base_url, task_queue=DEFAULT_TASK_QUEUE),
        time_skipping(ts_env),
    ):
        namespace = await run_snippet(snippet, {n: given[n] for n in snippet.given})
    results = [v for v in namespace.values() if isinstance(v, CallOutcome | CampaignSummary)]
    assert results, f"{snippet.where} ends with no outcome or summary"
    for result in results:
        if isinstance(result, CallOutcome):
            assert result.status == OutcomeStatus.COMPLETED, result
        else:
            assert result.finished == result.total > 0, result
            assert result.counts == {OutcomeStatus.COMPLETED: result.total}, result
