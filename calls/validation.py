"""The request rules that need ``phonenumbers``: run in an activity, and by callers up front."""

from __future__ import annotations

from calls.models import CallRequest, ValidatedCall
from calls.phone import mask_number, normalize_e164, time_zones_for


def validate_request(request: CallRequest) -> ValidatedCall:
    """Normalise both numbers or raise :class:`calls.phone.InvalidPhoneNumber`."""
    to_number = normalize_e164("to_number", request.to_number)
    from_number = normalize_e164("from_number", request.from_number)
    return ValidatedCall(
        to_number=to_number,
        from_number=from_number,
        to_number_masked=mask_number(to_number),
        time_zones=time_zones_for(to_number),
    )
