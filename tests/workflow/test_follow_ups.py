"""Redials, calling hours, do-not-call, outcome delivery, cancel and parent workflows, on the
time-skipping server (days pass in milliseconds) against the simulator over real HTTP."""

from __future__ import annotations

import itertools
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI, Request, Response
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.outcome_delivery import OUTCOME_SIGNATURE_HEADER
from adapters.do_not_call import SqliteDoNotCallList
from adapters.registry import SourceFile
from calls.signatures import InvalidSignature, verify_retell_signature
from outbound_calls_client.models import CallOutcome, CallRequest, OutcomeStatus
from outbound_calls_client.start import start_call
from simulator.server import serve_asgi_app
from tests.helpers.call_harness import (
    TO_NUMBER,
    SimulatorAdmin,
    call_request,
    call_worker,
    eventually,
    snapshot,
)
from tests.helpers.example_parent import AppointmentReminderWorkflow
from workflows.outbound_call import OutboundCallWorkflow

LONDON_NUMBER = "+442071838750"
REDIALS = {"max_attempts": 3, "initial_delay_s": 600, "backoff": 2}


@pytest.fixture
def sim_time_scale() -> float:
    # Calls end within milliseconds of real time, so a poll after skipped time finds them ended.
    return 0.001


@pytest.fixture
async def dnc(tmp_path: Path) -> SqliteDoNotCallList:
    return SqliteDoNotCallList(tmp_path / "dnc.sqlite3")


@pytest.fixture
async def queue(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, dnc: SqliteDoNotCallList
) -> AsyncIterator[str]:
    async with call_worker(
        ts_env.client,
        sim.base_url,
        do_not_call=dnc,
        extra_workflows=[AppointmentReminderWorkflow],
    ) as task_queue:
        yield task_queue


async def _run(env: WorkflowEnvironment, queue: str, request: CallRequest) -> CallOutcome:
    return await (await start_call(env.client, request, task_queue=queue)).result()


async def test_no_answer_twice_then_answered(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    request = call_request("no_answer,no_answer,answered", redial=REDIALS)
    outcome = await _run(ts_env, queue, request)
    assert outcome.status == OutcomeStatus.COMPLETED
    assert [a.status for a in outcome.attempts] == [
        OutcomeStatus.NO_ANSWER,
        OutcomeStatus.NO_ANSWER,
        OutcomeStatus.COMPLETED,
    ]
    assert len({a.call_id for a in outcome.attempts}) == 3  # each attempt is a new call
    dialed = [a.dialed_at for a in outcome.attempts if a.dialed_at is not None]
    assert len(dialed) == 3
    gaps = [b - a for a, b in itertools.pairwise(dialed)]
    assert gaps[0] >= timedelta(seconds=600)
    assert gaps[1] >= timedelta(seconds=1200)  # backoff doubles the wait
    assert len(await sim.calls(TO_NUMBER)) == 3


async def test_busy_until_max_attempts(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    outcome = await _run(ts_env, queue, call_request("busy", redial=REDIALS))
    assert outcome.status == OutcomeStatus.BUSY
    assert [a.attempt for a in outcome.attempts] == [1, 2, 3]
    assert all(a.disconnection_reason == "dial_busy" for a in outcome.attempts)
    assert len(await sim.calls(TO_NUMBER)) == 3


async def test_completed_is_never_redialed(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    outcome = await _run(ts_env, queue, call_request("answered", redial=REDIALS))
    assert outcome.status == OutcomeStatus.COMPLETED
    assert len(outcome.attempts) == 1


async def _advance_to_local(env: WorkflowEnvironment, zone: str, hour: int) -> datetime:
    """Skip the test server's clock forward to the next ``hour``:00 in ``zone``."""
    now = await env.get_current_time()
    local = now.astimezone(ZoneInfo(zone))
    target = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= local:
        target += timedelta(days=1)
    await env.sleep(target - local + timedelta(seconds=1))
    return await env.get_current_time()


async def test_late_request_waits_for_the_callees_morning(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    started = await _advance_to_local(ts_env, "America/Los_Angeles", 23)
    window = {"enabled": True}
    la = await start_call(ts_env.client, call_request(calling_window=window), task_queue=queue)
    london = await start_call(
        ts_env.client,
        call_request(to_number=LONDON_NUMBER, calling_window=window),
        task_queue=queue,
    )

    async def waiting() -> bool:
        phases = {(await snapshot(h)).phase for h in (la, london)}
        return phases == {"waiting_for_window"}

    await eventually(waiting, what="both calls to wait for their calling window")
    assert await sim.calls() == []  # nothing dialed at 23:00 local

    la_dialed = (await la.result()).attempts[0].dialed_at
    london_dialed = (await london.result()).attempts[0].dialed_at
    assert la_dialed is not None
    assert london_dialed is not None
    # Each number follows its own zone: 09:00 local, the first morning after the request.
    for dialed, zone in ((la_dialed, "America/Los_Angeles"), (london_dialed, "Europe/London")):
        local = dialed.astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute) == (9, 0), (zone, local)
        assert timedelta(0) < dialed - started < timedelta(days=1)
    assert la_dialed != london_dialed


async def test_listed_number_is_never_dialed(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin, dnc: SqliteDoNotCallList
) -> None:
    await dnc.add(TO_NUMBER, "asked by email")
    outcome = await _run(ts_env, queue, call_request())
    assert outcome.status == OutcomeStatus.DO_NOT_CALL
    assert outcome.attempts == ()
    assert await sim.requests("/create-phone-call") == []


async def test_a_number_on_a_registry_source_is_never_dialed(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin, dnc: SqliteDoNotCallList
) -> None:
    await dnc.import_source(
        "national-2026-12", iter([TO_NUMBER]), SourceFile("national.txt", "0" * 64)
    )
    outcome = await _run(ts_env, queue, call_request())
    assert outcome.status == OutcomeStatus.DO_NOT_CALL
    assert outcome.detail == "to_number is on the do-not-call list"
    assert outcome.attempts == ()
    assert await sim.requests("/create-phone-call") == []
    # The source, and nothing else, kept it from being dialed.
    assert await dnc.remove_source("national-2026-12") == 1
    assert (await _run(ts_env, queue, call_request())).status == OutcomeStatus.COMPLETED
    assert len(await sim.requests("/create-phone-call")) == 1


async def test_dnc_requested_blocks_the_next_request(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin, dnc: SqliteDoNotCallList
) -> None:
    first = await _run(ts_env, queue, call_request("dnc_requested", redial=REDIALS))
    assert first.status == OutcomeStatus.DO_NOT_CALL
    assert len(first.attempts) == 1  # never again, even with redials left
    assert await dnc.contains(TO_NUMBER)
    second = await _run(ts_env, queue, call_request("answered"))
    assert second.status == OutcomeStatus.DO_NOT_CALL
    assert second.attempts == ()
    assert len(await sim.calls(TO_NUMBER)) == 1


async def test_retell_do_not_call_refusal_ends_do_not_call_and_lists_the_number(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin, dnc: SqliteDoNotCallList
) -> None:
    # Marked do-not-call at Retell (its dashboard, an SMS STOP), not on our list yet.
    await sim.mark_do_not_call(TO_NUMBER)
    outcome = await _run(ts_env, queue, call_request("answered", redial=REDIALS))
    assert outcome.status == OutcomeStatus.DO_NOT_CALL
    assert [a.status for a in outcome.attempts] == [OutcomeStatus.DO_NOT_CALL]
    assert outcome.call_id is None
    assert await sim.calls(TO_NUMBER) == []
    assert await dnc.contains(TO_NUMBER)


async def test_billing_refusal_is_an_account_error_without_redials(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    outcome = await _run(ts_env, queue, call_request("trial_ended", redial=REDIALS))
    assert outcome.status == OutcomeStatus.ACCOUNT_ERROR
    assert len(outcome.attempts) == 1
    assert outcome.detail is not None
    assert "402" in outcome.detail
    assert await sim.calls(TO_NUMBER) == []
    assert len(await sim.requests("/create-phone-call")) == 1


async def test_callback_requested_is_called_back_after_the_delay(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    request = call_request(
        "callback_requested,answered",
        redial={"max_attempts": 2, "initial_delay_s": 60, "callback_delay_s": 7200},
    )
    outcome = await _run(ts_env, queue, request)
    assert [a.status for a in outcome.attempts] == [
        OutcomeStatus.CALLBACK_REQUESTED,
        OutcomeStatus.COMPLETED,
    ]
    first, second = (a.dialed_at for a in outcome.attempts)
    assert first is not None
    assert second is not None
    assert second - first >= timedelta(hours=2)


class _Receiver:
    """An HTTP endpoint that refuses the first ``failures`` deliveries."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[bytes, str | None]] = []
        self.app = FastAPI()
        self.app.add_api_route("/outcomes", self.receive, methods=["POST"])

    async def receive(self, request: Request) -> Response:
        self.received.append((await request.body(), request.headers.get(OUTCOME_SIGNATURE_HEADER)))
        return Response(status_code=500 if len(self.received) <= self.failures else 204)


async def test_outcome_is_delivered_signed_and_retried(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    receiver = _Receiver(failures=2)
    key = "outcome-key-" + uuid.uuid4().hex
    async with serve_asgi_app(receiver.app) as served:
        with tempfile.TemporaryDirectory() as tmp:
            async with call_worker(
                ts_env.client,
                sim.base_url,
                outcome_signing_key=key,
                # A loopback receiver: allowed only because it is listed.
                outcome_url_allowed_hosts="127.0.0.1",
                do_not_call=SqliteDoNotCallList(Path(tmp) / "dnc.sqlite3"),
            ) as task_queue:
                request = call_request(outcome_url=f"{served.base_url}/outcomes")
                outcome = await _run(ts_env, task_queue, request)
    assert len(receiver.received) == 3  # two refusals, then accepted
    body, header = receiver.received[-1]
    verify_retell_signature(key, body, header)
    assert CallOutcome.model_validate_json(body) == outcome
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_retell_signature("another-key", body, header)


async def test_cancel_during_redial_wait(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    request = call_request("no_answer", redial={"max_attempts": 3, "initial_delay_s": 3600})
    handle: WorkflowHandle[Any, CallOutcome] = await start_call(
        ts_env.client, request, task_queue=queue
    )

    async def waiting_to_redial() -> bool:
        state = await snapshot(handle)
        if state.phase == "ringing":
            # The poll fallback needs skipped time; let the server skip a little.
            await ts_env.sleep(timedelta(seconds=100))
        return state.phase == "waiting_to_redial"

    await eventually(waiting_to_redial, what="the workflow to wait for a redial")
    outcome = await handle.execute_update(OutboundCallWorkflow.cancel, "customer paid")
    assert outcome.status == OutcomeStatus.CANCELED
    assert len(outcome.attempts) == 1
    assert len(await sim.calls(TO_NUMBER)) == 1


async def test_parent_workflow_gets_the_childs_outcome_once(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    request = call_request("answered")
    first: str = await ts_env.client.execute_workflow(
        AppointmentReminderWorkflow.run,
        request,
        id=f"reminder-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )
    assert first.startswith("reminded by call call_")
    # Another parent with the same dedupe key: no second call, the same outcome.
    second: str = await ts_env.client.execute_workflow(
        AppointmentReminderWorkflow.run,
        request,
        id=f"reminder-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )
    assert second == first
    assert len(await sim.calls(TO_NUMBER)) == 1
    child = ts_env.client.get_workflow_handle(f"call-{request.dedupe_key}")
    assert (await child.describe()).parent_id is not None
