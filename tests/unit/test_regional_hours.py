"""The calling-hours table (calls/data/calling_rules.json), the region of a number, the holiday
dates, and the validation activity that puts the callee's rule in ValidatedCall."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.validation import RequestValidationActivities
from calls.holidays import HOLIDAY_NAMES, easter_sunday, holiday_dates
from calls.regional_hours import HOLIDAY_HORIZON, region_codes, regional_rule_for, rules_table
from outbound_calls_client.calling_window import describe_hours
from outbound_calls_client.models import CallingWindow, CallRequest, HoursRange, ValidatedCall

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 7)
STATES = [
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "DC",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
]
MIAMI = "+13055550123"
TORONTO = "+14165550123"
SALT_LAKE_CITY = "+18015550123"
FEDERAL = "47 CFR 64.1200(c)(1) (TCPA)"


# The table


def test_every_state_and_dc_has_a_rule() -> None:
    regions = {entry.region for entry in rules_table().rules}
    assert len(STATES) == 51
    assert {f"US-{state}" for state in STATES} <= regions
    assert len(regions) == len(rules_table().rules), "a region appears twice"


def test_every_rule_names_its_source_and_when_it_was_read() -> None:
    for entry in rules_table().rules:
        assert entry.source.strip(), entry.region
        assert all(url.startswith(("https://", "http://")) for url in entry.urls), entry.region
        assert entry.checked <= TODAY, entry.region
        if entry.holidays:
            assert entry.holidays_source, f"{entry.region} names holidays without their law"


def test_every_rule_is_coherent_and_its_holidays_are_known() -> None:
    for entry in rules_table().rules:
        assert set(entry.holidays) <= HOLIDAY_NAMES, entry.region
        rule = entry.rule(TODAY)  # RegionalRule checks days 1..7, ranges ordered
        days_with_calls = [ranges for ranges in rule.hours.values() if ranges]
        assert days_with_calls, f"{entry.region} allows no day at all"
        for ranges in days_with_calls:
            assert all(r.start < r.end for r in ranges)


def test_no_us_rule_is_looser_than_the_federal_one() -> None:
    for entry in rules_table().rules:
        if entry.region == "US" or entry.region.startswith("US-"):
            for ranges in entry.hours.values():
                for r in ranges or ():
                    assert time(8) <= r.start, entry.region
                    assert r.end <= time(21), entry.region


def test_the_stricter_states_have_their_own_rules() -> None:
    by_region = rules_table().by_region()
    florida = by_region["US-FL"].rule(TODAY)
    assert all(r == ((time(8), time(20)),) for r in _spans(florida.hours).values())
    utah = by_region["US-UT"].rule(TODAY)
    assert utah.hours[7] is None
    assert date(2026, 12, 25) in utah.holidays
    assert by_region["US-NY"].source == "47 CFR 64.1200(c)(1) (TCPA)"


def test_the_table_ships_in_the_wheel() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "data/*.json" in setuptools["package-data"]["calls"]
    assert (ROOT / "calls" / "data" / "calling_rules.json").is_file()


# Holidays


def test_holidays_fall_on_their_days() -> None:
    assert [easter_sunday(y) for y in (2025, 2026, 2027)] == [
        date(2025, 4, 20),
        date(2026, 4, 5),
        date(2027, 3, 28),
    ]
    year = (date(2026, 1, 1), date(2026, 12, 31))
    assert holiday_dates(["thanksgiving"], *year) == (date(2026, 11, 26),)
    assert holiday_dates(["memorial_day"], *year) == (date(2026, 5, 25),)
    assert holiday_dates(["election_day"], *year) == (date(2026, 11, 3),)
    assert holiday_dates(["mardi_gras", "good_friday"], *year) == (
        date(2026, 2, 17),
        date(2026, 4, 3),
    )


def test_a_weekend_holiday_also_blocks_its_observed_weekday() -> None:
    july = (date(2026, 7, 1), date(2026, 7, 31))  # 4 July 2026 is a Saturday
    assert holiday_dates(["independence_day"], *july) == (date(2026, 7, 4),)
    assert holiday_dates(["independence_day"], *july, weekend_moves=True) == (
        date(2026, 7, 3),
        date(2026, 7, 4),
    )
    # 1 January 2028 is a Saturday: observed on 31 December 2027.
    assert date(2027, 12, 31) in holiday_dates(
        ["new_years_day"], date(2027, 12, 1), date(2027, 12, 31), weekend_moves=True
    )


def test_an_unknown_holiday_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown holiday"):
        holiday_dates(["festivus"], date(2026, 1, 1), date(2026, 12, 31))


def test_holidays_cover_the_next_400_days() -> None:
    rule = regional_rule_for(SALT_LAKE_CITY, TODAY)
    assert rule is not None
    assert min(rule.holidays) >= TODAY - timedelta(days=1)
    assert max(rule.holidays) <= TODAY + HOLIDAY_HORIZON
    assert date(2027, 12, 24) in rule.holidays  # Christmas 2027 is a Saturday


# The region of a number


def test_a_miami_number_is_in_florida() -> None:
    assert region_codes(MIAMI) == ("US-FL", "US")
    rule = regional_rule_for(MIAMI, TODAY)
    assert rule is not None
    assert rule.region == "US-FL"
    assert rule.source == "Fla. Stat. § 501.616(6)(a)"


def test_a_toronto_number_is_in_ontario_under_canadas_rule() -> None:
    assert region_codes(TORONTO) == ("CA-ON", "CA")
    rule = regional_rule_for(TORONTO, TODAY)
    assert rule is not None
    assert rule.region == "CA"
    assert _spans(rule.hours)[6] == ((time(10), time(18)),)


def test_a_us_number_of_no_state_gets_the_federal_rule() -> None:
    assert region_codes("+18005550123") == ("US",)
    rule = regional_rule_for("+18005550123", TODAY)
    assert rule is not None
    assert rule.region == "US"


def test_a_country_without_a_rule_has_none() -> None:
    assert regional_rule_for("+442079460000", TODAY) is None  # no UK rule in the table


# The validation activity


async def test_validation_fills_the_callees_rule() -> None:
    validated = await _validate(CallRequest(to_number=MIAMI, from_number="+14155550100"))
    assert validated.regional_rule is not None
    assert validated.regional_rule.region == "US-FL"
    utah = await _validate(CallRequest(to_number=SALT_LAKE_CITY, from_number="+14155550100"))
    assert utah.regional_rule is not None
    today = datetime.now(UTC).date()
    assert today - timedelta(days=1) <= min(utah.regional_rule.holidays)
    assert max(utah.regional_rule.holidays) > today + timedelta(days=300)
    # Recorded in history as JSON and read back by the workflow.
    assert ValidatedCall.model_validate_json(validated.model_dump_json()) == validated


async def test_validation_leaves_the_rule_out_when_the_request_turns_it_off() -> None:
    request = CallRequest(
        to_number=MIAMI,
        from_number="+14155550100",
        calling_window=CallingWindow(regional_rules=False),
    )
    validated = await _validate(request)
    assert validated.regional_rule is None
    assert "regional_rule" not in validated.model_dump(mode="json")


async def test_validation_refuses_a_window_the_rule_never_opens() -> None:
    # Sundays only, to Utah, where the rule forbids Sundays.
    request = CallRequest(
        to_number=SALT_LAKE_CITY,
        from_number="+14155550100",
        calling_window=CallingWindow(days=frozenset({7})),
    )
    with pytest.raises(ApplicationError) as refused:
        await _validate(request)
    assert "US-UT" in str(refused.value)
    assert refused.value.details[0] == {"field": "calling_window", "rule": "common_window"}


def test_an_unset_regional_rules_is_left_out_of_the_request_json() -> None:
    request = CallRequest(to_number=MIAMI, from_number="+14155550100")
    assert "regional_rules" not in request.model_dump(mode="json")["calling_window"]
    off = CallingWindow(regional_rules=False).model_dump(mode="json")
    assert off["regional_rules"] is False


async def _validate(request: CallRequest) -> ValidatedCall:
    activities = RequestValidationActivities()
    result: ValidatedCall = await ActivityEnvironment().run(
        activities.validate_call_request, request
    )
    return result


def _spans(
    hours: dict[int, tuple[HoursRange, ...] | None],
) -> dict[int, tuple[tuple[time, time], ...]]:
    return {day: tuple((r.start, r.end) for r in ranges or ()) for day, ranges in hours.items()}


# The table in docs/calls.md


def docs_rows() -> list[str]:
    """The rows docs/calls.md's "Calling hours by region" table must have, from the data: one
    per rule stricter than the federal one, then one for every state the federal rule covers."""
    rows, federal = [], []
    for entry in rules_table().rules:
        if entry.source == FEDERAL and entry.region.startswith("US-"):
            federal.append(entry.region.removeprefix("US-"))
            continue
        if entry.source == FEDERAL:
            continue
        holidays = ", ".join(entry.holidays) or "none"
        if entry.weekend_moves:
            holidays += " (a fixed date on a weekend: the weekday it is observed on too)"
        law = entry.source + (
            f"; holidays: {entry.holidays_source}" if entry.holidays_source else ""
        )
        links = " ".join(f"[{n}]({url})" for n, url in enumerate(entry.urls, start=1))
        hours = describe_hours(entry.rule(TODAY))
        rows.append(f"| {entry.region} {entry.name} | {hours} | {holidays} | {law} {links} |")
    rows.append(
        f"| US-{', '.join(federal)} | 08:00-21:00 | none | {FEDERAL} "
        f"[1]({rules_table().by_region()['US'].urls[0]}) |"
    )
    return rows


def test_the_docs_table_is_the_data() -> None:
    docs = (ROOT / "docs" / "calls.md").read_text()
    missing = [row for row in docs_rows() if row not in docs]
    assert not missing, "docs/calls.md lacks (regenerate the table):\n" + "\n".join(missing)
