"""Phone number rules (``phonenumbers``, Google's libphonenumber) and masking.

The seed guide checks numbers with a regex; a regex accepts numbers that no carrier can ring
(unassigned ranges, wrong lengths for the country) and premium-rate lines that cost the
caller money. ``is_valid_number`` and ``number_type`` know each country's plan.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumberType
from phonenumbers import timezone as phone_timezone

from outbound_calls_client.errors import InvalidCallRequest

# Lines an automated caller never wants to ring: they charge the caller or lead nowhere.
REJECTED_NUMBER_TYPES: dict[int, str] = {
    PhoneNumberType.PREMIUM_RATE: "premium-rate",
    PhoneNumberType.SHARED_COST: "shared-cost",
    PhoneNumberType.UNKNOWN: "unknown-type",
}

_E164_SHAPE = re.compile(r"\+[1-9]\d{6,14}")
# The forms a number is written in, in logs, URLs and error texts. Each alternative is
# bounded by non-word characters so that ids and hex strings are left alone.
_PHONE_LIKE = re.compile(
    r"""
    (?:\+|%2[Bb])\d(?:[\d\s().-]|%20){5,}\d           # +1 415-555-0123, %2B14155550123
    | (?<![\w+%-])(?:1[\s.-]?)?\(\d{3}\)[\s.-]?\d{3}[\s.-]?\d{4}(?![\w-])
                                                      # (415) 555-0123, 1 (415) 555-0123
    | (?<![\w+%.-])(?:1[\s.-])?[2-9]\d{2}[\s.-]\d{3}[\s.-]\d{4}(?![\w-])
                                                      # 415-555-0123, 415.555.0123
    | (?<![\w+%.-])\d{10,15}(?![\w.-])                 # 14155550123, 447700900123
    """,
    re.VERBOSE,
)
# Bare runs that are the clock, not a number: unix seconds (10 digits) and ms (13 digits)
# from 2001 to 2286 all start with 1, and no number of the North American plan (the one
# written without "+" most) has 10 or 13 digits starting with 1.
_TIMESTAMP_LIKE = re.compile(r"1\d{9}|1\d{12}")


class InvalidPhoneNumber(InvalidCallRequest):
    """A number breaks a rule; the message names the field and the rule."""


def normalize_e164(field: str, raw: str) -> str:
    """Return ``raw`` as a valid, callable E.164 number, or raise :class:`InvalidPhoneNumber`.

    Input must already be E.164 (``+`` and country code): Retell dials exactly what it is
    given, and guessing a default country turns a typo into a call to another country.
    """
    candidate = raw.strip()
    if not _E164_SHAPE.fullmatch(candidate):
        raise InvalidPhoneNumber(
            field, "e164", "must be E.164: '+', country code and number, digits only"
        )
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(field, "parse", f"cannot be parsed ({exc._msg})") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(
            field, "is_valid_number", "is not a valid number in its country's numbering plan"
        )
    kind = REJECTED_NUMBER_TYPES.get(phonenumbers.number_type(parsed))
    if kind is not None:
        raise InvalidPhoneNumber(field, "number_type", f"is a {kind} number, which is not dialed")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def time_zones_for(e164: str) -> tuple[str, ...]:
    """IANA zones a valid number may ring in (several for some numbering plans)."""
    zones = phone_timezone.time_zones_for_number(phonenumbers.parse(e164, None))
    return tuple(zone for zone in zones if zone != phone_timezone.UNKNOWN_TIMEZONE)


def _country_code_of(digits: str) -> str:
    # A plain table lookup (calling codes are prefix-free): parse() would lazily import
    # region metadata, which the workflow sandbox forbids.
    for length in (1, 2, 3):
        if int(digits[:length]) in COUNTRY_CODE_TO_REGION_CODE:
            return digits[:length]
    return ""


def mask_number(number: str) -> str:
    """Keep the country code and last two digits: enough to tell calls apart, not to dial.

    Pure and safe inside workflow code.
    """
    digits = re.sub(r"\D", "", number)
    if len(digits) < 4:
        return "*" * len(digits)
    country = _country_code_of(digits)
    hidden = len(digits) - len(country) - 2
    return f"+{country}{'*' * hidden}{digits[-2:]}"


def _mask_match(match: re.Match[str]) -> str:
    text = match.group(0)
    if _TIMESTAMP_LIKE.fullmatch(text):
        return text
    digits = re.sub(r"\D", "", text.replace("%20", " ").replace("%2B", "").replace("%2b", ""))
    if not text.startswith(("+", "%2")) and len(digits) == 10:
        digits = "1" + digits  # a North American number written without its country code
    return mask_number(digits)


def mask_numbers_in(text: str) -> str:
    """Mask every phone-number-like run in free text (log lines, error messages, URLs):
    ``+1 415-555-0123``, ``14155550123``, ``(415) 555-0123``, ``%2B14155550123``..."""
    return _PHONE_LIKE.sub(_mask_match, text)
