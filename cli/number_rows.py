"""The rows of the account's caller numbers as ``numbers list`` and the campaign report's
health table show them: one place, so both say the same."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from adapters.caller_ids import PoolNumber

COLUMNS = (
    "number",
    "pool",
    "daily_cap",
    "used_today",
    "calls",
    "answered",
    "answer_rate",
    "rests",
    "rested_until",
    "rested_reason",
)


def number_rows(numbers: Sequence[PoolNumber], now: datetime) -> list[dict[str, Any]]:
    """The rows ``numbers list`` shows (the campaign report's health table too)."""
    return [
        {
            "number": n.number,
            "pool": n.pool,
            "daily_cap": n.daily_cap,
            "used_today": n.used_today,
            # Since the number was added (calls/caller_id_health.py): what its health
            # is judged on, and how often it was rested for it.
            "calls": n.calls,
            "answered": n.answered,
            "answer_rate": round(n.answered / n.calls, 3) if n.calls else None,
            "rests": n.rests,
            # A rest that has run out is over: the number is picked again.
            "rested_until": n.rested_until.isoformat()
            if n.rested_until and n.rested_until > now
            else None,
            "rested_reason": n.rested_reason if n.rested_until and n.rested_until > now else None,
        }
        for n in numbers
    ]
