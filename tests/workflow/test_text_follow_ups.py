"""Text follow-ups (issue 29, item 6): one SMS through the simulator's create-sms-chat after
chosen outcomes, on the time-skipping server, a worker and the simulator over real HTTP."""

from __future__ import annotations

import csv
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.texts import LISTED_BY_RETELL, LISTED_BY_US, TextActivities
from adapters.do_not_call import SqliteDoNotCallList
from adapters.retell_client import RetellClient
from outbound_calls_client.campaign import CampaignRequest
from outbound_calls_client.contacts import CallTemplate, ContactSource
from outbound_calls_client.models import (
    CallingWindow,
    CallOutcome,
    CallRequest,
    OutcomeStatus,
    SendTextInput,
    TextFollowUp,
)
from outbound_calls_client.names import TEXT_METADATA_KEY
from outbound_calls_client.start import start_call, start_campaign
from tests.helpers.call_harness import (
    FROM_NUMBER,
    SIM_KEY,
    TO_NUMBER,
    SimulatorAdmin,
    call_request,
    call_worker,
    eventually,
    snapshot,
)

TEXT = {"after": ["no_answer", "voicemail"], "chat_agent_id": "chat_agent_test"}
LA = ZoneInfo("America/Los_Angeles")  # where TO_NUMBER (+1 415) rings


@pytest.fixture
def sim_time_scale() -> float:
    return 0.001


@pytest.fixture
async def dnc(tmp_path: Path) -> SqliteDoNotCallList:
    return SqliteDoNotCallList(tmp_path / "dnc.sqlite3")


@pytest.fixture
async def queue(
    ts_env: WorkflowEnvironment, sim: SimulatorAdmin, dnc: SqliteDoNotCallList
) -> AsyncIterator[str]:
    async with call_worker(ts_env.client, sim.base_url, do_not_call=dnc) as task_queue:
        yield task_queue


@pytest.fixture
async def retell(sim: SimulatorAdmin) -> AsyncIterator[RetellClient]:
    async with RetellClient(sim.base_url, SIM_KEY) as client:
        yield client


async def _sms_chats(sim: SimulatorAdmin) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        response = await http.get("/_sim/sms-chats")
    response.raise_for_status()
    chats: list[dict[str, Any]] = response.json()
    return chats


async def _run(env: WorkflowEnvironment, queue: str, request: CallRequest) -> CallOutcome:
    return await (await start_call(env.client, request, task_queue=queue)).result()


async def test_no_answer_sends_one_text_with_the_calls_variables(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    outcome = await _run(ts_env, queue, call_request("no_answer", text_follow_up=TEXT))
    assert outcome.status == OutcomeStatus.NO_ANSWER
    chats = await _sms_chats(sim)
    assert len(chats) == 1
    sent = chats[0]["request"]
    assert sent["to_number"] == TO_NUMBER
    assert sent["from_number"] == FROM_NUMBER
    assert sent["override_agent_id"] == "chat_agent_test"
    assert sent["retell_llm_dynamic_variables"] == {"customer_name": "Ada"}
    assert sent["honor_internal_dnc"] is True
    assert outcome.text is not None
    assert outcome.text.status == "sent"
    assert outcome.text.chat_id == chats[0]["chat"]["chat_id"]


async def test_an_answered_call_sends_no_text(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    outcome = await _run(ts_env, queue, call_request("answered", text_follow_up=TEXT))
    assert outcome.status == OutcomeStatus.COMPLETED
    assert outcome.text is None
    assert await _sms_chats(sim) == []


async def test_a_request_without_a_text_follow_up_reads_as_1_0(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    outcome = await _run(ts_env, queue, call_request("no_answer"))
    assert await _sms_chats(sim) == []
    assert "text" not in outcome.model_dump(mode="json")
    assert "text_follow_up" not in call_request("no_answer").model_dump(mode="json")


def _text(**overrides: Any) -> SendTextInput:
    fields: dict[str, Any] = {
        "dedupe_key": f"call-{uuid.uuid4().hex[:8]}/run",
        "to_number": TO_NUMBER,
        "from_number": FROM_NUMBER,
        "chat_agent_id": "chat_agent_test",
        "dynamic_variables": {"customer_name": "Ada"},
        **overrides,
    }
    return SendTextInput(**fields)


def _attempt(number: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=number)
    return env


async def test_a_retried_send_does_not_text_twice(
    sim: SimulatorAdmin, retell: RetellClient, dnc: SqliteDoNotCallList
) -> None:
    texts = TextActivities(retell, dnc)
    text = _text()
    first = await _attempt(1).run(texts.send_text, text)
    # A retry after a lost answer or a crashed worker: the text was sent already.
    again = await _attempt(2).run(texts.send_text, text)
    assert first.status == again.status == "sent"
    assert again.chat_id == first.chat_id
    assert len(await _sms_chats(sim)) == 1
    # Another call's text to the same person is its own.
    other = await _attempt(2).run(texts.send_text, _text())
    assert other.chat_id != first.chat_id
    assert len(await _sms_chats(sim)) == 2


async def test_a_number_on_our_list_gets_no_text(
    sim: SimulatorAdmin, retell: RetellClient, dnc: SqliteDoNotCallList
) -> None:
    await dnc.add(TO_NUMBER, "dnc requested")
    record = await _attempt(1).run(TextActivities(retell, dnc).send_text, _text())
    assert record.status == "not_sent"
    assert record.detail == LISTED_BY_US
    assert await _sms_chats(sim) == []


async def test_a_number_retell_lists_gets_no_text(
    sim: SimulatorAdmin, retell: RetellClient, dnc: SqliteDoNotCallList
) -> None:
    await sim.mark_do_not_call(TO_NUMBER)
    record = await _attempt(1).run(TextActivities(retell, dnc).send_text, _text())
    assert record.status == "not_sent"
    assert record.detail == LISTED_BY_RETELL
    assert await _sms_chats(sim) == []


def test_do_not_call_is_never_texted() -> None:
    with pytest.raises(ValidationError, match="do_not_call may not be texted"):
        TextFollowUp(after=frozenset({OutcomeStatus.DO_NOT_CALL}), chat_agent_id="chat_x")
    with pytest.raises(ValidationError, match="after"):
        TextFollowUp(after=frozenset(), chat_agent_id="chat_x")


# ----- calling hours ------------------------------------------------------------------------

# Calls from 09:00 to 09:05 in the callee's time; a call that hangs until max_duration_s (10
# minutes) cuts it ends timed_out at about 09:10, outside them, with its text still to send.
SHORT_HOURS = {"enabled": True, "start": "09:00", "end": "09:05"}
CUT_OFF = {"max_duration_s": 600}
AFTER_A_CUT = {"after": ["timed_out"], "chat_agent_id": "chat_agent_test"}


async def _at_nine_in_la(env: WorkflowEnvironment) -> datetime:
    """Skip the test server's clock to just past the next 09:00 in Los Angeles."""
    now = (await env.get_current_time()).astimezone(LA)
    nine = now.replace(hour=9, minute=0, second=0, microsecond=0)
    if nine <= now:
        nine += timedelta(days=1)
    await env.sleep(nine - now + timedelta(seconds=1))
    return nine


async def _send_text_scheduled_at(handle: WorkflowHandle[Any, Any]) -> list[datetime]:
    """When the run scheduled its send_text activity, by the server's clock."""
    return [
        event.event_time.ToDatetime(tzinfo=UTC)
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == "send_text"
    ]


async def test_a_text_due_outside_calling_hours_waits_for_them(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    nine = await _at_nine_in_la(ts_env)
    opening = (nine + timedelta(days=1)).astimezone(UTC)  # 09:00 the next morning
    request = call_request(
        "hangs_ongoing", calling_window=SHORT_HOURS, timeouts=CUT_OFF, text_follow_up=AFTER_A_CUT
    )
    handle = await start_call(ts_env.client, request, task_queue=queue)
    # Enough skipped time for the call and its cut, not for the night.
    await ts_env.sleep(timedelta(hours=1))

    async def waiting() -> bool:
        status = await snapshot(handle)
        return status.waiting_until == opening and status.call_id is not None

    await eventually(waiting, what="the text to wait for the next calling hours")
    status = await snapshot(handle)
    assert status.outcome is None  # the outcome waits for the text
    details = await handle.query("__temporal_workflow_metadata")
    assert details.current_details == f"text follow-up at {opening.isoformat()}"
    assert await _sms_chats(sim) == []
    [call] = await sim.calls()
    assert call["call_status"] == "ended"  # the call is over; only the text waits

    outcome = await handle.result()
    assert outcome.status == OutcomeStatus.TIMED_OUT
    assert outcome.text is not None
    assert outcome.text.status == "sent"
    [chat] = await _sms_chats(sim)
    assert outcome.text.chat_id == chat["chat"]["chat_id"]
    # Sent as the hours opened: the timer fired at 09:00 and the send followed at once.
    [scheduled] = await _send_text_scheduled_at(handle)
    assert opening <= scheduled < opening + timedelta(minutes=1), scheduled


async def test_a_text_whose_hours_open_over_a_day_later_is_not_sent(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin
) -> None:
    nine = await _at_nine_in_la(ts_env)
    # Calling hours on this weekday alone: after the cut they open again in a week.
    window = {**SHORT_HOURS, "days": [nine.isoweekday()]}
    request = call_request(
        "hangs_ongoing", calling_window=window, timeouts=CUT_OFF, text_follow_up=AFTER_A_CUT
    )
    handle = await start_call(ts_env.client, request, task_queue=queue)
    outcome = await handle.result()
    assert outcome.status == OutcomeStatus.TIMED_OUT
    assert outcome.text is not None
    assert outcome.text.status == "not_sent"
    next_week = (nine + timedelta(days=7)).astimezone(UTC)
    assert outcome.text.detail == (
        f"calling hours open at {next_week.isoformat()}, over 24 h after the call"
    )
    assert await _sms_chats(sim) == []
    assert await _send_text_scheduled_at(handle) == []
    # Given up at once, not after a wait: the run closed within the hour of the call.
    closed = (await handle.describe()).close_time
    assert closed is not None
    assert closed < nine + timedelta(hours=1), closed


# ----- campaigns ----------------------------------------------------------------------------

# Each row's number and how its call ends; the template texts after no_answer and voicemail.
CAMPAIGN_ROWS = (
    ("+14155550201", "no_answer"),
    ("+14155550202", "answered"),
    ("+14155550203", "voicemail"),
    ("+14155550204", "busy"),
    ("+14155550205", "no_answer"),
    ("+14155550206", "callback_requested"),
)
TEXTED_OUTCOMES = {"no_answer", "voicemail"}


async def test_a_campaign_template_texts_the_contacts_whose_outcome_matches(
    ts_env: WorkflowEnvironment, queue: str, sim: SimulatorAdmin, tmp_path: Path
) -> None:
    contacts = tmp_path / "contacts.csv"
    with contacts.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["to_number", "customer_name", "metadata.simulator_scenario"])
        for i, (number, scenario) in enumerate(CAMPAIGN_ROWS):
            writer.writerow([number, f"Ada {i}", scenario])
    template = CallTemplate(
        from_number=FROM_NUMBER,
        agent_id="agent_test",
        calling_window=CallingWindow(enabled=False),
        text_follow_up=TextFollowUp.model_validate(
            {"after": sorted(TEXTED_OUTCOMES), "chat_agent_id": "chat_agent_campaign"}
        ),
    )
    campaign = CampaignRequest(
        campaign_id=f"texts-{uuid.uuid4().hex[:8]}",
        contacts=ContactSource(location=str(contacts), template=template),
        max_in_flight=3,
    )
    summary = await (await start_campaign(ts_env.client, campaign, task_queue=queue)).result()
    assert summary.finished == len(CAMPAIGN_ROWS)

    chats = await _sms_chats(sim)
    expected = {
        number: f"Ada {i}"
        for i, (number, scenario) in enumerate(CAMPAIGN_ROWS)
        if scenario in TEXTED_OUTCOMES
    }
    # One text to each matching contact, none to anyone else, each with its own row's
    # variables and the template's chat agent and number.
    assert sorted(c["request"]["to_number"] for c in chats) == sorted(expected)
    for chat in chats:
        sent = chat["request"]
        assert sent["retell_llm_dynamic_variables"] == {
            "customer_name": expected[sent["to_number"]]
        }
        assert sent["override_agent_id"] == "chat_agent_campaign"
        assert sent["from_number"] == FROM_NUMBER
        assert sent["honor_internal_dnc"] is True
    # Each call texted under its own key (its workflow), so no two rows share one.
    keys = {c["chat"]["metadata"][TEXT_METADATA_KEY] for c in chats}
    assert len(keys) == len(expected)
