"""Validate a call request before anything is dialed."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from calls.errors import InvalidCallRequest
from calls.models import CallRequest, ValidatedCall
from calls.validation import validate_request

INVALID_REQUEST_ERROR = "InvalidCallRequest"


@activity.defn(name="validate_call_request")
async def validate_call_request(request: CallRequest) -> ValidatedCall:
    """Fail at once, without retries, naming the field and the rule that was broken."""
    try:
        return validate_request(request)
    except InvalidCallRequest as exc:
        raise ApplicationError(
            str(exc),
            {"field": exc.field, "rule": exc.rule},
            type=INVALID_REQUEST_ERROR,
            non_retryable=True,
        ) from None
