"""The request rules that need ``phonenumbers`` or the clock: run in an activity, and by
callers up front."""

from __future__ import annotations

from datetime import UTC, datetime

from outbound_calls_client.bounds import check_bounds
from outbound_calls_client.calling_window import NoCommonWindow, describe, next_allowed_time
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallRequest, ValidatedCall
from outbound_calls_client.phone import mask_number, normalize_e164, time_zones_for


def validate_request(request: CallRequest) -> ValidatedCall:
    """Check the bounds (outbound_calls_client.bounds), normalise both numbers and check
    the calling window can ever open.

    Raises :class:`outbound_calls_client.errors.InvalidCallRequest` naming the field and the rule.
    """
    check_bounds(request)
    to_number = normalize_e164("to_number", request.to_number)
    from_number = (
        None if request.from_number is None else normalize_e164("from_number", request.from_number)
    )
    window = request.calling_window
    zones = (window.time_zone,) if window.time_zone else time_zones_for(to_number)
    try:
        next_allowed_time(datetime.now(UTC), zones, window)
    except NoCommonWindow:
        raise InvalidCallRequest(
            "calling_window",
            "common_window",
            f"no moment is inside {describe(window)} in all {len(zones)} time zones of "
            "to_number; set calling_window.time_zone",
        ) from None
    return ValidatedCall(
        to_number=to_number,
        from_number=from_number,
        to_number_masked=mask_number(to_number),
        time_zones=zones,
    )
