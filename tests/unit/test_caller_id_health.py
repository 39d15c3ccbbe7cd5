"""Number health judged from counts alone: spam rests at once, a burst of failed dials
rests, an answer rate far under the pool's rests once both have enough calls, and a rest
starts the number's record over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calls.caller_id_health import (
    WINDOW_CALLS,
    Health,
    HealthRules,
    PoolRate,
    ResultKind,
    judge,
    result_kind,
)
from outbound_calls_client.models import OutcomeStatus

NOW = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
RULES = HealthRules()
A_GOOD_POOL = PoolRate(calls=100, answered=40)


def _after(kinds: list[ResultKind], pool: PoolRate = A_GOOD_POOL) -> tuple[Health, list[str]]:
    health, reasons = Health(), []
    for kind in kinds:
        verdict = judge(health, kind, pool, RULES, NOW)
        health = verdict.health
        if verdict.reason is not None:
            reasons.append(verdict.reason)
    return health, reasons


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (OutcomeStatus.ACCOUNT_ERROR, "marked_as_spam", ResultKind.SPAM),
        (OutcomeStatus.DIAL_FAILED, "dial_failed", ResultKind.DIAL_FAILED),
        (OutcomeStatus.COMPLETED, "user_hangup", ResultKind.ANSWERED),
        (OutcomeStatus.DO_NOT_CALL, "user_requested_dnc", ResultKind.ANSWERED),
        (OutcomeStatus.VOICEMAIL, "voicemail_reached", ResultKind.UNANSWERED),
        (OutcomeStatus.NO_ANSWER, "dial_no_answer", ResultKind.UNANSWERED),
        (OutcomeStatus.INVALID_NUMBER, "invalid_destination", None),
        (OutcomeStatus.CANCELED, "manual_stopped", None),
        (OutcomeStatus.FAILED, "error_llm_websocket_open", None),
    ],
)
def test_what_an_attempt_says_of_its_number(
    status: OutcomeStatus, reason: str, kind: ResultKind | None
) -> None:
    assert result_kind(status, reason) is kind


def test_marked_as_spam_rests_at_once_for_the_spam_rest() -> None:
    verdict = judge(Health(), ResultKind.SPAM, A_GOOD_POOL, RULES, NOW)
    assert verdict.rest_until == NOW + RULES.spam_rest
    assert verdict.reason is not None
    assert verdict.reason.startswith("marked_as_spam")
    assert verdict.health.rests == 1


def test_a_burst_of_failed_dials_rests_but_failures_apart_do_not() -> None:
    apart = [ResultKind.DIAL_FAILED, ResultKind.DIAL_FAILED, ResultKind.ANSWERED] * 3
    assert _after(apart)[1] == []
    health, reasons = _after([ResultKind.DIAL_FAILED] * RULES.dial_failed_burst)
    assert reasons == ["dial_failed: 3 calls in a row failed to dial"]
    assert health.failed_streak == 0
    assert health.rests == 1


def test_an_answer_rate_far_under_the_pools_rests_once_there_are_enough_calls() -> None:
    never_answered = [ResultKind.UNANSWERED] * RULES.low_answer_min_calls
    health, reasons = _after(never_answered[:-1])
    assert reasons == []
    assert health.window_calls == RULES.low_answer_min_calls - 1
    health, reasons = _after(never_answered)
    assert reasons == [
        "low answer rate: 0% of its last 20 calls, against 40% for the rest of its pool"
    ]
    assert health.window_calls == 0
    assert health.calls == RULES.low_answer_min_calls
    # As good as the pool, or a pool without enough calls to compare with: no rest.
    as_good = [ResultKind.ANSWERED, ResultKind.UNANSWERED] * 20
    assert _after(as_good)[1] == []
    assert _after(never_answered, PoolRate(calls=5, answered=5))[1] == []


def test_the_window_follows_recent_calls() -> None:
    health, _ = _after([ResultKind.ANSWERED] * (WINDOW_CALLS + 1), PoolRate(0, 0))
    assert health.window_calls == (WINDOW_CALLS + 1) // 2
    assert health.calls == health.answered == WINDOW_CALLS + 1


def test_rest_lengths_come_from_the_rules() -> None:
    rules = RULES._replace(dial_failed_burst=1, dial_failed_rest=timedelta(minutes=5))
    verdict = judge(Health(), ResultKind.DIAL_FAILED, A_GOOD_POOL, rules, NOW)
    assert verdict.rest_until == NOW + timedelta(minutes=5)
