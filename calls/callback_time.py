"""When to call back a person who asked for it: the moment their call's analysis names, or,
when it names none that can be used, the request's fixed ``callback_delay_s``.

Pure (no clock: ``now`` is the workflow's ``workflow.now()``; no I/O beyond the tz
database), so the call workflow can run it and tests can sweep zones and garbage.

The analysis field (``CALLBACK_TIME_FIELD``, default ``callback_at``) holds ISO 8601:

- with an offset (``2025-06-03T10:00:00-07:00``, ``...Z``): that instant;
- without one (``2025-06-03T10:00``): wall-clock time in the callee's zone. A number that
  may ring in several zones gets the latest of the readings, so the call never comes before
  the hour the person named, wherever they are.

A time that is missing, not text, unreadable, has passed, or lies beyond the redial ceiling
(``MAX_REDIAL_DELAY_S``, the longest wait a request may ask for) falls back to the fixed
delay. The plan's ``note`` says which happened: it goes into the attempt's ``detail``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from outbound_calls_client.bounds import MAX_REDIAL_DELAY_S, MIN_REDIAL_DELAY_S
from outbound_calls_client.calling_window import next_allowed_time
from outbound_calls_client.models import CallingWindow

# What of an unreadable value the note quotes: enough to see what the agent wrote.
_QUOTED_CHARS = 40
# Longer than any ISO 8601 date-time: not worth parsing.
_MAX_VALUE_CHARS = 64
_CEILING = timedelta(seconds=MAX_REDIAL_DELAY_S)
_FLOOR = timedelta(seconds=MIN_REDIAL_DELAY_S)


class UnreadableCallbackTime(ValueError):
    """The value cannot be taken as the moment to call back; the message says why."""


@dataclass(frozen=True)
class CallbackPlan:
    """The wait before the callback, and what the outcome says of it."""

    delay: timedelta
    # The moment the person asked for (UTC); None when the fixed delay is used.
    asked: datetime | None
    note: str


def _quoted(value: str) -> str:
    shown = value if len(value) <= _QUOTED_CHARS else value[:_QUOTED_CHARS] + "..."
    return repr(shown)


def read_callback_time(value: Any, zones: Sequence[str]) -> datetime:
    """The instant ``value`` names, in UTC; a value without an offset is read in ``zones``
    (the latest reading when they differ).

    Raises :class:`UnreadableCallbackTime`.
    """
    if not isinstance(value, str):
        raise UnreadableCallbackTime(f"is not text (got {type(value).__name__})")
    text = value.strip()
    if len(text) > _MAX_VALUE_CHARS:
        raise UnreadableCallbackTime(f"{_quoted(text)} is not an ISO 8601 date and time")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UnreadableCallbackTime(f"{_quoted(text)} is not an ISO 8601 date and time") from None
    # fromisoformat reads a bare date as its midnight: the person named a day, not a moment.
    if "T" not in text.upper() and " " not in text:
        raise UnreadableCallbackTime(f"{_quoted(text)} has no time of day")
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    if not zones:
        raise UnreadableCallbackTime(
            f"{_quoted(text)} has no UTC offset and the number has no known time zone"
        )
    return max(parsed.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC) for zone in zones)


def plan_callback(
    analysis_data: Mapping[str, Any] | None,
    field: str,
    *,
    now: datetime,
    zones: Sequence[str],
    window: CallingWindow,
    fixed_delay: timedelta,
) -> CallbackPlan:
    """The callback at the time asked in ``analysis_data[field]``, moved into the calling
    window when outside it; else after ``fixed_delay``, the note saying why."""
    fallback = f"redial after callback_delay_s ({fixed_delay.total_seconds():g} s)"
    data = analysis_data or {}
    if field not in data:
        return CallbackPlan(fixed_delay, None, f"{field} not in the call's analysis; {fallback}")
    try:
        asked = read_callback_time(data[field], zones)
    except UnreadableCallbackTime as exc:
        return CallbackPlan(fixed_delay, None, f"{field} {exc}; {fallback}")
    shown = asked.isoformat()
    if asked <= now:
        return CallbackPlan(fixed_delay, None, f"{field} {shown} has passed; {fallback}")
    if asked - now > _CEILING:
        return CallbackPlan(
            fixed_delay,
            None,
            f"{field} {shown} is more than {_CEILING.days} days away (the redial ceiling); "
            f"{fallback}",
        )
    # A redial never follows the last call closer than the floor, however soon it was asked.
    earliest = max(asked, now + _FLOOR)
    redial_at = next_allowed_time(earliest, zones, window)
    if redial_at == asked:
        note = f"{field} {shown}: redial then"
    else:
        why = "the calling window" if redial_at != earliest else "the redial floor"
        note = f"{field} {shown}: redial at {redial_at.isoformat()} ({why})"
    return CallbackPlan(redial_at - now, asked, note)
