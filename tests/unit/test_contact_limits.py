"""Contact limits: parsed with errors that name the entry and the rule; the first allowed
moment keeps every limit at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calls.contact_limits import DEFAULT_CONTACT_LIMITS, first_allowed, parse_limits

NOW = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_the_default_and_off() -> None:
    assert [(limit.calls, limit.window) for limit in parse_limits(DEFAULT_CONTACT_LIMITS)] == [
        (3, 24 * H),
        (7, 7 * 24 * H),
    ]
    assert parse_limits("off") == parse_limits("") == ()


@pytest.mark.parametrize(
    ("raw", "rule"), [("3 per day", "format"), ("0/24h", "range"), ("3/32d", "range")]
)
def test_bad_limits_name_the_entry_and_the_rule(raw: str, rule: str) -> None:
    with pytest.raises(ValueError, match=rf"rule: {rule}"):
        parse_limits(raw)


def test_a_full_window_holds_until_its_oldest_contact_ages_out() -> None:
    limits = parse_limits("3/24h,7/7d")
    three = [NOW - 20 * H, NOW - 5 * H, NOW - H]
    assert first_allowed(three[1:], limits, NOW) == (NOW, None)
    at, rule = first_allowed(three, limits, NOW)
    assert at == NOW + 4 * H  # 20 h ago + 24 h
    assert rule is not None
    assert str(rule) == "3/24h"


def test_the_latest_of_the_limits_holds() -> None:
    limits = parse_limits("3/24h,7/7d")
    # Seven over the last six days, none in the last 24 hours: the weekly limit holds.
    week = [NOW - (144 - i * 20) * H for i in range(7)]
    at, rule = first_allowed(week, limits, NOW)
    assert rule is not None
    assert str(rule) == "7/7d"
    assert at == week[0] + 168 * H
