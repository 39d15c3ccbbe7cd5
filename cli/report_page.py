"""A report as one HTML file that opens anywhere, offline: its style inline, its charts
inline SVG (``cli/report_charts.py``), no script, no font, no image or link to anything
outside the file. Pure: the page is a string made from the figures and the drawn charts.

Every figure sits in an element with ``data-figure`` and ``data-value`` (the number, not its
text): the tests read them, and so can a script.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from cli.number_rows import COLUMNS as HEALTH_COLUMNS
from cli.report_figures import Figures

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212121;
background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.made{color:#616161;margin:0 0 12px}
.partial{background:#fff3e0;border-left:4px solid #fb8c00;padding:8px 12px;margin:12px 0}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:12px}
.figure{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:12px}
.figure .value{font-size:24px;font-weight:600}.figure .label{color:#616161;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px}
figure.chart{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:0;padding:8px}
figure.chart svg{width:100%;height:auto;display:block}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #e0e0e0;padding:4px 8px;text-align:left}th{background:#f5f5f5}
tr.rested td{background:#ffebee}
details{margin-top:4px;font-size:12px}summary{color:#616161;cursor:pointer}
.note{color:#616161;font-size:12px}
"""


@dataclass(frozen=True)
class PageInfo:
    """What the page says of itself: its subject, when it was made, and whether it is
    partial (a running campaign, calls still open)."""

    title: str
    subject: str  # e.g. "campaign spring-reminders", "calls since ..."
    made_at: datetime
    partial: str | None = None
    notes: tuple[str, ...] = ()


def _figure(key: str, label: str, value: float | int | None, text: str) -> str:
    shown = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return (
        f'<div class="figure" data-figure="{key}" data-value="{shown}">'
        f'<div class="value">{escape(text)}</div><div class="label">{escape(label)}</div></div>'
    )


def _headline(figures: Figures) -> str:
    h = figures.headline
    rate = h.answer_rate
    talk_minutes = round(h.talk_seconds / 60, 1)
    cards = [
        _figure("contacts", "contacts", h.contacts, str(h.contacts)),
        _figure("dialed", "dialed (contacts)", h.dialed, str(h.dialed)),
        _figure("dials", "dials", h.dials, str(h.dials)),
        _figure("reached", "reached", h.reached, str(h.reached)),
        _figure(
            "answer_rate",
            f"answer rate ({h.answered} of {h.counted} dials)",
            None if rate is None else round(rate, 4),
            "-" if rate is None else f"{rate:.0%}",
        ),
        _figure("returned_calls", "returned calls", h.returned_calls, str(h.returned_calls)),
        _figure(
            "do_not_call_learned",
            "do-not-call learned",
            h.do_not_call_learned,
            str(h.do_not_call_learned),
        ),
        # The value unrounded: a script adds it up; the text rounds.
        _figure("talk_minutes", "talk minutes", h.talk_seconds / 60, f"{talk_minutes:g}"),
        _figure("invalid_rows", "bad rows", h.invalid_rows, str(h.invalid_rows)),
        _figure("in_progress", "still open", h.in_progress, str(h.in_progress)),
    ]
    return '<section class="figures">' + "".join(cards) + "</section>"


def _rate_text(rate: float | None) -> str | None:
    return None if rate is None else f"{rate:.1%}"


def chart_table(name: str, figures: Figures) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """The numbers a chart draws, as a table under it (for a screen reader, a copy, a test)."""
    if name == "dials-over-time":
        found = figures.over_time
        statuses = tuple(found.series)
        rows: list[dict[str, Any]] = []
        for index in range(found.buckets):
            assert found.start is not None
            row: dict[str, Any] = {
                "from (UTC)": (found.start + found.width * index).isoformat(timespec="seconds")
            }
            row.update({status: found.series[status][index] for status in statuses})
            row["dials"] = sum(found.series[status][index] for status in statuses)
            if row["dials"]:
                rows.append(row)
        return ("from (UTC)", *statuses, "dials"), rows
    if name in ("answer-rate-by-local-hour", "answer-rate-by-caller"):
        by_hour = name == "answer-rate-by-local-hour"
        rates = figures.by_local_hour if by_hour else figures.by_caller
        first = "local hour" if by_hour else "number"
        rows = [
            {
                first: r.label,
                "dials": r.counted,
                "answered": r.answered,
                "answer rate": _rate_text(r.rate),
                "rested": "yes" if r.rested else "no",
            }
            for r in rates
            if r.counted or not by_hour
        ]
        columns = (first, "dials", "answered", "answer rate")
        return (columns if by_hour else (*columns, "rested")), rows
    if name == "attempts-per-contact":
        rows = [{"attempts": k, "contacts": v} for k, v in figures.attempts_per_contact.items()]
        return ("attempts", "contacts"), rows
    talk = sorted(figures.talk_seconds)
    if not talk:
        return ("dials with talk",), [{"dials with talk": 0}]
    spread = ("dials with talk", "shortest (s)", "median (s)", "longest (s)", "total (min)")
    values = (len(talk), talk[0], talk[len(talk) // 2], talk[-1], round(sum(talk) / 60, 1))
    return spread, [dict(zip(spread, values, strict=True))]


def _table(
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    *,
    row_class: str | None = None,
    key: str,
) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        marked = f' class="{row_class}"' if row_class and row.get("rested_until") else ""
        cells = "".join(
            f"<td>{escape('-' if row.get(c) is None else str(row.get(c)))}</td>" for c in columns
        )
        body.append(f"<tr{marked}>{cells}</tr>")
    return f'<table data-table="{key}"><tr>{head}</tr>{"".join(body)}</table>'


def render(
    info: PageInfo,
    figures: Figures,
    charts: Sequence[tuple[str, str, str]],
    health: Sequence[Mapping[str, Any]] | None,
) -> str:
    """The page. ``charts``: (name, title, inline svg) each; ``health``: the numbers' rows
    as ``numbers list`` shows them (None: the store was not read, a note says why)."""
    made = info.made_at.isoformat(timespec="seconds")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Nothing from outside: no script, style, font, image, frame or connection at all.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(info.title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{escape(info.title)}</h1>",
        f'<p class="made" data-made-at="{made}">{escape(info.subject)}; made {made}</p>',
    ]
    if info.partial:
        parts.append(f'<p class="partial" data-partial="yes">Partial: {escape(info.partial)}</p>')
    parts.append(_headline(figures))
    parts.append("<h2>Outcomes</h2>")
    counts = [{"status": status, "contacts": n} for status, n in figures.counts.items()]
    parts.append(_table(("status", "contacts"), counts, key="counts"))
    parts.append('<h2>Charts</h2><section class="charts">')
    for name, title, svg in charts:
        parts.append(
            f'<figure class="chart" id="{name}" data-chart="{name}" '
            f'title="{escape(title)}">{svg}<details><summary>the numbers</summary>'
            f"{_table(*chart_table(name, figures), key=name)}</details></figure>"
        )
    parts.append("</section><h2>Numbers' health</h2>")
    if health is None:
        parts.append('<p class="note">The caller-ID pools were not read.</p>')
    elif not health:
        parts.append('<p class="note">No number of a caller-ID pool dialed these calls.</p>')
    else:
        parts.append(_table(HEALTH_COLUMNS, health, row_class="rested", key="health"))
        parts.append(
            '<p class="note">As <code>outbound-calls numbers list</code> shows them: calls and '
            "answers since each number was added, across every campaign.</p>"
        )
    parts.extend(f'<p class="note">{escape(n)}</p>' for n in info.notes)
    parts.append("</main></body></html>\n")
    return "\n".join(parts)
