"""When one of our numbers is rested by itself: Retell reports it ``marked_as_spam``, it fails
to dial several times in a row, or people answer it far less often than the rest of its pool.
Pure: the stores (adapters/caller_ids*.py) read the counts, call :func:`judge` in the same
transaction that counts the result, and write back what it says.

    kind = result_kind(status, disconnection_reason)  # None: the dial says nothing of the number
    verdict = judge(health, kind, pool_others, rules, now)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from outbound_calls_client.models import OutcomeStatus


class ResultKind(StrEnum):
    ANSWERED = "answered"
    UNANSWERED = "unanswered"
    DIAL_FAILED = "dial_failed"
    SPAM = "marked_as_spam"


# A person picked up: the call went on (even to ask us not to call again).
_ANSWERED = frozenset(
    {OutcomeStatus.COMPLETED, OutcomeStatus.CALLBACK_REQUESTED, OutcomeStatus.DO_NOT_CALL}
)
_UNANSWERED = frozenset({OutcomeStatus.NO_ANSWER, OutcomeStatus.BUSY, OutcomeStatus.VOICEMAIL})
# Past this many calls in its window a number's counts are halved: the answer rate follows
# its recent calls, not its whole life.
WINDOW_CALLS = 100


def result_kind(status: OutcomeStatus, disconnection_reason: str | None) -> ResultKind | None:
    """What an attempt says of the number it dialed from; None for what is not the number's
    doing (a refused create, a canceled call, an invalid callee number, an agent error)."""
    if disconnection_reason == "marked_as_spam":
        return ResultKind.SPAM
    if status is OutcomeStatus.DIAL_FAILED:
        return ResultKind.DIAL_FAILED
    if status in _ANSWERED:
        return ResultKind.ANSWERED
    if status in _UNANSWERED:
        return ResultKind.UNANSWERED
    return None


class HealthRules(NamedTuple):
    """The worker's CALLER_ID_* settings (docs/calls.md, "Number health")."""

    spam_rest: timedelta = timedelta(days=7)
    dial_failed_burst: int = 3
    dial_failed_rest: timedelta = timedelta(hours=1)
    low_answer_ratio: float = 0.5
    low_answer_min_calls: int = 20
    low_answer_rest: timedelta = timedelta(days=1)


class Health(NamedTuple):
    """One number's counts. ``calls``/``answered``/``rests`` are for ever (the metrics
    ``numbers list`` shows); the window counts and the failed streak start over at each
    automatic rest, so a rested number comes back with a clean record."""

    calls: int = 0
    answered: int = 0
    rests: int = 0
    window_calls: int = 0
    window_answered: int = 0
    failed_streak: int = 0


class PoolRate(NamedTuple):
    """The window counts of the pool's other numbers together."""

    calls: int
    answered: int


class Verdict(NamedTuple):
    health: Health
    rest_until: datetime | None = None
    reason: str | None = None


def _counted(health: Health, kind: ResultKind) -> Health:
    answered = kind is ResultKind.ANSWERED
    window_calls, window_answered = health.window_calls + 1, health.window_answered + answered
    if window_calls > WINDOW_CALLS:
        window_calls, window_answered = window_calls // 2, window_answered // 2
    return health._replace(
        calls=health.calls + 1,
        answered=health.answered + answered,
        window_calls=window_calls,
        window_answered=window_answered,
        failed_streak=health.failed_streak + 1 if kind is ResultKind.DIAL_FAILED else 0,
    )


def _rested(health: Health, until: datetime, reason: str) -> Verdict:
    fresh = health._replace(rests=health.rests + 1, window_calls=0, window_answered=0)
    return Verdict(fresh._replace(failed_streak=0), until, reason)


def judge(
    health: Health, kind: ResultKind, pool: PoolRate, rules: HealthRules, now: datetime
) -> Verdict:
    """The number's counts with this result, and the rest it earns, if any."""
    counted = _counted(health, kind)
    if kind is ResultKind.SPAM:
        return _rested(counted, now + rules.spam_rest, "marked_as_spam: Retell reported it")
    if counted.failed_streak >= rules.dial_failed_burst:
        return _rested(
            counted,
            now + rules.dial_failed_rest,
            f"dial_failed: {counted.failed_streak} calls in a row failed to dial",
        )
    minimum = rules.low_answer_min_calls
    if counted.window_calls >= minimum and pool.calls >= minimum and pool.answered > 0:
        own = counted.window_answered / counted.window_calls
        others = pool.answered / pool.calls
        if own < others * rules.low_answer_ratio:
            return _rested(
                counted,
                now + rules.low_answer_rest,
                f"low answer rate: {own:.0%} of its last {counted.window_calls} calls, "
                f"against {others:.0%} for the rest of its pool",
            )
    return Verdict(counted)
