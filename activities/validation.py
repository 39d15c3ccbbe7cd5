"""Validate a call request before anything is dialed (adapters/request_check.py)."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.request_check import RequestCheck
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallRequest, ValidatedCall

INVALID_REQUEST_ERROR = "InvalidCallRequest"


class RequestValidationActivities(RequestCheck):
    """The request checks as an activity; its result is recorded, so the workflow reads the
    worker's settings from its history, never from the environment."""

    @activity.defn(name="validate_call_request")
    async def validate_call_request(self, request: CallRequest) -> ValidatedCall:
        """Fail at once, without retries, naming the field and the rule that was broken."""
        try:
            return await self.validated(request)
        except InvalidCallRequest as exc:
            raise ApplicationError(
                str(exc),
                {"field": exc.field, "rule": exc.rule},
                type=INVALID_REQUEST_ERROR,
                non_retryable=True,
            ) from None


# With the default rule (public destinations only), for code that registers it by itself.
validate_call_request = RequestValidationActivities().validate_call_request
