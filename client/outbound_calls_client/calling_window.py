"""Calling hours: the earliest moment at or after ``now`` inside the window in every zone.

Pure (no clock, no I/O beyond the tz database), so the workflow can call it with
``workflow.now()`` and a property test can sweep zones, weekends and DST changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from outbound_calls_client.models import CallingWindow, HoursRange, RegionalRule

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


# Parts of a local day as offsets from midnight; the end of the day is 24 h.
_Span = tuple[timedelta, timedelta]
_WHOLE_DAY: tuple[_Span, ...] = ((timedelta(0), timedelta(days=1)),)
# A rule and a window may share no hours for a while (a holiday, a weekday the window skips);
# past three weeks of local days they share none at all.
_SCAN_DAYS = 22
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _offset(moment: time) -> timedelta:
    return timedelta(
        hours=moment.hour,
        minutes=moment.minute,
        seconds=moment.second,
        microseconds=moment.microsecond,
    )


def _intersect(a: Sequence[_Span], b: Sequence[_Span]) -> list[_Span]:
    spans = [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b]
    return sorted((start, end) for start, end in spans if start < end)


def _allowed_spans(day: date, window: CallingWindow, rule: RegionalRule) -> list[_Span]:
    """The parts of local ``day`` inside both the window and the rule."""
    if window.enabled:
        if day.isoweekday() not in window.days:
            return []
        own: Sequence[_Span] = ((_offset(window.start), _offset(window.end)),)
    else:
        own = _WHOLE_DAY  # enabled=False turns off the request's window, not the rule
    ranges = rule.hours.get(day.isoweekday())
    if ranges is None or day in rule.holidays:
        return []
    return _intersect(own, [(_offset(r.start), _offset(r.end)) for r in ranges])


def _next_opening_with(local: datetime, window: CallingWindow, rule: RegionalRule) -> datetime:
    """The first local moment at or after ``local`` (in its zone) inside window and rule."""
    zone = local.tzinfo
    for ahead in range(_SCAN_DAYS):
        day = local.date() + timedelta(days=ahead)
        midnight = datetime.combine(day, time(0), tzinfo=zone)
        since_midnight = _offset(local.time()) if ahead == 0 else timedelta(0)
        for start, end in _allowed_spans(day, window, rule):
            if end > since_midnight:
                if start <= since_midnight:
                    return local  # inside already (and its fold kept, in a repeated hour)
                # Wall-clock arithmetic: 08:00 local is 08:00 on a day clocks change, too.
                return midnight + start
    raise NoCommonWindow(
        f"the calling window and {rule.region}'s rule share no hour in {_SCAN_DAYS} days"
    )


def next_allowed_time_with(
    now: datetime, zones: Sequence[str], window: CallingWindow, rule: RegionalRule | None
) -> datetime:
    """Like :func:`next_allowed_time`, with the callee's regional ``rule`` on top: the
    narrowest wins (each day's hours intersected, the rule's days off and holidays, in the
    callee's local date). ``now`` itself when allowed in every zone, else the earliest
    later moment, in UTC.

    ``rule`` None, or the window applying no regional rule (``regional_rules`` false, or
    unset with the window off): the window alone. ``window.enabled`` false with
    ``regional_rules`` true: the rule alone. Pure, deterministic: safe in workflow code.
    """
    if rule is None or not window.applies_regional_rules:
        return next_allowed_time(now, zones, window)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    candidate = now.astimezone(UTC)
    if not zones:
        return candidate
    tzs = [ZoneInfo(zone) for zone in zones]
    for _ in range(_MAX_STEPS):
        openings = [
            _next_opening_with(candidate.astimezone(tz), window, rule).astimezone(UTC) for tz in tzs
        ]
        if all(opening == candidate for opening in openings):
            return candidate
        # The latest of the zones' openings: nothing before it is allowed in all of them.
        candidate = max(openings)
    raise NoCommonWindow(
        f"no time is inside {describe(window)} and {describe_rule(rule)} in all of "
        f"{len(zones)} time zones"
    )


def held_by_rule(
    now: datetime, zones: Sequence[str], window: CallingWindow, rule: RegionalRule | None
) -> bool:
    """Whether the regional rule, not the request's window, is what keeps a call from now
    until its next allowed time (for status text: "held by US-FL: ...")."""
    return next_allowed_time_with(now, zones, window, rule) > next_allowed_time(now, zones, window)


def _describe_ranges(ranges: tuple[HoursRange, ...] | None) -> str:
    if ranges is None:
        return "no calls"
    return ", ".join(f"{r.start:%H:%M}-{r.end:%H:%M}" for r in ranges)


def describe_hours(rule: RegionalRule) -> str:
    """The rule's week, days grouped where their hours are the same: "08:00-20:00" (every
    day alike), "Mon-Sat 08:00-20:00, Sun no calls"."""
    groups: list[tuple[int, int, str]] = []
    for day in range(1, 8):
        text = _describe_ranges(rule.hours[day])
        if groups and groups[-1][2] == text:
            groups[-1] = (groups[-1][0], day, text)
        else:
            groups.append((day, day, text))
    if len(groups) == 1:
        return groups[0][2]
    return ", ".join(
        f"{_DAY_NAMES[first - 1]}{'' if first == last else '-' + _DAY_NAMES[last - 1]} {text}"
        for first, last, text in groups
    )


def describe_rule(rule: RegionalRule) -> str:
    """One line for status text, e.g. "US-FL: 08:00-20:00 (Fla. Stat. § 501.616(6)(a))",
    "US-MS: Mon-Sat 08:00-20:00, Sun no calls (Miss. Code Ann. § 77-3-723(1))"."""
    holidays = ", no calls on holidays" if rule.holidays else ""
    return f"{rule.region}: {describe_hours(rule)}{holidays} ({rule.source})"
