from __future__ import annotations

from datetime import timedelta

from calls.redial import next_redial_delay
from outbound_calls_client.models import AttemptRecord, OutcomeStatus, RedialPolicy


def _attempt(n: int, status: OutcomeStatus, reason: str | None, call: bool = True) -> AttemptRecord:
    return AttemptRecord(
        attempt=n,
        idempotency_key=f"wf:{n}",
        call_id=f"call_{n}" if call else None,
        status=status,
        disconnection_reason=reason,
    )


POLICY = RedialPolicy(max_attempts=4, initial_delay_s=60, backoff=2, max_delay_s=150)


def test_default_policy_dials_once() -> None:
    no_answer = [_attempt(1, OutcomeStatus.NO_ANSWER, "dial_no_answer")]
    assert next_redial_delay(RedialPolicy(), no_answer) is None


def test_backoff_grows_and_is_capped() -> None:
    attempts = [_attempt(1, OutcomeStatus.NO_ANSWER, "dial_no_answer")]
    assert next_redial_delay(POLICY, attempts) == timedelta(seconds=60)
    attempts.append(_attempt(2, OutcomeStatus.BUSY, "dial_busy"))
    assert next_redial_delay(POLICY, attempts) == timedelta(seconds=120)
    attempts.append(_attempt(3, OutcomeStatus.BUSY, "dial_busy"))
    assert next_redial_delay(POLICY, attempts) == timedelta(seconds=150)
    attempts.append(_attempt(4, OutcomeStatus.BUSY, "dial_busy"))
    assert next_redial_delay(POLICY, attempts) is None


def test_final_outcomes_are_never_redialed() -> None:
    for status, reason in [
        (OutcomeStatus.COMPLETED, "user_hangup"),
        (OutcomeStatus.DO_NOT_CALL, "user_requested_dnc"),
        (OutcomeStatus.ACCOUNT_ERROR, "credit_exhausted"),
        (OutcomeStatus.TIMED_OUT, None),
    ]:
        assert next_redial_delay(POLICY, [_attempt(1, status, reason)]) is None
    # Retell refused the request itself: no call to redial.
    assert next_redial_delay(POLICY, [_attempt(1, OutcomeStatus.FAILED, None, call=False)]) is None


def test_callback_waits_the_callback_delay() -> None:
    policy = RedialPolicy(max_attempts=2, callback_delay_s=7200)
    attempts = [_attempt(1, OutcomeStatus.CALLBACK_REQUESTED, "user_requested_callback")]
    assert next_redial_delay(policy, attempts) == timedelta(hours=2)


def test_dial_failed_has_a_low_cap() -> None:
    policy = RedialPolicy(max_attempts=10, dial_failed_max_attempts=2)
    attempts = [_attempt(1, OutcomeStatus.DIAL_FAILED, "dial_failed")]
    assert next_redial_delay(policy, attempts) is not None
    attempts.append(_attempt(2, OutcomeStatus.DIAL_FAILED, "dial_failed"))
    assert next_redial_delay(policy, attempts) is None
