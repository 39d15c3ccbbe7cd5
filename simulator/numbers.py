"""Phone numbers as Retell accepts them: any country, strictly E.164 as written."""

from __future__ import annotations

import phonenumbers

E164_RULE = "must be a valid phone number in E.164 format, e.g. +14155550123"


def is_e164(value: str) -> bool:
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    return (
        phonenumbers.is_valid_number(parsed)
        and phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == value
    )


def check_e164(value: str) -> str:
    """``value`` itself, or ValueError with the rule (pydantic names the field)."""
    if not is_e164(value):
        raise ValueError(E164_RULE)
    return value
