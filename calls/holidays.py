"""The dates of the named holidays that calling rules forbid (calls/data/calling_rules.json).

Our own small table of fixed dates, nth weekdays and Easter offsets rather than a holidays
package: a rule names exactly the days its statute names, and the same name always means the
same day, whatever a package's next release decides (docs/choices.md). Runs in the
validation activity; the workflow gets the dates, never this code.

    holiday_dates(("thanksgiving",), date(2026, 1, 1), date(2026, 12, 31))  # (2026-11-26,)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

MONDAY, TUESDAY, THURSDAY = 0, 1, 3

# (month, day)
_FIXED: dict[str, tuple[int, int]] = {
    "new_years_day": (1, 1),
    "battle_of_new_orleans": (1, 8),
    "may_day": (5, 1),
    "victory_in_europe_day": (5, 8),
    "flag_day": (6, 14),
    "juneteenth": (6, 19),
    "independence_day": (7, 4),
    "bastille_day": (7, 14),
    "pioneer_day": (7, 24),
    "assumption_day": (8, 15),
    "huey_long_day": (8, 30),
    "all_saints_day": (11, 1),
    "veterans_day": (11, 11),
    "armistice_day": (11, 11),
    "christmas_day": (12, 25),
}
# (month, weekday, n): the nth such weekday of the month; n = -1 the last.
_NTH_WEEKDAY: dict[str, tuple[int, int, int]] = {
    "mlk_day": (1, MONDAY, 3),
    "washington_birthday": (2, MONDAY, 3),
    "confederate_memorial_day": (4, MONDAY, 4),
    "memorial_day": (5, MONDAY, -1),
    "jefferson_davis_birthday": (6, MONDAY, 1),
    "victory_day": (8, MONDAY, 2),
    "labor_day": (9, MONDAY, 1),
    "columbus_day": (10, MONDAY, 2),
    "thanksgiving": (11, THURSDAY, 4),
}
# Days from Easter Sunday.
_EASTER_OFFSET: dict[str, int] = {
    "mardi_gras": -47,
    "good_friday": -2,
    "easter_sunday": 0,
    "easter_monday": 1,
    "ascension_day": 39,
    "whit_monday": 50,
}
# The first Tuesday after the first Monday in November (US general elections).
_ELECTION_DAY = "election_day"

HOLIDAY_NAMES = frozenset({*_FIXED, *_NTH_WEEKDAY, *_EASTER_OFFSET, _ELECTION_DAY})


def easter_sunday(year: int) -> date:
    """The Gregorian Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = (date(year, month, 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _dates_in(name: str, year: int) -> tuple[date, ...]:
    if name in _FIXED:
        month, day = _FIXED[name]
        return (date(year, month, day),)
    if name in _NTH_WEEKDAY:
        return (nth_weekday(year, *_NTH_WEEKDAY[name]),)
    if name in _EASTER_OFFSET:
        return (easter_sunday(year) + timedelta(days=_EASTER_OFFSET[name]),)
    if name == _ELECTION_DAY:
        return (nth_weekday(year, 11, MONDAY, 1) + timedelta(days=1),)
    raise ValueError(f"unknown holiday {name!r}; known: {sorted(HOLIDAY_NAMES)}")


def _with_weekday_observance(day: date) -> tuple[date, ...]:
    """A fixed-date holiday on a Saturday is also kept the Friday before, on a Sunday the
    Monday after (e.g. Ala. Code § 1-3-8(a), Utah Code 63G-1-301(2)): both days are kept."""
    if day.weekday() == 5:
        return (day, day - timedelta(days=1))
    if day.weekday() == 6:
        return (day, day + timedelta(days=1))
    return (day,)


def holiday_dates(
    names: Iterable[str], start: date, end: date, *, weekend_moves: bool = False
) -> tuple[date, ...]:
    """Every date from ``start`` to ``end`` (both included) that is one of ``names``, sorted.

    ``weekend_moves``: a fixed-date holiday on a weekend also blocks the weekday it is
    observed on. Raises ValueError for a name not in HOLIDAY_NAMES.
    """
    found: set[date] = set()
    for name in names:
        # A year either side: 1 January on a Saturday is observed on 31 December before.
        for year in range(start.year - 1, end.year + 2):
            for day in _dates_in(name, year):
                moved = name in _FIXED and weekend_moves
                found.update(_with_weekday_observance(day) if moved else (day,))
    return tuple(sorted(day for day in found if start <= day <= end))
