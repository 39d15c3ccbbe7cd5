"""A report's charts, drawn by matplotlib (docs/choices.md) from its figures
(``cli/report_figures.py``): each as SVG to inline in the page, and as PNG.

Only ``matplotlib.figure.Figure`` is used, never pyplot: no global figure state, no GUI
backend (SVG and PNG are written by matplotlib's own SVG and Agg renderers). Text is drawn as
paths, so a chart needs no font where it is opened. Importing matplotlib takes most of a
second: the CLI imports this module only in the report commands.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import RcKeyType

from cli.report_figures import Figures, OverTime, Rate

STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "path",  # glyphs as paths: no font to fetch or to lack
    "svg.hashsalt": "outbound-calls-report",  # the same figures give the same file
    "font.family": "DejaVu Sans",  # ships inside matplotlib
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titleweight": "bold",
}
# No creator, date or format URLs written into the files.
NO_METADATA: dict[str, str | None] = {"Creator": None, "Date": None, "Format": None, "Type": None}
SIZE = (6.4, 3.4)
# A colour per outcome that reads the same in every chart; the others from the cycle.
OUTCOME_COLOURS = {
    "completed": "#2e7d32",
    "returned_call": "#66bb6a",
    "callback_requested": "#9ccc65",
    "do_not_call": "#6d4c41",
    "voicemail": "#ffb300",
    "no_answer": "#90a4ae",
    "busy": "#546e7a",
    "dial_failed": "#e53935",
    "invalid_number": "#ad1457",
    "account_error": "#8e24aa",
    "timed_out": "#fb8c00",
    "failed": "#b71c1c",
    "canceled": "#bdbdbd",
    "rejected": "#795548",
}
BAR = "#1e88e5"
RESTED = "#e53935"


@dataclass(frozen=True)
class Chart:
    name: str  # the PNG's file name, without .png, and the page's anchor
    title: str
    figure: Figure


def charts(figures: Figures) -> list[Chart]:
    """Every chart of the report, in the page's order."""
    drawn = [
        ("dials-over-time", "Dials over time, by how each ended", _over_time),
        ("answer-rate-by-local-hour", "Answer rate by the callee's local hour", _by_hour),
        ("answer-rate-by-caller", "Answer rate by caller number", _by_caller),
        ("attempts-per-contact", "Attempts per contact", _attempts),
        ("talk-time", "Talk time per dial that connected", _talk),
    ]
    made: list[Chart] = []
    with _style():
        for name, title, draw in drawn:
            figure = Figure(figsize=SIZE, layout="constrained")
            axes = figure.subplots()
            draw(axes, figures)
            axes.set_title(title, loc="left")
            made.append(Chart(name, title, figure))
    return made


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):
        yield


def _empty(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="#757575")
    axes.set_xticks([])
    axes.set_yticks([])


def _width_text(width: timedelta) -> str:
    seconds = int(width.total_seconds())
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _over_time(axes: Axes, figures: Figures) -> None:
    found: OverTime = figures.over_time
    if found.start is None:
        _empty(axes, "no dial yet")
        return
    positions = list(range(found.buckets))
    bottom = [0] * found.buckets
    for status, values in found.series.items():
        axes.bar(positions, values, bottom=bottom, label=status, color=OUTCOME_COLOURS.get(status))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, -(-found.buckets // 6))
    ticks = positions[::step]
    starts = [found.start + found.width * t for t in ticks]
    one_day = found.start.date() == (found.start + found.width * found.buckets).date()
    if found.width >= timedelta(days=1):
        fmt = "%d %b"
    elif one_day:
        fmt = "%H:%M:%S" if found.width < timedelta(minutes=1) else "%H:%M"
    else:
        fmt = "%d %b %H:%M"
    axes.set_xticks(ticks, [s.strftime(fmt) for s in starts])
    day = f"{found.start:%d %b %Y}, " if one_day else ""
    axes.set_xlabel(f"{day}UTC, one bar per {_width_text(found.width)}")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("dials")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)


def _rates(axes: Axes, rates: tuple[Rate, ...], *, horizontal: bool) -> None:
    labels = [r.label + (" (rested)" if r.rested else "") for r in rates]
    values = [(r.rate or 0.0) * 100 for r in rates]
    colours = [RESTED if r.rested else BAR for r in rates]
    hatches = ["//" if r.rested else "" for r in rates]
    positions = list(range(len(rates)))
    if horizontal:
        bars = axes.barh(positions, values, color=colours, hatch=hatches)
        axes.set_yticks(positions, labels)
        axes.invert_yaxis()
        axes.set_xlim(0, 115)
        axes.set_xlabel("answered, % of dials")
    else:
        bars = axes.bar(positions, values, color=colours, hatch=hatches)
        axes.set_xticks(positions, labels)
        axes.set_ylim(0, 115)
        axes.set_ylabel("answered, % of dials")
    axes.bar_label(bars, [f"{r.answered}/{r.counted}" if r.counted else "" for r in rates],
                   fontsize=7, padding=2)  # fmt: skip


def _by_hour(axes: Axes, figures: Figures) -> None:
    if not any(r.counted for r in figures.by_local_hour):
        _empty(axes, "no dial with a known local time yet")
        return
    _rates(axes, figures.by_local_hour, horizontal=False)
    axes.set_xlabel("hour of the day where the callee is (labels: answered/dials)")


def _by_caller(axes: Axes, figures: Figures) -> None:
    if not figures.by_caller:
        _empty(axes, "no dial yet")
        return
    _rates(axes, figures.by_caller, horizontal=True)


def _attempts(axes: Axes, figures: Figures) -> None:
    found = figures.attempts_per_contact
    if not found:
        _empty(axes, "no finished contact yet")
        return
    keys = list(range(min(found), max(found) + 1))
    bars = axes.bar(keys, [found.get(k, 0) for k in keys], color=BAR)
    axes.bar_label(bars, fontsize=7, padding=2)
    axes.set_xticks(keys)
    axes.set_xlabel("attempts (0: ended before a dial: do-not-call list, rejected)")
    axes.set_ylabel("contacts")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))


def _talk(axes: Axes, figures: Figures) -> None:
    talk = figures.talk_seconds
    if not talk:
        _empty(axes, "no talk yet")
        return
    minutes = max(talk) >= 120
    values = [t / 60 for t in talk] if minutes else list(talk)
    axes.hist(values, bins=min(20, max(5, len(values) // 3)), color=BAR, edgecolor="white")
    axes.set_xlabel("minutes on the line" if minutes else "seconds on the line")
    axes.set_ylabel("dials")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))


def svg_of(chart: Chart, prefix: str) -> str:
    """The chart as an ``<svg>`` element to inline in HTML: its ids prefixed (several charts
    in one page would share glyph and clip ids), no XML prolog, no namespace URLs (HTML's
    parser knows SVG's), no metadata."""
    out = io.StringIO()
    with _style():
        chart.figure.savefig(out, format="svg", metadata=NO_METADATA)
    text = out.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text, count=0)
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m[1]}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m[1]})", text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m[1]}"', text)
    return text.replace("<svg ", f'<svg role="img" aria-label="{_attr(chart.title)}" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def write_png(chart: Chart, directory: Path) -> Path:
    """The chart as ``directory/<name>.png``."""
    path = directory / f"{chart.name}.png"
    with _style():
        chart.figure.savefig(path, format="png", dpi=120, metadata={"Software": None})
    return path
