"""When to dial again, and after how long: a pure function of the policy and the attempts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from calls.outcomes import FollowUp, classify_disconnection
from outbound_calls_client.models import AttemptRecord, OutcomeStatus, RedialPolicy


def next_redial_delay(policy: RedialPolicy, attempts: Sequence[AttemptRecord]) -> timedelta | None:
    """The wait before the next attempt, or None when the last attempt is final."""
    if not attempts or len(attempts) >= policy.max_attempts:
        return None
    last = attempts[-1]
    # No call was placed (Retell refused the request, or never answered): dialing again
    # would fail the same way, and a refused request is not the callee's doing.
    if last.call_id is None or last.status not in policy.retry_on:
        return None
    follow_up = classify_disconnection(last.disconnection_reason).follow_up
    if follow_up == FollowUp.CALLBACK:
        return timedelta(seconds=policy.callback_delay_s)
    if follow_up == FollowUp.REDIAL_LOW_CAP:
        failed = sum(1 for a in attempts if a.status == OutcomeStatus.DIAL_FAILED)
        if failed >= policy.dial_failed_max_attempts:
            return None
    if follow_up not in (FollowUp.REDIAL, FollowUp.REDIAL_LOW_CAP):
        return None
    seconds = policy.initial_delay_s * policy.backoff ** (len(attempts) - 1)
    return timedelta(seconds=min(seconds, policy.max_delay_s))
