"""``campaign report``, ``report`` and ``campaign status --watch`` on the dev server with every
part real (simulator → bridge → Temporal → worker in this process, the CLI as a subprocess):
a finished campaign of mixed scenarios from a pool of two numbers; its report's figures
against its results CSV, the page referencing nothing outside itself, every chart drawn in
headless Chromium; a running campaign's report saying it is partial; the watch following a
campaign to its end."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from adapters.caller_ids import SqliteCallerIdStore
from outbound_calls_client.campaign import CampaignRequest
from outbound_calls_client.contacts import CallTemplate, ContactSource
from outbound_calls_client.models import CallingWindow, OutcomeStatus, RedialPolicy
from outbound_calls_client.start import start_campaign
from tests.helpers.call_harness import LiveStack, eventually, live_stack
from tests.helpers.chromium import HeadlessChromium
from tests.helpers.cli_runner import CLI, cli_env, run_cli
from workflows.campaign import CampaignWorkflow

pytestmark = pytest.mark.integration

# Ours, in the pool "sales": each callee is dialed from the one of its area code.
SF, NY = "+14155550100", "+12125550100"
# Both mask to +1********00: the report tells them apart in number order.
MASKED = {"+1********00 #1": NY, "+1********00 #2": SF}
CHARTS = (
    "dials-over-time",
    "answer-rate-by-local-hour",
    "answer-rate-by-caller",
    "attempts-per-contact",
    "talk-time",
)
# (area code, scenario, talk ms): the mix of a real campaign, and one redial that answers.
CONTACTS = (
    ("415", "answered", 400),
    ("415", "answered", 1800),
    ("415", "no_answer", None),
    ("415", "voicemail", 300),
    ("415", "dnc_requested", 500),
    ("415", "no_answer,answered", 900),
    ("212", "answered", 700),
    ("212", "busy", None),
    ("212", "callback_requested", 600),
    ("212", "answered", 2400),
)


class Page(HTMLParser):
    """What a test reads of a report: its figures, its tables, whether it says partial."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.partial = False
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._header: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-figure" in found:
            self.figures[str(found["data-figure"])] = str(found["data-value"])
        if "data-partial" in found:
            self.partial = True
        if tag == "table":
            self._table, self._header = str(found["data-table"]), []
            self.tables[self._table] = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if not self._header:
                self._header = self._row
            else:
                self.tables[self._table].append(dict(zip(self._header, self._row, strict=True)))
            self._row = None
        elif tag == "table":
            self._table = None


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    env: dict[str, str]
    scratch: Path
    callees: tuple[str, ...]
    store: SqliteCallerIdStore


@pytest.fixture(scope="module")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[LiveStack, SqliteCallerIdStore, Path]]:
    root = tmp_path_factory.mktemp("report")
    store = SqliteCallerIdStore(root / "pools.sqlite3")
    for number in (SF, NY):
        await store.add(number, "sales", None)
    async with live_stack(dev_env.client, time_scale=0.002, caller_ids=store) as running:
        yield running, store, root


def _env(dev_env: WorkflowEnvironment, stack: LiveStack, root: Path) -> dict[str, str]:
    # The CLI reads the pools from the workers' store, as an operator's would.
    return cli_env(
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        TEMPORAL_TASK_QUEUE=stack.task_queue,
        DO_NOT_CALL_DB=str(root / "pools.sqlite3"),
    )


def _request(campaign_id: str, contacts: Path) -> CampaignRequest:
    return CampaignRequest(
        campaign_id=campaign_id,
        contacts=ContactSource(
            location=str(contacts),
            template=CallTemplate(
                caller_id_pool="sales",
                agent_id="agent_test",
                calling_window=CallingWindow(enabled=False),
                redial=RedialPolicy(
                    max_attempts=2,
                    initial_delay_s=5,  # the floor: the no_answer rows redial once
                    retry_on=frozenset({OutcomeStatus.NO_ANSWER}),
                ),
            ),
        ),
    )


def _write_contacts(path: Path, rows: list[tuple[str, str, int | None]]) -> tuple[str, ...]:
    callees = []
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["to_number", "metadata.simulator_scenario", "metadata.simulator_talk_ms"])
        for area, scenario, talk in rows:
            callee = f"+1{area}555{uuid.uuid4().int % 10_000:04d}"
            callees.append(callee)
            writer.writerow([callee, scenario, 0 if talk is None else talk])
        writer.writerow(["+99912", "answered", ""])  # a bad row
    return tuple(callees)


async def _calls_closed(dev_env: WorkflowEnvironment, campaign_id: str) -> None:
    running = (
        f'WorkflowType = "OutboundCallWorkflow" AND CampaignId = "{campaign_id}"'
        ' AND ExecutionStatus = "Running"'
    )

    async def closed() -> bool:
        return (await dev_env.client.count_workflows(running)).count == 0

    await eventually(closed, timeout_s=30, what="the campaign's calls to close")


@pytest.fixture(scope="module")
async def finished(
    dev_env: WorkflowEnvironment, stack: tuple[LiveStack, SqliteCallerIdStore, Path]
) -> Campaign:
    """A campaign run to its end, then one of its numbers rested by hand."""
    running, store, root = stack
    scratch = root / "finished"
    scratch.mkdir()
    campaign_id = f"report-{uuid.uuid4().hex[:8]}"
    contacts = scratch / "contacts.csv"
    callees = _write_contacts(contacts, list(CONTACTS))
    handle = await start_campaign(
        dev_env.client, _request(campaign_id, contacts), task_queue=running.task_queue
    )
    summary = await handle.result()
    assert summary.finished == len(CONTACTS), (summary.invalid_rows, summary.bad_rows[:3])
    await _calls_closed(dev_env, campaign_id)
    await store.rest(NY, datetime.now(UTC) + timedelta(hours=1), "rested for the test")
    return Campaign(campaign_id, _env(dev_env, running, root), scratch, callees, store)


@pytest.fixture(scope="module")
async def report(finished: Campaign) -> tuple[Path, Path, Path]:
    """The results CSV and the report (and its PNGs) of the finished campaign, by the CLI."""
    results, page, pngs = (
        finished.scratch / "results.csv",
        finished.scratch / "report.html",
        finished.scratch / "png",
    )
    exported, made = await asyncio.gather(
        run_cli(
            "campaign", "results", finished.campaign_id, "--out", str(results),
            env=finished.env, cwd=finished.scratch,
        ),
        run_cli(
            "campaign", "report", finished.campaign_id, "--out", str(page), "--png", str(pngs),
            env=finished.env, cwd=finished.scratch,
        ),
    )  # fmt: skip
    assert exported.code == 0, exported.err
    assert made.code == 0, made.err
    assert f"report written to {page}, 5 chart(s) as PNG" in made.err
    return results, page, pngs


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


async def test_the_reports_figures_are_the_results_csvs(
    finished: Campaign, report: tuple[Path, Path, Path]
) -> None:
    results, html, _ = report
    rows = _csv_rows(results)
    page = Page(html.read_text())
    figures = page.figures
    statuses = Counter(r["status"] for r in rows)
    assert statuses["invalid_row"] == 1, statuses
    assert statuses["completed"] == 5, statuses
    assert int(figures["contacts"]) == len(rows) == len(CONTACTS) + 1
    assert int(figures["invalid_rows"]) == 1
    assert int(figures["dialed"]) == sum(1 for r in rows if r["call_id"])
    assert int(figures["reached"]) == statuses["completed"] + statuses["returned_call"]
    assert int(figures["returned_calls"]) == statuses["returned_call"]
    assert (
        int(figures["do_not_call_learned"])
        == sum(1 for r in rows if r["status"] == "do_not_call" and r["call_id"])
        == 1
    )
    talk = sum(
        (
            datetime.fromisoformat(r["ended_at"]) - datetime.fromisoformat(r["started_at"])
        ).total_seconds()
        for r in rows
        if r["started_at"] and r["ended_at"]
    )  # only a last attempt talks in this campaign
    assert float(figures["talk_minutes"]) == pytest.approx(talk / 60, abs=1e-6)
    assert talk > 6.0
    # Dials: every attempt of a dialed contact (one redial each for the two no_answer rows).
    dials = sum(int(r["attempts"]) for r in rows if r["call_id"])
    assert int(figures["dials"]) == dials == len(CONTACTS) + 2
    # Answered: a person picked up (completed, callback_requested, do_not_call).
    assert float(figures["answer_rate"]) == pytest.approx(7 / dials, abs=1e-4)
    assert {r["status"]: int(r["contacts"]) for r in page.tables["counts"]} == dict(statuses)
    assert not page.partial

    attempts = Counter(r["attempts"] for r in rows if r["status"] != "invalid_row")
    assert {r["attempts"]: int(r["contacts"]) for r in page.tables["attempts-per-contact"]} == (
        dict(attempts)
    )
    by_caller = {r["number"]: r for r in page.tables["answer-rate-by-caller"]}
    assert set(by_caller) == set(MASKED)
    for label, number in MASKED.items():
        dialed_from = [r for r in rows if r["from_number"] == number and r["call_id"]]
        assert int(by_caller[label]["dials"]) == sum(int(r["attempts"]) for r in dialed_from)
    assert by_caller["+1********00 #1"]["rested"] == "yes"  # NY, rested by hand
    assert by_caller["+1********00 #2"]["rested"] == "no"

    hours = page.tables["answer-rate-by-local-hour"]
    assert sum(int(r["dials"]) for r in hours) == dials
    now = datetime.now(UTC)
    possible = {
        f"{(now - timedelta(minutes=m)).astimezone(ZoneInfo(zone)).hour:02d}"
        for zone in ("America/Los_Angeles", "America/New_York")
        for m in range(0, 6)
    }
    assert {r["local hour"] for r in hours} <= possible
    over_time = page.tables["dials-over-time"]
    assert sum(int(r["dials"]) for r in over_time) == dials
    (spread,) = page.tables["talk-time"]
    assert float(spread["total (min)"]) == pytest.approx(talk / 60, abs=0.05)

    # The numbers' health as `numbers list` shows it, masked, the rested one marked.
    health = {r["number"]: r for r in page.tables["health"]}
    assert set(health) == set(MASKED)
    assert health["+1********00 #1"]["rested_reason"] == "rested for the test"
    assert health["+1********00 #2"]["rested_until"] == "-"
    listed = await run_cli(
        "numbers", "list", "--pool", "sales", "-o", "json", env=finished.env, cwd=finished.scratch
    )
    assert listed.code == 0, listed.err
    for number in json.loads(listed.out):
        shown = health[next(k for k, v in MASKED.items() if v == number["number"])]
        assert int(shown["calls"]) == number["calls"]
        assert int(shown["answered"]) == number["answered"]


async def test_the_report_references_nothing_outside_itself_and_shows_no_number(
    finished: Campaign, report: tuple[Path, Path, Path]
) -> None:
    _, html, pngs = report
    text = html.read_text()
    for outside in ("http:", "https:", "//", "src=", "@import", "<script", "<link", "<img"):
        assert outside not in text, outside
    assert set(re.findall(r'href="([^"]*)"', text)) <= {
        f"#{m}" for m in re.findall(r'id="([^"]+)"', text)
    }, "a link to something not in the page"
    assert set(re.findall(r"url\(([^)]*)\)", text)) <= {
        f"#{m}" for m in re.findall(r'id="([^"]+)"', text)
    }
    # No number in clear: neither ours nor a callee's, in any form.
    for number in (SF, NY, *finished.callees):
        assert number[2:] not in text, number
    for chart in CHARTS:
        with Image.open(pngs / f"{chart}.png") as image:
            assert image.format == "PNG"
            assert image.width >= 600
            assert image.height >= 300


async def test_every_chart_draws_in_headless_chromium(report: tuple[Path, Path, Path]) -> None:
    _, html, _ = report
    measure = """JSON.stringify([...document.querySelectorAll('figure.chart')].map(f => {
        const svg = f.querySelector('svg'), r = svg.getBoundingClientRect(), b = svg.getBBox();
        return {name: f.dataset.chart, x: r.left + scrollX, y: r.top + scrollY,
                width: r.width, height: r.height, drawnWidth: b.width, drawnHeight: b.height,
                shapes: svg.querySelectorAll('path, use').length};
    }))"""
    with HeadlessChromium(width=1200, height=900) as browser:
        opened = browser.open(html, measure)
        charts = json.loads(opened.measured)
        assert [c["name"] for c in charts] == list(CHARTS)
        # The page asked for nothing but itself (its own CSP was bypassed to see that).
        assert opened.requests == [opened.url]
        for chart in charts:
            assert chart["width"] > 300, chart
            assert chart["height"] > 150, chart
            assert chart["drawnWidth"] > 200, chart
            assert chart["drawnHeight"] > 100, chart
            assert chart["shapes"] > 20, chart
            clip = {k: chart[k] for k in ("x", "y", "width", "height")}
            with Image.open(io.BytesIO(browser.screenshot(clip))) as shot:
                pixels = shot.convert("RGB")
                colours = pixels.getcolors(maxcolors=1 << 16) or []
                background = max(colours)[1] if colours else (255, 255, 255)
                inked = sum(n for n, colour in colours if colour != background)
            assert len(colours) > 8, chart["name"]
            assert inked > 0.02 * shot.width * shot.height, chart["name"]


async def test_a_running_campaigns_report_is_partial_and_so_is_the_periods(
    dev_env: WorkflowEnvironment, stack: tuple[LiveStack, SqliteCallerIdStore, Path]
) -> None:
    running, _, root = stack
    scratch = root / "running"
    scratch.mkdir()
    campaign_id = f"partial-{uuid.uuid4().hex[:8]}"
    contacts = scratch / "contacts.csv"
    _write_contacts(contacts, [("415", "answered", 200), ("212", "hangs_ongoing", None)])
    handle = await start_campaign(
        dev_env.client, _request(campaign_id, contacts), task_queue=running.task_queue
    )
    try:

        async def one_finished() -> bool:
            return (await handle.query(CampaignWorkflow.progress)).finished == 1

        await eventually(one_finished, timeout_s=30, what="the answered call to finish")
        env = _env(dev_env, running, root)
        page_file, period_file = scratch / "report.html", scratch / "period.html"
        made, period = await asyncio.gather(
            run_cli("campaign", "report", campaign_id, "--out", str(page_file),
                    env=env, cwd=scratch),
            run_cli("report", "--since", "1h", "--out", str(period_file), env=env, cwd=scratch),
        )  # fmt: skip
        assert made.code == 0, made.err
        assert "the campaign is still running: the report is partial" in made.err
        page = Page(page_file.read_text())
        assert page.partial
        assert "the campaign is still running (1 of 3 contacts finished" in (page_file.read_text())
        assert int(page.figures["in_progress"]) == 1
        assert int(page.figures["reached"]) == 1
        assert period.code == 0, period.err
        whole = Page(period_file.read_text())
        assert whole.partial  # the hanging call is open
        # And every other call of the last hour on its task queue: only those (another
        # deployment's, encrypted with keys this command lacks, would fail the read).
        assert int(whole.figures["contacts"]) >= 2
        assert f"on task queue {running.task_queue} since" in period_file.read_text()

        # Ctrl-C stops the watch, not the campaign.
        watch = await asyncio.create_subprocess_exec(
            CLI, "campaign", "status", campaign_id, "--watch", cwd=scratch, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert watch.stderr is not None
        first = await asyncio.wait_for(watch.stderr.readline(), timeout=30)
        assert b"1 of 3 finished, 1 in flight" in first, first
        watch.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(watch.communicate(), timeout=30)
        assert watch.returncode == 130, err
        assert f"stopped watching campaign-{campaign_id}; the campaign goes on" in err.decode()
        assert not out
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await handle.execute_update(CampaignWorkflow.cancel, "test over")
        await handle.result()


async def test_campaign_status_watch_follows_the_campaign_to_its_end(
    dev_env: WorkflowEnvironment, stack: tuple[LiveStack, SqliteCallerIdStore, Path]
) -> None:
    running, _, root = stack
    scratch = root / "watch"
    scratch.mkdir()
    campaign_id = f"watch-{uuid.uuid4().hex[:8]}"
    contacts = scratch / "contacts.csv"
    # Long enough to outlast the CLI's start (the watch must see it running).
    _write_contacts(contacts, [("415", "answered", 6000), ("212", "busy", None)] * 2)
    await start_campaign(
        dev_env.client, _request(campaign_id, contacts), task_queue=running.task_queue
    )
    env = _env(dev_env, running, root)
    args = ("campaign", "status", campaign_id, "--watch", "-o", "json")
    # Piped: a line each time the progress changes. On a terminal: Rich's live view.
    piped, on_terminal = await asyncio.gather(
        run_cli(*args, env=env, cwd=scratch, timeout_s=60),
        _run_on_terminal(args, {**env, "TERM": "xterm-256color", "COLUMNS": "100"}, scratch),
    )
    assert piped.code == 0, piped.err
    summary = json.loads(piped.out)
    assert summary["counts"] == {"busy": 2, "completed": 2}
    lines = [line for line in piped.err.splitlines() if line.startswith(f"campaign-{campaign_id}:")]
    assert lines, piped.err
    assert " of 5 finished" in lines[-1]
    assert f"campaign-{campaign_id} has finished" in piped.err
    code, screen = on_terminal
    assert code == 0, screen
    assert "\x1b[" in screen  # drawn in place, not printed line after line
    assert "of 5 contacts" in screen, screen
    assert "in flight" in screen


async def _run_on_terminal(
    args: tuple[str, ...], env: dict[str, str], cwd: Path
) -> tuple[int, str]:
    """The CLI with stderr (where progress goes) on a pseudo-terminal; what it drew there."""
    controller, terminal = os.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            CLI, *args, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=terminal,
        )  # fmt: skip
        os.close(terminal)
        terminal = -1
        screen = bytearray()
        loop = asyncio.get_running_loop()
        reader = loop.run_in_executor(None, _read_all, controller, screen)
        code = await asyncio.wait_for(proc.wait(), timeout=60)
        await asyncio.wait_for(reader, timeout=10)
        return code, screen.decode(errors="replace")
    finally:
        if terminal >= 0:
            os.close(terminal)
        os.close(controller)


def _read_all(fd: int, into: bytearray) -> Any:
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:  # EIO: the other side closed
            return None
        if not chunk:
            return None
        into.extend(chunk)
