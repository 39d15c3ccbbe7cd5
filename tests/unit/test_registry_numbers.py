"""Registry file lines to E.164 (calls/registry_numbers.py) and the reader that streams a
file of them (adapters/registry_file.py)."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

import pytest

from adapters.registry_file import MAX_LINE_BYTES, RegistryReader
from calls.registry_numbers import (
    BadRegistryLine,
    _parsed,
    check_region,
    check_source_name,
    is_stale,
    registry_number,
)
from outbound_calls_client.errors import InvalidCallRequest

SF = "+14155550123"


@pytest.mark.parametrize(
    "line",
    [
        "415,5550123",  # the National DNC Registry's full-list download
        "415,5550123\r\n",
        ' "415" , "5550123" ',
        "4155550123\n",
        "+14155550123",
        "14155550123",
        "(415) 555-0123",
        "+1 415-555-0123",
        "\ufeff415,5550123",  # a byte-order mark on the first line
    ],
)
def test_both_forms_become_e164(line: str) -> None:
    assert registry_number(line) == SF


def test_other_countries_by_e164_or_by_region() -> None:
    assert registry_number("+442071838750") == "+442071838750"
    assert registry_number("020 7183 8750", "GB") == "+442071838750"
    assert registry_number("2071838750", "GB") == "+442071838750"


def test_blank_lines_are_skipped() -> None:
    assert registry_number("") is None
    assert registry_number("  \r\n") is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("abc", "not a phone number"),
        ("415,555012", "3 and 7 digits"),
        ("41,55550123", "3 and 7 digits"),
        ("415,555-0123", "3 and 7 digits"),
        ("415,5550123,A,2026-12-01", "change list"),
        ("5550123", "not a possible number"),  # seven digits: a local number, no area code
        ("+4420", "not a possible number"),
    ],
)
def test_bad_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(BadRegistryLine, match=reason):
        registry_number(line)


def test_the_quick_forms_answer_what_phonenumbers_answers() -> None:
    """Ten North American digits skip the parser: the same number it would give, each time."""
    rng = random.Random(7)
    for _ in range(3000):
        digits = f"{rng.randint(2, 9)}{rng.randrange(10**9):09d}"
        for line in (digits, f"+1{digits}", f"{digits[:3]},{digits[3:]}"):
            for region in ("US", "CA", "PR"):
                assert registry_number(line, region) == _parsed(digits, region), (line, region)


def test_ten_digits_outside_north_america_are_parsed_in_the_region() -> None:
    # Ten digits read in Germany are a German number, not a North American one.
    german = registry_number("3012345678", "DE")
    assert german == _parsed("3012345678", "DE")
    assert german.startswith("+49")


def test_source_names_and_regions_are_checked() -> None:
    assert check_source_name("national-2026-12") == "national-2026-12"
    for bad in ("", "-x", "a b", "x" * 65, "a/b"):
        with pytest.raises(InvalidCallRequest, match="source_name"):
            check_source_name(bad)
    assert check_region("us") == "US"
    with pytest.raises(InvalidCallRequest, match="region"):
        check_region("XX")


def test_a_source_is_stale_past_31_days() -> None:
    now = datetime(2026, 12, 31, tzinfo=UTC)
    assert not is_stale(now - timedelta(days=31), now)
    assert is_stale(now - timedelta(days=31, seconds=1), now)


def test_the_reader_counts_lines_and_lists_the_first_bad_ones() -> None:
    not_utf8 = b"\xff\xfe\n"
    too_long = b"9" * (MAX_LINE_BYTES + 10) + b"\n"
    last_without_newline = b"415,5550125"
    text = b"".join(
        [
            b"415,5550123\n",
            b"\n",
            b"oops\n",
            b"4155550124\n",
            not_utf8,
            too_long,
            b"+442071838750\n",
            b"415,555\n",
            last_without_newline,
        ]
    )
    reader = RegistryReader(io.BytesIO(text), shown_bad=3)
    assert list(reader) == [SF, "+14155550124", "+442071838750", "+14155550125"]
    assert (reader.lines, reader.numbers, reader.bad) == (9, 4, 4)
    assert [(b.line, b.reason) for b in reader.first_bad] == [
        (3, "not a phone number"),
        (5, "not UTF-8 text"),
        (6, f"longer than {MAX_LINE_BYTES} bytes"),
    ]
    assert reader.first_bad[0].text == "oops"


def test_the_reader_reports_progress() -> None:
    seen: list[int] = []
    lines = io.BytesIO(b"415,5550123\n" * 5)
    reader = RegistryReader(lines, progress=seen.append, progress_every=2)
    assert len(list(reader)) == 5
    assert seen == [2, 4]
