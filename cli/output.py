"""One document, three forms: a table for people, JSON and CSV for scripts.

In ``json`` and ``csv`` form stdout holds the document and nothing else; progress and notes
always go to stderr (:func:`note`). Tables use Rich on a terminal and plain aligned text
when piped, so ``grep`` and ``cut`` see no box drawing or colour codes.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from outbound_calls_client.phone import mask_numbers_in


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


@dataclass(frozen=True)
class Document:
    """``data`` is what ``json`` prints; ``rows`` (flat, keyed by ``columns``) what ``table``
    and ``csv`` print. ``record``: one object, shown as field/value lines in a table."""

    data: Any
    rows: Sequence[Mapping[str, Any]]
    columns: Sequence[str]
    record: bool = False


_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def note(text: str, style: str | None = None) -> None:
    """Progress and remarks: stderr, so a script's stdout stays the document."""
    _stderr.print(mask_numbers_in(text), style=style, markup=False)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


# OWASP's CSV injection rule: a spreadsheet runs a cell that starts with one of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A number (-3, -1.5, an E.164 +14155550123), a masked phone number (+1*******23) or the "-"
# of an empty list holds no function name, reference or "|", so it cannot reach outside the
# sheet: left as it is, so scripts and spreadsheets read the value the user expects.
_HARMLESS = re.compile(r"[+-]?\d+(?:\.\d+)?|\+\d+\*+\d+|-", re.ASCII)


def csv_safe(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading ``'`` on anything it would run."""
    if text.startswith(_FORMULA_START) and not _HARMLESS.fullmatch(text):
        return "'" + text
    return text


def emit(doc: Document, fmt: OutputFormat, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    if fmt is OutputFormat.JSON:
        stream.write(json.dumps(doc.data, indent=2, default=str) + "\n")
    elif fmt is OutputFormat.CSV:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(doc.columns)
        for row in doc.rows:
            writer.writerow(
                ["" if row.get(c) is None else csv_safe(cell(row.get(c))) for c in doc.columns]
            )
    elif stream.isatty():
        _rich_table(doc, stream)
    else:
        _plain_table(doc, stream)
    stream.flush()


def _lines(doc: Document) -> tuple[list[str], list[list[str]]]:
    if doc.record:
        row = doc.rows[0] if doc.rows else {}
        return ["field", "value"], [[c, cell(row.get(c))] for c in doc.columns]
    return list(doc.columns), [[cell(row.get(c)) for c in doc.columns] for row in doc.rows]


def _rich_table(doc: Document, stream: TextIO) -> None:
    header, body = _lines(doc)
    table = Table(show_header=not doc.record, header_style="bold")
    for name in header:
        table.add_column(name, overflow="fold")
    for line in body:
        table.add_row(*line)
    Console(file=stream, highlight=False).print(table)


def _plain_table(doc: Document, stream: TextIO) -> None:
    header, body = _lines(doc)
    lines = body if doc.record else [header, *body]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))] if lines else []
    for line in lines:
        stream.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
        stream.write("\n")
