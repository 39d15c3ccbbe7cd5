"""Transcripts kept out of workflow state when the caller asks: dropped where calls are read."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from outbound_calls_client.models import OutcomeStatus, PrivacyOptions
from outbound_calls_client.retell_wire import CallEvent, RetellCall
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import (
    SimulatorAdmin,
    call_id_of,
    call_request,
    call_worker,
    deliver,
    history_plaintext,
)

PRIVATE = PrivacyOptions(keep_transcript=False, analysis_fields=("appointment_confirmed",))


def test_call_objects_drop_what_the_caller_did_not_want() -> None:
    raw = {
        "call_id": "call_1",
        "call_status": "ended",
        "metadata": PRIVATE.metadata(),
        "transcript": "User: my card number is 4111...",
        "call_analysis": {
            "call_summary": "The user read out a card number.",
            "call_successful": True,
            "custom_analysis_data": {"appointment_confirmed": True, "card": "4111"},
        },
    }
    call = RetellCall.model_validate(raw)
    assert call.transcript is None
    assert call.call_analysis is not None
    assert call.call_analysis.call_summary is None
    assert call.call_analysis.call_successful is True
    assert call.call_analysis.custom_analysis_data == {"appointment_confirmed": True}
    # Without the choice, everything stays.
    kept = RetellCall.model_validate({**raw, "metadata": {}})
    assert kept.transcript == raw["transcript"]


async def test_no_transcript_reaches_the_history(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin
) -> None:
    async with call_worker(ts_env.client, sim.base_url) as queue:
        handle = await start_call(
            ts_env.client, call_request("answered", privacy=PRIVATE), task_queue=queue
        )
        bodies = await sim.finished_events(await call_id_of(handle))
        assert "Zoë" in bodies["call_ended"]  # Retell sends it...
        await deliver(handle, bodies)  # ...parsed as the bridge parses it
        outcome = await handle.result()
        history = history_plaintext((await handle.fetch_history()).to_json())
    assert outcome.status == OutcomeStatus.COMPLETED
    assert outcome.transcript is None
    assert "customer_name" in history  # the decoding works: the request is in there
    assert "Zo" not in history
    assert CallEvent.model_validate_json(bodies["call_ended"]).call.transcript is None
