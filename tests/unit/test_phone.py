from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outbound_calls_client.models import CallRequest
from outbound_calls_client.phone import (
    InvalidPhoneNumber,
    mask_number,
    mask_numbers_in,
    normalize_e164,
)
from outbound_calls_client.validation import validate_request


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("+14155550123", "+14155550123"), (" +442071838750 ", "+442071838750")],
)
def test_valid_numbers_are_normalised(raw: str, expected: str) -> None:
    assert normalize_e164("to_number", raw) == expected


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("4155550123", "e164"),  # no country code: never guessed
        ("+1 415 555 0123", "e164"),  # spaces are not E.164
        ("+1415555", "is_valid_number"),  # too short for the plan, though regex-shaped
        ("+19005551234", "number_type"),  # US premium rate
        ("+10005550123", "is_valid_number"),  # area code 000 does not exist
        ("++14155550123", "e164"),
    ],
)
def test_invalid_numbers_name_the_rule(raw: str, rule: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_e164("from_number", raw)
    assert info.value.field == "from_number"
    assert info.value.rule == rule
    assert str(info.value).startswith("from_number: ")
    assert raw.strip() not in str(info.value)  # errors reach histories: no number in them


def test_validate_request_checks_both_numbers_and_finds_zones() -> None:
    ok = validate_request(CallRequest(to_number="+14155550123", from_number="+12125550199"))
    assert ok.time_zones == ("America/Los_Angeles",)
    assert ok.to_number_masked == "+1********23"
    with pytest.raises(InvalidPhoneNumber, match="from_number"):
        validate_request(CallRequest(to_number="+14155550123", from_number="+1900555123"))


def test_mask_keeps_country_and_last_two_digits() -> None:
    assert mask_number("+442071838750") == "+44********50"
    assert mask_number("+14155550123") == "+1********23"


def test_mask_in_text_leaves_timestamps_alone() -> None:
    text = "dialing +14155550123 at 1732520000000"
    assert mask_numbers_in(text) == "dialing +1********23 at 1732520000000"


@given(st.from_regex(r"\+[1-9]\d{7,14}", fullmatch=True))
def test_masked_text_never_contains_the_number(number: str) -> None:
    masked = mask_numbers_in(f"call to {number} failed")
    assert number not in masked
    assert masked.endswith(f"{number[-2:]} failed")


@given(st.text(max_size=40))
def test_normalize_either_answers_e164_or_names_the_field(raw: str) -> None:
    try:
        result = normalize_e164("to_number", raw)
    except InvalidPhoneNumber as exc:
        assert exc.field == "to_number"
        assert exc.rule in {"e164", "parse", "is_valid_number", "number_type"}
    else:
        assert result.startswith("+")
        assert result[1:].isdigit()
