"""What each Retell ``disconnection_reason`` means for us: an outcome and a follow-up.

The table is exhaustive over retell-sdk's list of reasons (a test compares them), so a reason
Retell adds later fails CI instead of silently falling into a default.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from outbound_calls_client.models import OutcomeStatus


class FollowUp(StrEnum):
    """What the workflow does after a call ended for a reason."""

    DONE = "done"  # the person was reached: post-call follow-ups only
    REDIAL = "redial"  # try again later, per the request's redial policy
    CALLBACK = "callback"  # redial after the callback delay
    REDIAL_LOW_CAP = "redial_low_cap"  # bursts of failed dials get a number marked as spam
    NEVER_AGAIN = "never_again"  # final for this person; do-not-call list
    ACCOUNT_PROBLEM = "account_problem"  # final; no redial; a campaign pauses


@dataclass(frozen=True)
class ReasonRule:
    status: OutcomeStatus
    follow_up: FollowUp


_ANSWERED = ReasonRule(OutcomeStatus.COMPLETED, FollowUp.DONE)
_RETRY_FAILED = ReasonRule(OutcomeStatus.FAILED, FollowUp.REDIAL)
_ACCOUNT = ReasonRule(OutcomeStatus.ACCOUNT_ERROR, FollowUp.ACCOUNT_PROBLEM)

DISCONNECTION_RULES: dict[str, ReasonRule] = {
    # Answered: someone (or the agent) talked and the call ran its course.
    "user_hangup": _ANSWERED,
    "agent_hangup": _ANSWERED,
    "call_transfer": _ANSWERED,
    "transfer_bridged": _ANSWERED,
    "transfer_cancelled": _ANSWERED,
    "call_take_over": _ANSWERED,
    "inactivity": _ANSWERED,
    "max_duration_reached": _ANSWERED,
    # Try again later.
    "dial_no_answer": ReasonRule(OutcomeStatus.NO_ANSWER, FollowUp.REDIAL),
    "user_declined": ReasonRule(OutcomeStatus.NO_ANSWER, FollowUp.REDIAL),
    "dial_busy": ReasonRule(OutcomeStatus.BUSY, FollowUp.REDIAL),
    "voicemail_reached": ReasonRule(OutcomeStatus.VOICEMAIL, FollowUp.REDIAL),
    "ivr_reached": ReasonRule(OutcomeStatus.VOICEMAIL, FollowUp.REDIAL),
    "concurrency_limit_reached": _RETRY_FAILED,
    "no_concurrency_fallback": _RETRY_FAILED,
    "telephony_provider_unavailable": _RETRY_FAILED,
    "registered_call_timeout": _RETRY_FAILED,
    "error_llm_websocket_open": _RETRY_FAILED,
    "error_llm_websocket_lost_connection": _RETRY_FAILED,
    "error_llm_websocket_runtime": _RETRY_FAILED,
    "error_llm_websocket_corrupt_payload": _RETRY_FAILED,
    "error_no_audio_received": _RETRY_FAILED,
    "error_asr": _RETRY_FAILED,
    "error_retell": _RETRY_FAILED,
    "error_unknown": _RETRY_FAILED,
    "error_user_not_joined": _RETRY_FAILED,
    # The person asked to be called back.
    "user_requested_callback": ReasonRule(OutcomeStatus.CALLBACK_REQUESTED, FollowUp.CALLBACK),
    # Retry, but only a little: repeated failed dials get a number flagged as spam.
    "dial_failed": ReasonRule(OutcomeStatus.DIAL_FAILED, FollowUp.REDIAL_LOW_CAP),
    # Never again for this person.
    "invalid_destination": ReasonRule(OutcomeStatus.INVALID_NUMBER, FollowUp.NEVER_AGAIN),
    "user_requested_dnc": ReasonRule(OutcomeStatus.DO_NOT_CALL, FollowUp.NEVER_AGAIN),
    # Someone hung the call up through the API (our cancel, or an operator).
    "manual_stopped": ReasonRule(OutcomeStatus.CANCELED, FollowUp.DONE),
    # The account or its telephony setup is wrong: redialing only burns money and reputation.
    "telephony_provider_permission_denied": _ACCOUNT,
    "sip_routing_error": _ACCOUNT,
    "no_valid_payment": _ACCOUNT,
    "credit_exhausted": _ACCOUNT,
    "budget_reached": _ACCOUNT,
    "scam_detected": _ACCOUNT,
    "marked_as_spam": _ACCOUNT,
    "network_blocked": _ACCOUNT,
}

# A reason this table has never heard of: say so in the outcome, and let the redial policy
# treat it like an error (a later attempt may well succeed).
UNKNOWN_REASON_RULE = _RETRY_FAILED


def classify_disconnection(reason: str | None) -> ReasonRule:
    """The rule for ``reason``; an ended call without a reason counts as an unknown error."""
    if reason is None:
        return UNKNOWN_REASON_RULE
    return DISCONNECTION_RULES.get(reason, UNKNOWN_REASON_RULE)
