"""The checks a call request passes before anything is dialed, as a worker makes them: the
request rules, the worker's outcome destination rule (``OUTCOME_URL_ALLOWED_HOSTS``), the
callee's regional calling hours (calls/regional_hours.py), and what the workflow is to record
of the worker's settings (``CALLBACK_TIME_FIELD``, the keyed hash of the callee's number with
``NUMBER_HASH_KEY``, which must not reach a history). The validation activity runs it;
``campaign check`` runs the same on a contacts file without a workflow."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from adapters.outcome_urls import OutcomeUrlPolicy, OutcomeUrlUnresolved
from calls.regional_hours import regional_rule_for
from calls.returned_call import number_hash
from outbound_calls_client.calling_window import (
    NoCommonWindow,
    describe,
    describe_rule,
    next_allowed_time_with,
)
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallRequest, RegionalRule, ValidatedCall
from outbound_calls_client.names import DEFAULT_CALLBACK_TIME_FIELD
from outbound_calls_client.validation import validate_request


class RequestCheck:
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

    async def validated(self, request: CallRequest) -> ValidatedCall:
        """The request with its numbers normalised and what the workflow records; raises
        InvalidCallRequest naming the field and the rule."""
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
                "regional_rule": regional_rule_of(request, validated),
            }
        )


def regional_rule_of(request: CallRequest, validated: ValidatedCall) -> RegionalRule | None:
    """The callee's rule, with holidays from today on; refused (like a window that never
    opens) when the request's window and the rule share no time at all."""
    window = request.calling_window
    if not window.applies_regional_rules:
        return None
    now = datetime.now(UTC)
    rule = regional_rule_for(validated.to_number, now.date())
    if rule is None:
        return None
    try:
        next_allowed_time_with(now, validated.time_zones, window, rule)
    except NoCommonWindow:
        raise InvalidCallRequest(
            "calling_window",
            "common_window",
            f"no moment is inside {describe(window)} and {describe_rule(rule)}; widen "
            "calling_window, or set calling_window.regional_rules to false",
        ) from None
    return rule
