"""Time zones picked from the clock, for tests of calling hours that must not depend on when
they run: a zone where it is now the middle of the night is outside every calling window and
regional rule for hours to come."""

from __future__ import annotations

from datetime import UTC, datetime


def zone_at_hour(hour: int, now: datetime | None = None) -> str:
    """A fixed-offset IANA zone (``Etc/GMT±N``) whose local time is ``hour``:xx at ``now``.
    Etc/GMT spans UTC-12 to UTC+14, so every hour of the day is some zone's now."""
    utc_hour = (now or datetime.now(UTC)).astimezone(UTC).hour
    east = (hour - utc_hour) % 24
    if east > 14:
        east -= 24
    if east == 0:
        return "Etc/GMT"
    # POSIX's sign: Etc/GMT-3 is three hours east of UTC.
    return f"Etc/GMT{'-' if east > 0 else '+'}{abs(east)}"
