from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outbound_calls_client.calling_window import NoCommonWindow, next_allowed_time
from outbound_calls_client.models import CallingWindow

ZONES = [
    "America/Los_Angeles",
    "America/New_York",
    "America/Phoenix",  # no DST
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",  # southern-hemisphere DST
    "Asia/Kolkata",  # half-hour offset
    "Pacific/Honolulu",
]
DEFAULT = CallingWindow()
WEEKDAYS = CallingWindow(days=frozenset({1, 2, 3, 4, 5}))


def _inside(moment: datetime, zone: str, window: CallingWindow) -> bool:
    local = moment.astimezone(ZoneInfo(zone))
    return local.isoweekday() in window.days and window.start <= local.time() < window.end


moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
zone_sets = st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True)
windows = st.sampled_from([DEFAULT, WEEKDAYS, CallingWindow(start=time(8), end=time(21))])


@settings(max_examples=300, deadline=None)
@given(moments, zone_sets, windows)
def test_answer_is_inside_every_zone_and_is_the_earliest(
    now: datetime, zones: list[str], window: CallingWindow
) -> None:
    try:
        at = next_allowed_time(now, zones, window)
    except NoCommonWindow:
        return  # far-apart zones may share no window; the next test covers when they must
    assert at >= now
    assert all(_inside(at, zone, window) for zone in zones)
    # Earliest: no whole minute between now and the answer is inside every zone.
    probe = now
    while probe < at - timedelta(minutes=1):
        assert not all(_inside(probe, zone, window) for zone in zones)
        probe += timedelta(minutes=29)


@given(moments, st.sampled_from(ZONES), windows)
def test_one_zone_always_has_an_answer_within_a_week(
    now: datetime, zone: str, window: CallingWindow
) -> None:
    at = next_allowed_time(now, [zone], window)
    assert now <= at <= now + timedelta(days=7)


def test_inside_the_window_is_now() -> None:
    now = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles, a Wednesday
    assert next_allowed_time(now, ["America/Los_Angeles"], DEFAULT) == now


def test_late_evening_waits_for_nine_local() -> None:
    now = datetime(2026, 3, 5, 7, 0, tzinfo=UTC)  # 23:00 Wednesday in Los Angeles
    expected = datetime(2026, 3, 5, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert next_allowed_time(now, ["America/Los_Angeles"], DEFAULT) == expected


def test_weekend_and_dst_change() -> None:
    # Saturday 7 March 2026, 22:00 in New York; clocks go forward on Sunday 8 March.
    now = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)
    at = next_allowed_time(now, ["America/New_York"], WEEKDAYS)
    assert at == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # Monday 09:00 EDT (UTC-4)


def test_two_zones_must_both_be_inside() -> None:
    now = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)  # 08:00 LA, 11:00 NY
    at = next_allowed_time(now, ["America/Los_Angeles", "America/New_York"], DEFAULT)
    assert at == datetime(2026, 6, 1, 16, 0, tzinfo=UTC)  # 09:00 LA, 12:00 NY


def test_no_common_window_is_an_error() -> None:
    with pytest.raises(NoCommonWindow):
        next_allowed_time(
            datetime(2026, 6, 1, tzinfo=UTC), ["Pacific/Guam", "America/Halifax"], DEFAULT
        )


def test_disabled_window_is_always_open() -> None:
    now = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
    assert next_allowed_time(now, ["America/Los_Angeles"], CallingWindow(enabled=False)) == now


def test_window_rules_name_the_field() -> None:
    with pytest.raises(ValueError, match="start must be before end"):
        CallingWindow(start=time(20), end=time(9))
    with pytest.raises(ValueError, match="IANA"):
        CallingWindow(time_zone="Mars/Olympus")
