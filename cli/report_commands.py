"""``outbound-calls report``: the report of every call of a period, campaign or not (the
campaign's own is ``campaign report``). The steps are ``cli/reports.py``'s."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.command import Session, TaskQueueOption, bad_input, help_text, run_step
from cli.output import note
from cli.report_page import PageInfo
from cli.reports import parse_since, period_query, write_report

app = typer.Typer()

OutOption = Annotated[Path, typer.Option("--out", help="the HTML file to write")]
PngOption = Annotated[
    Path | None, typer.Option("--png", help="also write each chart as DIR/<chart>.png")
]
ShowNumbersOption = Annotated[
    bool,
    typer.Option("--show-numbers", help="show our caller numbers in clear (masked by default)"),
]


def written_note(page: Path, pngs: tuple[Path, ...]) -> None:
    note(f"report written to {page}" + (f", {len(pngs)} chart(s) as PNG" if pngs else ""))


@app.command(
    "report",
    epilog=help_text(
        "outbound-calls report --since 7d --out week.html",
        "outbound-calls report --since 12h --out today.html --png charts/",
    ),
)
def period_report(
    out: OutOption,
    since: Annotated[
        str, typer.Option(help="the period: calls started in the last 30m, 12h, 7d, 2w")
    ] = "7d",
    png: PngOption = None,
    show_numbers: ShowNumbersOption = False,
    task_queue: TaskQueueOption = None,
) -> None:
    """One self-contained HTML page (charts inline, opens offline) of every call started in
    the period on the task queue, campaign or not: figures, outcomes, dials over time,
    answer rate by the callee's local hour and by caller number, attempts per contact, talk
    time, and the numbers' health."""
    try:
        length = parse_since(since)
    except ValueError as exc:
        bad_input(str(exc))

    async def step(session: Session) -> int:
        now = datetime.now(UTC)
        start = now - length
        queue = task_queue or session.settings.temporal_task_queue
        info = PageInfo(
            title=f"Calls of the last {since}",
            subject=(
                f"every call started on task queue {queue} since "
                f"{start.isoformat(timespec='seconds')}"
            ),
            made_at=now,
        )
        written = await write_report(
            await session.client(),
            period_query(start, queue),
            info,
            out,
            png_dir=png,
            show_numbers=show_numbers,
            now=now,
        )
        written_note(written.page, written.pngs)
        return 0

    run_step(step)
