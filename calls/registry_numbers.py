"""Do-not-call registry files, line by line: the rules, without the file or the store.

A line is one number (``4155550123``, ``+14155550123``, ``(415) 555-0123``, any country's
E.164) or the US National Do Not Call Registry's full-list download form, area code and
number separated by a comma (``415,5550123``). Each becomes E.164 with ``phonenumbers``.

A number is kept when it is *possible* (the right length for its country), not only when
``is_valid_number`` holds: refusing one number too many costs nothing, while a listed number
dropped because this copy of the numbering plan does not know its range yet would be dialed
once the plan is updated.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, ValidationResult

from outbound_calls_client.errors import InvalidCallRequest

# The FTC's rule: a seller refreshes its copy of the registry at least every 31 days.
MAX_SOURCE_AGE = timedelta(days=31)

# A source's name: a word a shell and a CSV cell carry as it is ("national-2026-12").
SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_E164 = re.compile(r"\+[1-9]\d{1,14}")
_DIGITS = re.compile(r"\d+")
# Ten digits of the North American plan (no leading 0 or 1), with or without +1, or as the
# registry writes them (415,5550123): what phonenumbers makes "+1" + the digits of, in any
# region of country code 1 (checked by a test against phonenumbers itself). Taken without
# parsing, a registry file reads several times faster.
_NANP_TEN = re.compile(r"(?:\+1)?([2-9]\d{9})")
_QUICK = (re.compile(r"([2-9]\d\d),(\d{7})\s*"), re.compile(r"(?:\+1)?([2-9]\d\d)(\d{7})\s*"))
_TRIM = " \t\r\n\"'\ufeff"


class BadRegistryLine(ValueError):
    """A line that is not a number; the message says what is wrong with it."""


def check_source_name(name: str) -> str:
    if not SOURCE_NAME.fullmatch(name):
        raise InvalidCallRequest(
            "source",
            "source_name",
            "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return name


def check_region(region: str) -> str:
    """An ISO 3166 region phonenumbers knows (``US``), upper-cased."""
    upper = region.upper()
    if phonenumbers.country_code_for_region(upper) == 0:
        raise InvalidCallRequest("region", "region", "must be a two-letter region, e.g. US")
    return upper


@cache
def _in_north_america(region: str) -> bool:
    return phonenumbers.country_code_for_region(region) == 1


def registry_number(line: str, region: str = "US") -> str | None:
    """The E.164 number of one line; None for a blank line; :class:`BadRegistryLine` else.

    ``region`` is the country of numbers written without ``+`` and a country code.
    """
    for quick in _QUICK:
        found = quick.fullmatch(line)
        if found is not None and (line.startswith("+") or _in_north_america(region)):
            return f"+1{found[1]}{found[2]}"
    text = line.strip(_TRIM)
    if not text:
        return None
    fields = [field.strip(_TRIM) for field in text.split(",")]
    if len(fields) == 2:
        area, local = fields
        if not (len(area) == 3 and len(local) == 7 and _DIGITS.fullmatch(area + local)):
            raise BadRegistryLine("expected area code,number (3 and 7 digits)")
        text = area + local
    elif len(fields) > 2:
        raise BadRegistryLine(
            "more than two fields (a change list? import the registry's full list)"
        )
    ten = _NANP_TEN.fullmatch(text)
    if ten is not None and (text.startswith("+") or _in_north_america(region)):
        return "+1" + ten.group(1)
    return _parsed(text, region)


def _parsed(text: str, region: str) -> str:
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise BadRegistryLine("not a phone number") from None
    if phonenumbers.is_possible_number_with_reason(parsed) != ValidationResult.IS_POSSIBLE:
        raise BadRegistryLine("not a possible number (wrong length for its country)")
    e164: str = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    if not _E164.fullmatch(e164):
        raise BadRegistryLine("not a possible number (no E.164 form)")
    return e164


def age_days(imported_at: datetime, now: datetime) -> float:
    return (now - imported_at) / timedelta(days=1)


def is_stale(imported_at: datetime, now: datetime) -> bool:
    """Older than the registry's 31 days: the copy must be downloaded and imported again."""
    return now - imported_at > MAX_SOURCE_AGE
