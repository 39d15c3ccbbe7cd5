"""The docs' snippets that talk to Temporal, run as written: a worker on the default task
queue (what the snippets start on), the simulator sending its webhooks through the bridge. The
README's own ``connect_temporal(TemporalSettings())`` reads the server from the environment.
Which snippets these are, and the rules for the others: tests/unit/test_docs_snippets.py.

The server is the time-skipping one only for its clock: it is set once to an afternoon in the
snippets' callees' zones, so that their calling windows are open whenever the suite runs. Time
then passes as on a wall clock: skipping while a campaign takes updates and waits on children
is what Java's test server does not do reliably (it jumped to the 10-year run timeout, or
stopped skipping at all: temporalio/sdk-java#2283, temporalio/sdk-python#826)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from outbound_calls_client.campaign import CampaignSummary
from outbound_calls_client.models import CallOutcome, OutcomeStatus
from outbound_calls_client.names import DEFAULT_TASK_QUEUE
from tests.helpers.call_harness import call_request, live_stack, start_time_skipping_server
from tests.helpers.doc_snippets import Snippet, run_problems, run_snippet, snippets

ON_TEMPORAL = [s for s in snippets("python") if s.kind == "run" and s.awaits]

# 14:00 in New York is 11:00 in San Francisco: inside the default 09:00-20:00 window of
# every callee the snippets name (+1212, +1415), with hours to spare.
AFTERNOON = ZoneInfo("America/New_York"), 14


def until_afternoon(now: datetime) -> timedelta:
    """How far the clock must move from ``now`` to the next AFTERNOON hour (zero if the
    callees' afternoon is under way)."""
    zone, hour = AFTERNOON
    local = now.astimezone(zone)
    if hour <= local.hour < hour + 3:
        return timedelta()
    target = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= local:
        target += timedelta(days=1)
    return target - local


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A server of each snippet's own, its clock in the callees' afternoon: the snippets
    start their calls and campaigns under fixed ids on the default task queue, which a shared
    server may hold from other tests (a run there, whose worker is gone, would be joined and
    never finish)."""
    env = await start_time_skipping_server()
    await env.sleep(until_afternoon(await env.get_current_time()))
    yield env
    await env.shutdown()


def test_the_clock_moves_to_the_next_afternoon() -> None:
    zone, hour = AFTERNOON
    night = datetime(2026, 12, 4, 23, 30, tzinfo=zone)
    assert night + until_afternoon(night) == datetime(2026, 12, 5, hour, tzinfo=zone)
    morning = datetime(2026, 12, 4, 8, tzinfo=zone)
    assert morning + until_afternoon(morning) == datetime(2026, 12, 4, hour, tzinfo=zone)
    assert until_afternoon(datetime(2026, 12, 4, hour + 1, tzinfo=zone)) == timedelta()


@pytest.mark.parametrize("snippet", ON_TEMPORAL, ids=[s.where for s in ON_TEMPORAL])
async def test_a_snippet_runs_on_temporal(
    snippet: Snippet, ts_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not run_problems(snippet)  # the unit test says why
    monkeypatch.setenv("TEMPORAL_ADDRESS", ts_env.client.service_client.config.target_host)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", ts_env.client.namespace)
    for name in ("TEMPORAL_API_KEY", "PAYLOAD_KEYS", "PAYLOAD_KEY_FILE", "PAYLOAD_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    given = {"client": ts_env.client, "request": call_request()}
    with ts_env.auto_time_skipping_disabled():
        async with live_stack(ts_env.client, task_queue=DEFAULT_TASK_QUEUE) as stack:
            namespace = await run_snippet(snippet, {n: given[n] for n in snippet.given})
            placed = await stack.sim.calls()
    assert placed, f"{snippet.where} placed no call"
    assert all(call["call_status"] == "ended" for call in placed), placed
    results = [v for v in namespace.values() if isinstance(v, CallOutcome | CampaignSummary)]
    assert results, f"{snippet.where} ends with no outcome or summary"
    for result in results:
        if isinstance(result, CallOutcome):
            assert result.status == OutcomeStatus.COMPLETED, result
        else:
            assert result.finished == result.total > 0, result
            assert result.counts == {OutcomeStatus.COMPLETED: result.total}, result
