"""Work whose failure is logged, not raised: a poll, a hang-up, a report, a slot's release.

A cancel still goes through. Temporal delivers it to an awaited activity (or signal) as a
failure, and it must end the wait, never pass for the work's own failure: every catch of an
``ActivityError`` or ``FailureError`` in a workflow goes through ``raise_if_cancelled``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    is_cancelled_exception,
)

T = TypeVar("T")


def _cause(err: FailureError) -> BaseException | None:
    # An activity's own error is the cause of the ActivityError the workflow sees.
    return err.cause if isinstance(err, ActivityError) else err


def failure_text(err: FailureError) -> str:
    cause = _cause(err)
    return cause.message if isinstance(cause, ApplicationError) else str(cause or err)


def failure_type(err: FailureError) -> str | None:
    """The ApplicationError type the activity raised (activities/retell.py names its refusals)."""
    cause = _cause(err)
    return cause.type if isinstance(cause, ApplicationError) else None


def raise_if_cancelled(err: FailureError) -> None:
    """A cancel reaches an awaited activity (or signal) as a failure: never a business one."""
    if is_cancelled_exception(err):
        raise err


async def best_effort(
    work: Awaitable[T],
    failed: str,
    *,
    on_failure: Callable[[FailureError], None] | None = None,
    **extra: object,
) -> T | None:
    """``work``'s result; None when it failed for good (logged as ``failed``, with ``extra``
    and the error, after ``on_failure`` had a look). A cancel is raised, not logged."""
    try:
        return await work
    except FailureError as err:
        raise_if_cancelled(err)
        if on_failure is not None:
            on_failure(err)
        workflow.logger.warning(failed, extra={**extra, "error": failure_text(err)})
        return None
