"""Calling hours: the earliest moment at or after ``now`` inside the window in every zone.

Pure (no clock, no I/O beyond the tz database), so the workflow can call it with
``workflow.now()`` and a property test can sweep zones, weekends and DST changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from outbound_calls_client.models import CallingWindow

# Every zone's next opening is at most a week away, and each step below moves to some
# zone's opening; past this many steps the zones have no common window.
_MAX_STEPS = 64


class NoCommonWindow(ValueError):
    """No moment is inside the window in all the number's zones (e.g. a US toll-free number
    spans zones from Guam to Atlantic Canada)."""


def _inside(local: datetime, window: CallingWindow) -> bool:
    return local.isoweekday() in window.days and window.start <= local.time() < window.end


def _next_opening(local: datetime, window: CallingWindow) -> datetime:
    """The next local moment after ``local`` (in its zone) where the window opens."""
    zone = local.tzinfo
    day = local.date()
    if local.time() >= window.start:
        day += timedelta(days=1)
    for _ in range(8):
        if day.isoweekday() in window.days:
            return datetime.combine(day, window.start, tzinfo=zone)
        day += timedelta(days=1)
    raise NoCommonWindow("calling_window.days is empty")


def next_allowed_time(now: datetime, zones: Sequence[str], window: CallingWindow) -> datetime:
    """``now`` itself when every zone is inside the window, else the earliest later moment.

    ``now`` must be timezone-aware; the answer is in UTC.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    candidate = now.astimezone(UTC)
    if not window.enabled or not zones:
        return candidate
    tzs = [ZoneInfo(zone) for zone in zones]
    for _ in range(_MAX_STEPS):
        outside = [
            candidate.astimezone(tz) for tz in tzs if not _inside(candidate.astimezone(tz), window)
        ]
        if not outside:
            return candidate
        # Jump to the latest of the failing zones' next openings: nothing before it can work.
        candidate = max(_next_opening(local, window).astimezone(UTC) for local in outside)
    raise NoCommonWindow(
        f"no time is inside {window.start:%H:%M}-{window.end:%H:%M} in all of "
        f"{len(zones)} time zones"
    )


def describe(window: CallingWindow) -> str:
    days = "".join("MTWTFSS"[d - 1] if d in window.days else "-" for d in range(1, 8))
    return f"{window.start:%H:%M}-{window.end:%H:%M} {days}"
