"""Calling hours by region: the callee's region from the number, and the rule the packaged
table (calls/data/calling_rules.json) holds for it, with its holidays as concrete dates.

Runs in the validation activity (the geocoder data and the table change with releases);
the workflow gets the RegionalRule in ValidatedCall and applies it with
outbound_calls_client.calling_window.next_allowed_time_with, needing no data.

    regional_rule_for("+13055550123", date(2026, 12, 7))  # US-FL: 08:00-20:00 every day
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import cache
from importlib import resources

import phonenumbers
from pydantic import Field

from calls.caller_id_locality import region_of_number
from calls.holidays import holiday_dates
from outbound_calls_client.models import FrozenModel, HoursRange, RegionalRule

RULES_FILE = "calling_rules.json"
# Holidays are listed from the day before today (the callee's date may lag UTC's) for this
# many days: longer than any request waits for its calling window.
HOLIDAY_HORIZON = timedelta(days=400)


class RuleEntry(FrozenModel):
    """One row of the table, as the data file writes it."""

    region: str
    name: str
    hours: dict[int, tuple[HoursRange, ...] | None]
    holidays: tuple[str, ...] = ()
    # A fixed-date holiday on a weekend also blocks the weekday it is observed on.
    weekend_moves: bool = False
    source: str = Field(min_length=1)
    holidays_source: str | None = None
    urls: tuple[str, ...] = Field(min_length=1)
    checked: date
    note: str | None = None

    def rule(self, today: date) -> RegionalRule:
        start = today - timedelta(days=1)
        return RegionalRule(
            region=self.region,
            hours=self.hours,
            holidays=holiday_dates(
                self.holidays, start, start + HOLIDAY_HORIZON, weekend_moves=self.weekend_moves
            ),
            source=self.source,
            url=self.urls[0],
            checked=self.checked,
        )


class RulesTable(FrozenModel):
    about: str
    checked: date
    rules: tuple[RuleEntry, ...]

    def by_region(self) -> dict[str, RuleEntry]:
        return {entry.region: entry for entry in self.rules}


@cache
def rules_table() -> RulesTable:
    """The packaged table, read once per process."""
    text = resources.files("calls").joinpath("data", RULES_FILE).read_text(encoding="utf-8")
    return RulesTable.model_validate(json.loads(text))


def region_codes(e164: str) -> tuple[str, ...]:
    """The regions a number belongs to, the most specific first: ("US-FL", "US"),
    ("CA-ON", "CA"), ("FR",); () for a number of no country."""
    number = phonenumbers.parse(e164, None)
    country = phonenumbers.region_code_for_number(number)
    if not country or country == "ZZ":
        return ()
    subdivision = region_of_number(number) if country in ("US", "CA") else None
    if subdivision is not None and len(subdivision) == 2 and subdivision.isupper():
        return (f"{country}-{subdivision}", country)
    return (country,)


def regional_rule_for(e164: str, today: date) -> RegionalRule | None:
    """The rule for the callee's region (its state or province, else its country), with the
    holiday dates from the day before ``today`` on; None where the table has none."""
    table = rules_table().by_region()
    for code in region_codes(e164):
        if code in table:
            return table[code].rule(today)
    return None
