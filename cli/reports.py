"""The steps of ``campaign report`` and ``report``: read the calls as ``campaign results``
does (``read_results``: the same records, so the same figures), read the numbers' health
from the workers' store, compute the figures (``cli/report_figures.py``), draw the charts
(``cli/report_charts.py``, imported here only: matplotlib takes most of a second to load) and
write the page (``cli/report_page.py``) and the PNGs.

Numbers in the page: callees' never (it shows aggregates only); ours (the caller IDs, in the
chart by caller number and the health table) masked as everywhere else, unless
``show_numbers``.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from temporalio.client import Client

from adapters.caller_id_store import open_caller_id_store
from adapters.settings import WorkerSettings
from cli.campaigns import ResultRecord, read_results
from cli.number_rows import number_rows
from cli.output import note
from cli.report_figures import Figures, compute
from cli.report_page import PageInfo, render
from outbound_calls_client.contacts import BadRow
from outbound_calls_client.names import CALL_WORKFLOW
from outbound_calls_client.phone import mask_number

_SINCE = re.compile(r"(\d+)([mhdw])")
_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_UNIT["w"] = timedelta(days=7)
# Visibility keeps closed workflows for the namespace's retention (default 3 days on the
# dev server, up to 90 on Cloud): a longer period would only look complete.
MAX_SINCE = timedelta(days=366)


@dataclass(frozen=True)
class Written:
    page: Path
    pngs: tuple[Path, ...]
    figures: Figures


def parse_since(raw: str) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``2w``: one number and one unit, at most a year."""
    match = _SINCE.fullmatch(raw.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"--since: {raw!r} is not a period like 30m, 12h, 7d or 2w")
    length = int(match[1]) * _UNIT[match[2]]
    if length > MAX_SINCE:
        raise ValueError("--since: at most 366d")
    return length


def period_query(since: datetime, task_queue: str) -> str:
    """Every call started on ``task_queue`` since then, campaign or not: the calls of one
    deployment, whose keys this command has, not those of another sharing the namespace."""
    return (
        f'WorkflowType = "{CALL_WORKFLOW}" AND TaskQueue = "{task_queue}" '
        f'AND StartTime >= "{since.isoformat()}"'
    )


def caller_labels(numbers: set[str], show_numbers: bool) -> dict[str, str]:
    """How each of our numbers is shown: masked (country code and last two digits), with a
    ``#n`` where two masks would read the same, so bars and table rows still match."""
    if show_numbers:
        return {n: n for n in numbers}
    masked: dict[str, list[str]] = {}
    for number in sorted(numbers):
        masked.setdefault(mask_number(number), []).append(number)
    labels: dict[str, str] = {}
    for mask, same in masked.items():
        for index, number in enumerate(same, 1):
            labels[number] = mask if len(same) == 1 else f"{mask} #{index}"
    return labels


def _dialed_from(records: list[ResultRecord]) -> tuple[set[str], set[str]]:
    """Our numbers the calls dialed from, and the pools they named."""
    numbers: set[str] = set()
    pools: set[str] = set()
    for record in records:
        if record.request is not None and record.request.caller_id_pool:
            pools.add(record.request.caller_id_pool)
        if record.request is not None and record.request.from_number:
            numbers.add(record.request.from_number)
        if record.outcome is not None:
            numbers.update(a.from_number for a in record.outcome.attempts if a.from_number)
        if record.row.get("from_number"):
            numbers.add(str(record.row["from_number"]))
    return numbers, pools


async def _health(
    numbers: set[str], pools: set[str], now: datetime
) -> tuple[list[dict[str, object]] | None, str | None]:
    """The health rows of the numbers these calls dialed from or whose pools they named, as
    ``numbers list`` shows them; (None, why) when the store cannot be read."""
    try:
        async with open_caller_id_store(WorkerSettings()) as store:
            found = await store.numbers(None, now)
    except Exception as exc:  # the report is still worth having without the table
        return None, f"the caller-ID pools could not be read: {type(exc).__name__}: {exc}"
    return number_rows([n for n in found if n.number in numbers or n.pool in pools], now), None


def _matplotlib_config() -> None:
    """matplotlib keeps a font cache in its config directory; where HOME is not writable (the
    image's app user) it would warn and make a new one each time: use one temp directory."""
    if "MPLCONFIGDIR" in os.environ:
        return
    home = Path.home()
    if not os.access(home if home.exists() else home.parent, os.W_OK):
        os.environ["MPLCONFIGDIR"] = str(Path(tempfile.gettempdir()) / "outbound-calls-mpl")


async def write_report(
    client: Client,
    query: str,
    info: PageInfo,
    out: Path,
    *,
    bad_rows: tuple[BadRow, ...] = (),
    png_dir: Path | None = None,
    show_numbers: bool = False,
    now: datetime,
) -> Written:
    records = await read_results(client, query, bad_rows, with_requests=True)
    numbers, pools = _dialed_from(records)
    health, why_not = await _health(numbers, pools, now)
    labels = caller_labels(numbers | {str(r["number"]) for r in health or []}, show_numbers)
    rested = {str(r["number"]): r["rested_until"] is not None for r in health or []}
    for row in health or []:
        row["number"] = labels.get(str(row["number"]), row["number"])
    figures = compute(records, rested=rested, label_number=lambda n: labels.get(n, n))
    notes = info.notes + ((why_not,) if why_not else ())
    in_progress = figures.headline.in_progress
    partial = info.partial
    if partial is None and in_progress:
        partial = f"{in_progress} call(s) still open; their outcomes are not counted yet"
    info = PageInfo(info.title, info.subject, info.made_at, partial, notes)

    # Drawing is CPU work, and the files are written at the end of it: off the loop.
    pngs = await asyncio.to_thread(_draw_and_write, info, figures, health, out, png_dir)
    if why_not:
        note(why_not)
    return Written(out, pngs, figures)


def _draw_and_write(
    info: PageInfo,
    figures: Figures,
    health: list[dict[str, object]] | None,
    out: Path,
    png_dir: Path | None,
) -> tuple[Path, ...]:
    _matplotlib_config()
    from cli.report_charts import charts, svg_of, write_png

    drawn = charts(figures)
    svgs = [(c.name, c.title, svg_of(c, f"c{i}")) for i, c in enumerate(drawn)]
    out.write_text(render(info, figures, svgs, health), encoding="utf-8")
    if png_dir is None:
        return ()
    png_dir.mkdir(parents=True, exist_ok=True)
    return tuple(write_png(chart, png_dir) for chart in drawn)
