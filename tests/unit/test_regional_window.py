"""next_allowed_time_with: the request's window and the callee's regional rule, the narrowest
winning, in the callee's local time (holidays by the callee's local date)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calls.regional_hours import rules_table
from outbound_calls_client.calling_window import (
    NoCommonWindow,
    describe_rule,
    held_by_rule,
    next_allowed_time,
    next_allowed_time_with,
)
from outbound_calls_client.models import CallingWindow, RegionalRule

TODAY = date(2026, 12, 7)
RULES = {entry.region: entry.rule(TODAY) for entry in rules_table().rules}
FLORIDA, UTAH, FRANCE = RULES["US-FL"], RULES["US-UT"], RULES["FR"]
MISSISSIPPI, SOUTH_DAKOTA, RHODE_ISLAND = RULES["US-MS"], RULES["US-SD"], RULES["US-RI"]
NEW_YORK, DENVER, CHICAGO, PARIS = (
    "America/New_York",
    "America/Denver",
    "America/Chicago",
    "Europe/Paris",
)
LATE = CallingWindow(start=time(9), end=time(21))  # wider than Florida's 20:00


def _local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


def test_a_state_rule_narrower_than_the_window_moves_the_next_allowed_time() -> None:
    now = _local(NEW_YORK, 2026, 12, 8, 20, 30)  # a Tuesday, 20:30 in Miami
    assert next_allowed_time(now, [NEW_YORK], LATE) == now  # the window alone allows it
    at = next_allowed_time_with(now, [NEW_YORK], LATE, FLORIDA)
    assert at == _local(NEW_YORK, 2026, 12, 9, 9, 0)  # next morning, at the window's 09:00
    assert held_by_rule(now, [NEW_YORK], LATE, FLORIDA)


def test_the_window_narrower_than_the_rule_wins_too() -> None:
    now = _local(NEW_YORK, 2026, 12, 8, 8, 15)  # Florida allows 08:00, the window 09:00
    at = next_allowed_time_with(now, [NEW_YORK], CallingWindow(), FLORIDA)
    assert at == _local(NEW_YORK, 2026, 12, 8, 9, 0)
    assert not held_by_rule(now, [NEW_YORK], CallingWindow(), FLORIDA)


def test_a_holiday_skips_the_day() -> None:
    now = _local(DENVER, 2026, 12, 24, 22, 0)  # Christmas Eve, after hours, in Utah
    assert next_allowed_time(now, [DENVER], CallingWindow()) == _local(DENVER, 2026, 12, 25, 9)
    at = next_allowed_time_with(now, [DENVER], CallingWindow(), UTAH)
    assert at == _local(DENVER, 2026, 12, 26, 9, 0)  # Saturday: Christmas is skipped


def test_the_holiday_is_the_callees_local_date_not_utcs() -> None:
    # 26 December 01:00 UTC is still Christmas Day, 18:00, in Denver.
    now = datetime(2026, 12, 26, 1, 0, tzinfo=UTC)
    at = next_allowed_time_with(now, [DENVER], CallingWindow(), UTAH)
    assert at == _local(DENVER, 2026, 12, 26, 9, 0)


def test_a_day_the_rule_forbids_is_skipped() -> None:
    now = _local(CHICAGO, 2026, 12, 13, 10, 0)  # Sunday in Mississippi
    at = next_allowed_time_with(now, [CHICAGO], CallingWindow(), MISSISSIPPI)
    assert at == _local(CHICAGO, 2026, 12, 14, 9, 0)


def test_a_rule_with_a_lunch_break() -> None:
    now = _local(PARIS, 2026, 12, 8, 13, 30)  # Tuesday: France allows 10-13 and 14-20
    at = next_allowed_time_with(now, [PARIS], CallingWindow(), FRANCE)
    assert at == _local(PARIS, 2026, 12, 8, 14, 0)


def test_regional_rules_false_ignores_the_rule() -> None:
    now = _local(NEW_YORK, 2026, 12, 8, 20, 30)
    off = LATE.model_copy(update={"regional_rules": False})
    assert next_allowed_time_with(now, [NEW_YORK], off, FLORIDA) == now
    assert not held_by_rule(now, [NEW_YORK], off, FLORIDA)


def test_no_rule_is_the_window_alone() -> None:
    now = _local(NEW_YORK, 2026, 12, 8, 20, 30)
    assert next_allowed_time_with(now, [NEW_YORK], LATE, None) == now


def test_a_disabled_window_is_any_hour_unless_the_rule_is_asked_for() -> None:
    now = _local(NEW_YORK, 2026, 12, 8, 7, 0)
    off = CallingWindow(enabled=False)
    assert next_allowed_time(now, [NEW_YORK], off) == now
    assert next_allowed_time_with(now, [NEW_YORK], off, FLORIDA) == now
    rule_only = CallingWindow(enabled=False, regional_rules=True)
    assert next_allowed_time_with(now, [NEW_YORK], rule_only, FLORIDA) == _local(
        NEW_YORK, 2026, 12, 8, 8, 0
    )


def test_a_window_and_rule_with_no_common_day_never_open() -> None:
    weekends = CallingWindow(days=frozenset({6, 7}))  # South Dakota: weekdays only
    with pytest.raises(NoCommonWindow, match="US-SD"):
        next_allowed_time_with(_local(CHICAGO, 2026, 12, 8, 12), [CHICAGO], weekends, SOUTH_DAKOTA)


def test_describe_rule() -> None:
    assert describe_rule(FLORIDA) == "US-FL: 08:00-20:00 (Fla. Stat. § 501.616(6)(a))"
    assert describe_rule(RHODE_ISLAND).startswith(
        "US-RI: Mon-Fri 09:00-18:00, Sat 10:00-17:00, Sun no calls, no calls on holidays ("
    )


WINDOWS = st.sampled_from(
    [
        CallingWindow(),
        LATE,
        CallingWindow(days=frozenset({1, 2, 3, 4, 5})),
        CallingWindow(enabled=False, regional_rules=True),
    ]
)
CASES = st.sampled_from(
    [
        (FLORIDA, NEW_YORK),
        (UTAH, DENVER),
        (MISSISSIPPI, CHICAGO),
        (RHODE_ISLAND, NEW_YORK),
        (FRANCE, PARIS),
        (RULES["CA"], "America/Toronto"),
    ]
)
MOMENTS = st.datetimes(
    min_value=datetime(2026, 12, 7), max_value=datetime(2027, 11, 30), timezones=st.just(UTC)
)


def _allowed(moment: datetime, zone: str, window: CallingWindow, rule: RegionalRule) -> bool:
    local = moment.astimezone(ZoneInfo(zone))
    in_window = not window.enabled or (
        local.isoweekday() in window.days and window.start <= local.time() < window.end
    )
    ranges = rule.hours[local.isoweekday()] or ()
    in_rule = local.date() not in rule.holidays and any(
        r.start <= local.time() < r.end for r in ranges
    )
    return in_window and in_rule


@settings(max_examples=300, deadline=None)
@given(MOMENTS, CASES, WINDOWS)
def test_the_answer_is_allowed_by_both_and_is_the_earliest(
    now: datetime, case: tuple[RegionalRule, str], window: CallingWindow
) -> None:
    rule, zone = case
    at = next_allowed_time_with(now, [zone], window, rule)
    assert now <= at <= now + timedelta(days=8)
    assert _allowed(at, zone, window, rule)
    probe = now
    while probe < at - timedelta(minutes=1):
        assert not _allowed(probe, zone, window, rule)
        probe += timedelta(minutes=13)
