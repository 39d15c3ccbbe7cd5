"""Contacts fetched within the worker's rules, against real parts: the contact activities
reading from raw loopback HTTP servers (what they send is the point), and campaigns on the
dev server whose start fails, naming the rule, before the simulator sees a single call."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities import heartbeats
from activities.contacts import ContactActivities
from adapters.contacts_locations import ContactsLocationPolicy
from calls.contacts_file import ReadLimits
from outbound_calls_client.campaign import CampaignRequest
from outbound_calls_client.contacts import CallTemplate, ContactSource
from outbound_calls_client.models import CallingWindow
from outbound_calls_client.start import start_campaign
from tests.helpers.call_harness import call_worker, simulator_admin
from workflows.campaign import FILE_HEARTBEAT_TIMEOUT

pytestmark = pytest.mark.integration

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
TEMPLATE = CallTemplate(
    from_number="+12125550199", agent_id="agent_test", calling_window=CallingWindow(enabled=False)
)
CSV = b"to_number,name\n+14155550101,Ada\n+14155550102,Bob\n"


class Server:
    """A raw HTTP server on loopback: counts the requests it got."""

    def __init__(self, answer: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> None:
        self.requests = 0
        self._answer = answer

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        try:
            await self._answer(writer)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[str]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        listening.close()


async def _redirect(writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest/\r\n"
        b"content-length: 0\r\n\r\n"
    )
    await writer.drain()


async def _endless(writer: asyncio.StreamWriter) -> None:
    """200 and a chunked body that never ends (no content-length to refuse it by)."""
    writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    writer.write(b"%x\r\n%s\r\n" % (len(CSV), CSV))
    chunk = b"+14155550103,Cy\n" * 1024
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()


async def _slow(writer: asyncio.StreamWriter) -> None:
    """The file, a line every 0.3 s: a read that takes a while."""
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(CSV))
    for line in CSV.splitlines(keepends=True):
        writer.write(line)
        await writer.drain()
        await asyncio.sleep(0.3)


def _source(location: str) -> ContactSource:
    return ContactSource(location=location, template=TEMPLATE)


async def _refusal(activities: ContactActivities, location: str) -> ApplicationError:
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(activities.open_contacts, _source(location))
    assert refused.value.non_retryable, "a broken rule is final: retrying cannot mend it"
    return refused.value


async def test_a_private_address_url_is_refused_before_connecting() -> None:
    server = Server(_slow)
    async with serving(server) as base:
        https = base.replace("http://", "https://")
        error = await _refusal(ContactActivities(), f"{https}/contacts.csv")
    assert "rule: public_address" in str(error)
    assert "127.0.0.1" in str(error)
    assert "CONTACTS_ALLOWED_LOCATIONS" in str(error)
    assert server.requests == 0


async def test_a_redirect_is_refused_not_followed() -> None:
    server = Server(_redirect)
    async with serving(server) as base:
        policy = ContactsLocationPolicy([base])  # the loopback origin listed: http allowed
        error = await _refusal(ContactActivities(policy), f"{base}/contacts.csv")
    assert "rule: no_redirects" in str(error)
    assert "http://169.254.169.254/latest/" in str(error)
    assert server.requests == 1  # the redirect's target was never asked


async def test_a_download_stops_at_the_byte_cap() -> None:
    server = Server(_endless)
    async with serving(server) as base:
        activities = ContactActivities(
            ContactsLocationPolicy([base]), ReadLimits(max_bytes=256 * 1024)
        )
        error = await asyncio.wait_for(_refusal(activities, f"{base}/contacts.csv"), 30)
    assert "over 262144 bytes" in str(error)
    assert "CONTACTS_MAX_BYTES" in str(error)


async def test_the_read_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    # The read takes about 1 s; beats come every 0.2 s here instead of every 5 s.
    monkeypatch.setattr(heartbeats, "HEARTBEAT_EVERY_S", 0.2)
    server = Server(_slow)
    beats: list[Any] = []
    environment = ActivityEnvironment()
    environment.on_heartbeat = lambda *details: beats.append(details)
    async with serving(server) as base:
        activities = ContactActivities(ContactsLocationPolicy([base]))
        opened = await environment.run(activities.open_contacts, _source(f"{base}/c.csv"))
    assert opened.records == 2
    assert beats, "the read never heartbeat: a dead worker's read would wait out 30 minutes"


# ----- a campaign's start, on the dev server ----------------------------------------------------


async def _failed_start(
    dev_env: WorkflowEnvironment, contacts: Path, **worker_settings: Any
) -> tuple[str, list[Any]]:
    """The campaign's failure message, and the events of the contact activity it scheduled."""
    async with (
        simulator_admin() as sim,
        call_worker(dev_env.client, sim.base_url, **worker_settings) as queue,
    ):
        request = CampaignRequest(
            campaign_id=f"rules-{uuid.uuid4().hex[:8]}",
            contacts=_source(str(contacts)),
            max_in_flight=2,
        )
        handle = await start_campaign(dev_env.client, request, task_queue=queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), 60)
        assert await sim.calls() == [], "a call was placed from a refused file"
        scheduled = [
            e.activity_task_scheduled_event_attributes
            async for e in handle.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
    cause = failed.value.cause
    while cause.__cause__ is not None:
        cause = cause.__cause__
    return str(cause), scheduled


async def test_a_file_outside_the_allowed_directory_fails_the_start(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    allowed = tmp_path / "contacts"
    allowed.mkdir()
    outside = tmp_path / "elsewhere.csv"
    outside.write_bytes(CSV)
    message, scheduled = await _failed_start(
        dev_env, outside, contacts_allowed_locations=str(allowed)
    )
    assert f"contacts file {outside}" in message
    assert "CONTACTS_ALLOWED_LOCATIONS" in message
    assert "rule: allowed_locations" in message
    # The refusal is final: one attempt, no ten retries of a rule that cannot change.
    assert [s.activity_type.name for s in scheduled] == ["open_contacts"]
    # And the read has a heartbeat timeout: a dead worker's read is retried within it.
    assert scheduled[0].heartbeat_timeout.ToTimedelta() == FILE_HEARTBEAT_TIMEOUT


async def test_a_line_over_the_cap_fails_the_start(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes(CSV + b"+14155550103," + b"x" * 2000 + b"\n")
    message, _ = await _failed_start(dev_env, contacts, contacts_max_line_bytes=1024)
    assert "line 4 is over 1024 bytes" in message
    assert "CONTACTS_MAX_LINE_BYTES" in message


async def test_a_file_over_the_byte_cap_fails_the_start(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes(CSV)
    message, _ = await _failed_start(dev_env, contacts, contacts_max_bytes=len(CSV) - 1)
    assert "CONTACTS_MAX_BYTES" in message
