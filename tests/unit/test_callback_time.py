"""Reading the time a person asked to be called back, and the callback it makes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from adapters.settings import WorkerSettings
from calls.callback_time import (
    CallbackPlan,
    UnreadableCallbackTime,
    plan_callback,
    read_callback_time,
)
from outbound_calls_client.models import CallingWindow

LA = ("America/Los_Angeles",)
# A Tuesday, 16:00 UTC: 09:00 in Los Angeles (PDT, UTC-7), inside the default window.
NOW = datetime(2025, 6, 3, 16, 0, tzinfo=UTC)
FIXED = timedelta(hours=1)
OPEN = CallingWindow(enabled=False)


def _plan(
    value: object, *, window: CallingWindow = OPEN, zones: tuple[str, ...] = LA
) -> CallbackPlan:
    return plan_callback(
        {"callback_at": value},
        "callback_at",
        now=NOW,
        zones=zones,
        window=window,
        fixed_delay=FIXED,
    )


def test_a_time_with_an_offset_is_that_instant() -> None:
    assert read_callback_time("2025-06-04T10:00:00-07:00", LA) == datetime(
        2025, 6, 4, 17, 0, tzinfo=UTC
    )
    assert read_callback_time("2025-06-04T17:00:00Z", ()) == datetime(2025, 6, 4, 17, 0, tzinfo=UTC)
    # The offset wins over the callee's zone.
    assert read_callback_time("2025-06-04T10:00+02:00", LA) == datetime(
        2025, 6, 4, 8, 0, tzinfo=UTC
    )


def test_a_local_time_is_read_in_the_callees_zone() -> None:
    # June: PDT, UTC-7; December: PST, UTC-8.
    assert read_callback_time("2025-06-04T10:00", LA) == datetime(2025, 6, 4, 17, tzinfo=UTC)
    assert read_callback_time("2025-12-04 10:00:00", LA) == datetime(2025, 12, 4, 18, tzinfo=UTC)
    assert read_callback_time("2025-06-04T10:00", ("Europe/London",)) == datetime(
        2025, 6, 4, 9, tzinfo=UTC
    )


def test_a_local_time_in_several_zones_is_never_before_the_hour_named_in_any() -> None:
    zones = ("America/New_York", "America/Chicago")
    # 10:00 in Chicago (CDT, UTC-5) is the later reading; it is 11:00 in New York.
    assert read_callback_time("2025-06-04T10:00", zones) == datetime(2025, 6, 4, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("tomorrow at ten", "is not an ISO 8601 date and time"),
        ("10:00", "is not an ISO 8601 date and time"),
        ("2025-06-04", "has no time of day"),
        ("2025-13-04T10:00", "is not an ISO 8601 date and time"),
        ("", "is not an ISO 8601 date and time"),
        ("2025-06-04T10:00" + " " * 80 + "x", "is not an ISO 8601 date and time"),
        (1749052800, "is not text (got int)"),
        (None, "is not text (got NoneType)"),
    ],
)
def test_garbage_is_unreadable_and_says_why(value: object, why: str) -> None:
    with pytest.raises(UnreadableCallbackTime, match=re.escape(why)):
        read_callback_time(value, LA)


def test_a_local_time_needs_a_zone() -> None:
    with pytest.raises(UnreadableCallbackTime, match="no UTC offset"):
        read_callback_time("2025-06-04T10:00", ())


def test_the_asked_time_is_the_redial() -> None:
    plan = _plan("2025-06-04T10:00:00-07:00")
    assert plan.asked == datetime(2025, 6, 4, 17, tzinfo=UTC)
    assert plan.delay == timedelta(hours=25)
    assert plan.note == "callback_at 2025-06-04T17:00:00+00:00: redial then"


def test_an_asked_time_outside_the_calling_window_moves_to_its_opening() -> None:
    window = CallingWindow(start=time(9), end=time(20))
    # 22:00 in Los Angeles: the next opening is 09:00 the morning after.
    plan = _plan("2025-06-04T22:00", window=window)
    assert plan.asked == datetime(2025, 6, 5, 5, tzinfo=UTC)
    opening = datetime(2025, 6, 5, 16, tzinfo=UTC)
    assert NOW + plan.delay == opening
    assert "redial at 2025-06-05T16:00:00+00:00 (the calling window)" in plan.note


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("2025-06-03T08:59", "2025-06-03T15:59:00+00:00 has passed"),
        ("2025-06-03T16:00:00Z", "has passed"),
        ("2025-06-10T17:00:00Z", "is more than 7 days away (the redial ceiling)"),
        ("soon", "'soon' is not an ISO 8601 date and time"),
        (42, "is not text (got int)"),
    ],
)
def test_a_passed_distant_or_unreadable_time_falls_back_to_the_fixed_delay(
    value: object, why: str
) -> None:
    plan = _plan(value)
    assert plan.delay == FIXED
    assert plan.asked is None
    assert why in plan.note
    assert plan.note.endswith("redial after callback_delay_s (3600 s)")


def test_no_field_in_the_analysis_falls_back_and_names_the_field() -> None:
    for data in (None, {}, {"other": "2025-06-04T10:00Z"}):
        plan = plan_callback(data, "call_me_at", now=NOW, zones=LA, window=OPEN, fixed_delay=FIXED)
        assert plan.delay == FIXED
        assert plan.note.startswith("call_me_at not in the call's analysis")


def test_an_asked_time_in_a_moment_waits_the_redial_floor() -> None:
    plan = _plan((NOW + timedelta(seconds=1)).isoformat())
    assert plan.delay == timedelta(seconds=5)
    assert "(the redial floor)" in plan.note


def test_the_setting_is_one_word_and_says_so() -> None:
    assert WorkerSettings().callback_time_field == "callback_at"
    assert WorkerSettings(callback_time_field="call_me_at").callback_time_field == "call_me_at"
    for bad in ("call me at", " ", "x" * 129):
        with pytest.raises(ValidationError, match="callback_time_field"):
            WorkerSettings(callback_time_field=bad)
