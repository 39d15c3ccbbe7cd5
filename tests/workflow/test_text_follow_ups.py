"""Text follow-ups (issue 29, item 6): one SMS through the simulator's create-sms-chat after
chosen outcomes, on the time-skipping server, a worker and the simulator over real HTTP."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.texts import LISTED_BY_RETELL, LISTED_BY_US, TextActivities
from adapters.do_not_call import SqliteDoNotCallList
from adapters.retell_client import RetellClient
from outbound_calls_client.models import (
    CallOutcome,
    CallRequest,
    OutcomeStatus,
    SendTextInput,
    TextFollowUp,
)
from outbound_calls_client.start import start_call
from tests.helpers.call_harness import (
    FROM_NUMBER,
    SIM_KEY,
    TO_NUMBER,
    SimulatorAdmin,
    call_request,
    call_worker,
)

TEXT = {"after": ["no_answer", "voicemail"], "chat_agent_id": "chat_agent_test"}


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
