"""Validate a call request before anything is dialed."""

from __future__ import annotations

import contextlib

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.outcome_urls import OutcomeUrlPolicy, OutcomeUrlUnresolved
from calls.returned_call import number_hash
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallRequest, ValidatedCall
from outbound_calls_client.names import DEFAULT_CALLBACK_TIME_FIELD
from outbound_calls_client.validation import validate_request

INVALID_REQUEST_ERROR = "InvalidCallRequest"


class RequestValidationActivities:
    """The request rules, with the worker's outcome destination rule
    (``OUTCOME_URL_ALLOWED_HOSTS``) among them; the result also carries the worker's
    ``CALLBACK_TIME_FIELD`` and the keyed hash of the callee's number (with
    ``NUMBER_HASH_KEY``, which must not reach a history) to the workflow, recorded with it."""

    def __init__(
        self,
        outcome_urls: OutcomeUrlPolicy | None = None,
        *,
        callback_time_field: str = DEFAULT_CALLBACK_TIME_FIELD,
        number_hash_key: str | None = None,
    ) -> None:
        self._outcome_urls = outcome_urls or OutcomeUrlPolicy()
        self._callback_time_field = callback_time_field
        self._number_hash_key = number_hash_key

    @activity.defn(name="validate_call_request")
    async def validate_call_request(self, request: CallRequest) -> ValidatedCall:
        """Fail at once, without retries, naming the field and the rule that was broken."""
        try:
            validated = validate_request(request)
            if request.outcome_url is not None:
                # A host that does not resolve now may later: delivery checks again.
                with contextlib.suppress(OutcomeUrlUnresolved):
                    await self._outcome_urls.resolve(str(request.outcome_url))
            key = self._number_hash_key
            return validated.model_copy(
                update={
                    "callback_time_field": self._callback_time_field,
                    "to_number_hash": number_hash(key, validated.to_number) if key else None,
                }
            )
        except InvalidCallRequest as exc:
            raise ApplicationError(
                str(exc),
                {"field": exc.field, "rule": exc.rule},
                type=INVALID_REQUEST_ERROR,
                non_retryable=True,
            ) from None


# With the default rule (public destinations only), for code that registers it by itself.
validate_call_request = RequestValidationActivities().validate_call_request
