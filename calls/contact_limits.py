"""How often one person may be called, across every call, redial and campaign:
``CONTACT_LIMITS=3/24h,7/7d`` (docs/calls.md, "Contact frequency"). Pure: the contact log
(adapters/contact_log.py) reads a number's recent contacts and asks :func:`first_allowed`.

    limits = parse_limits("3/24h,7/7d")
    at, rule = first_allowed(recent_contact_times, limits, now)  # at <= now: allowed now
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

# The default (docs/calls.md says why): Florida's telephone solicitation law allows three
# calls in 24 hours on one subject (Fla. Stat. 501.059(8)(b)), Regulation F presumes more than
# seven calls in seven days to be harassment (12 CFR 1006.14(b)(2)). Counted across every
# subject, they are conservative for the rest of the US.
DEFAULT_CONTACT_LIMITS = "3/24h,7/7d"
OFF = ("", "off", "none")
_LIMIT = re.compile(r"(\d+)/(\d+)([mhd])")
_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
LONGEST_WINDOW = timedelta(days=31)


class ContactLimit(NamedTuple):
    calls: int
    window: timedelta
    text: str

    def __str__(self) -> str:
        return self.text


def parse_limits(raw: str) -> tuple[ContactLimit, ...]:
    """``3/24h,7/7d`` (calls per window; windows in m, h or d, at most 31 days); ``off``
    (or empty): no limit. A bad entry raises ValueError naming it and the rule."""
    if raw.strip().lower() in OFF:
        return ()
    limits = []
    for entry in (e.strip() for e in raw.split(",")):
        match = _LIMIT.fullmatch(entry)
        if match is None:
            raise ValueError(f"{entry!r} is not COUNT/WINDOW like 3/24h or 7/7d (rule: format)")
        count, length = int(match.group(1)), int(match.group(2)) * _UNIT[match.group(3)]
        if count < 1 or not timedelta(0) < length <= LONGEST_WINDOW:
            raise ValueError(f"{entry!r}: at least 1 call in 1m to 31d (rule: range)")
        limits.append(ContactLimit(count, length, entry))
    return tuple(limits)


def first_allowed(
    contacts: Sequence[datetime], limits: Sequence[ContactLimit], now: datetime
) -> tuple[datetime, ContactLimit | None]:
    """The first moment from ``now`` at which one more contact keeps every limit, and the
    limit that holds it until then (None: allowed now). Contacts only age out, so the latest
    of each limit's own first moments keeps them all."""
    at, holding = now, None
    for limit in limits:
        recent = sorted(t for t in contacts if t > now - limit.window)
        if len(recent) >= limit.calls:
            # Allowed once the oldest of the last ``count`` contacts leaves the window.
            frees = recent[len(recent) - limit.calls] + limit.window
            if frees > at:
                at, holding = frees, limit
    return at, holding
