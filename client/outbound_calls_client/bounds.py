"""The bounds of a call request: what no valid request can make a call cost.

Two promises, argued in docs/calls.md ("Bounds"):

- **Retell**: a call polls ``get-call`` at most once a second (its one poll when
  ``max_duration_s`` passes aside), and at most ``MAX_POLLS_PER_CALL`` times in all.
- **Temporal**: a call's history stays under ``MAX_HISTORY_EVENTS`` events (Temporal ends a
  run at 51,200), and every payload it carries under ``PAYLOAD_BUDGET_BYTES`` (Temporal
  refuses one over 2 MB; a gRPC message carries up to 4 MB).

These are checks of a function, not pydantic constraints on the models: a 1.0 workflow's
recorded input may hold a value outside them, and a model that refused it would fail every
task of that workflow on replay. The workflow checks them in its validation activity, whose
recorded result replays unchanged; callers check them before anything starts.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from outbound_calls_client.call_ids import check_dedupe_key
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallRequest

# The rate promise: no wait that ends in a get-call is shorter than this.
MIN_WAIT_S = 1.0
# A day: longer than any Retell call may last, and it bounds how long a slot stays leased
# to a call whose workflow was terminated (max_duration_s + ring_timeout_s + 20 minutes).
MAX_WAIT_S = 86_400.0
# A redial is a new dial of a person: never sooner than this after the last one ended.
MIN_REDIAL_DELAY_S = 5.0
MAX_REDIAL_DELAY_S = 7 * 86_400.0
# A larger factor overflows a float within 20 attempts (the workflow computes the delay).
MAX_BACKOFF = 10.0

# The poll budget. Attempts a call may make: the redials asked for, plus the retries the
# workflow adds when Retell's own concurrency is full (workflows/outbound_call.py), which do
# not count as redials. Each attempt polls at most ceil(max_duration_s / poll_interval_s) + 2
# times (every poll_interval_s while open, once when max_duration_s passes, once for the
# analysis).
BUSY_ACCOUNT_RETRIES = 10
MAX_POLLS_PER_CALL = 1000
POLLS_BEYOND_INTERVALS = 2
# What a call's history may hold at most: measured ~11 events per poll and ~40 per attempt
# besides (docs/calls.md), 1000 * 11 + 30 * 40 = 12,200, and room for a slot wait's hourly
# asks; under a third of Temporal's 51,200.
MAX_HISTORY_EVENTS = 15_000

# Bytes of the free-form fields, as JSON (UTF-8). Metadata is echoed by Retell in every
# webhook and get-call answer, so it is the smallest; the rest travels in the request, the
# validation and create inputs, once per attempt.
MAX_METADATA_BYTES = 8 * 1024
MAX_DYNAMIC_VARIABLES_BYTES = 32 * 1024
MAX_AGENT_BYTES = 32 * 1024
# Temporal's own limit on a workflow id (the default of its frontend.maxIDLength).
MAX_WORKFLOW_ID_BYTES = 1000
# The largest payload we let a request make, well under Temporal's 2 MB: the request itself
# (the caps above and its fixed fields), or a webhook with the metadata and Retell's
# transcript of an hour's call (~100 kB of text, Retell's and not capped here).
PAYLOAD_BUDGET_BYTES = 512 * 1024

_TIMEOUTS = ("ring_timeout_s", "poll_interval_s", "analysis_timeout_s", "max_duration_s")
_REDIAL_DELAYS = ("initial_delay_s", "max_delay_s", "callback_delay_s")


def json_bytes(value: Any) -> int:
    """The size of ``value`` as compact UTF-8 JSON: how it travels in a payload."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def most_polls(max_attempts: int, max_duration_s: float, poll_interval_s: float) -> int:
    """The most get-call polls a call with these settings can make."""
    per_attempt = math.ceil(max_duration_s / poll_interval_s) + POLLS_BEYOND_INTERVALS
    return (max_attempts + BUSY_ACCOUNT_RETRIES) * per_attempt


def least_poll_interval(max_attempts: int, max_duration_s: float) -> float:
    """The shortest poll_interval_s that keeps a call within ``MAX_POLLS_PER_CALL``."""
    intervals = MAX_POLLS_PER_CALL // (max_attempts + BUSY_ACCOUNT_RETRIES)
    intervals -= POLLS_BEYOND_INTERVALS
    return max(MIN_WAIT_S, max_duration_s / intervals)


def _within(field: str, value: float, low: float, high: float) -> None:
    if value < low:
        raise InvalidCallRequest(field, "min", f"{value:g} s is below the floor of {low:g} s")
    if value > high:
        raise InvalidCallRequest(field, "max", f"{value:g} s is above the ceiling of {high:g} s")


def _at_most_bytes(field: str, value: Any, limit: int) -> None:
    size = json_bytes(value)
    if size > limit:
        raise InvalidCallRequest(
            field, "max_bytes", f"{size} bytes as JSON, over the limit of {limit} bytes"
        )


def check_bounds(request: CallRequest) -> None:
    """Refuse a request outside the bounds, naming the field and the rule.

    Raises :class:`outbound_calls_client.errors.InvalidCallRequest`.
    """
    timeouts, redial = request.timeouts, request.redial
    for name in _TIMEOUTS:
        _within(f"timeouts.{name}", getattr(timeouts, name), MIN_WAIT_S, MAX_WAIT_S)
    for name in _REDIAL_DELAYS:
        _within(f"redial.{name}", getattr(redial, name), MIN_REDIAL_DELAY_S, MAX_REDIAL_DELAY_S)
    if redial.backoff > MAX_BACKOFF:
        raise InvalidCallRequest(
            "redial.backoff", "max", f"{redial.backoff:g} is above the ceiling of {MAX_BACKOFF:g}"
        )
    polls = most_polls(redial.max_attempts, timeouts.max_duration_s, timeouts.poll_interval_s)
    if polls > MAX_POLLS_PER_CALL:
        least = least_poll_interval(redial.max_attempts, timeouts.max_duration_s)
        raise InvalidCallRequest(
            "timeouts.poll_interval_s",
            "poll_budget",
            f"with max_duration_s {timeouts.max_duration_s:g} and redial.max_attempts "
            f"{redial.max_attempts} it must be at least {math.ceil(least * 100) / 100:g} s "
            f"(a call polls get-call at most {MAX_POLLS_PER_CALL} times)",
        )
    _at_most_bytes("metadata", request.metadata, MAX_METADATA_BYTES)
    # The privacy choices ride in the metadata too, echoed with it.
    sent = {**request.metadata, **request.privacy.metadata()}
    _at_most_bytes("privacy.analysis_fields", sent, MAX_METADATA_BYTES)
    _at_most_bytes("dynamic_variables", request.dynamic_variables, MAX_DYNAMIC_VARIABLES_BYTES)
    if request.agent is not None:
        _at_most_bytes("agent", request.agent.model_dump(mode="json"), MAX_AGENT_BYTES)
    if request.report_to is not None:
        _at_most_bytes("report_to", request.report_to, MAX_WORKFLOW_ID_BYTES)
    # Not a size, but refused wherever the sizes are: a key in a campaign's or a Nexus
    # caller's id space would let this request take a call id that is not its starter's.
    check_dedupe_key(request.dedupe_key)
    check_caller_id_source(request.from_number, request.caller_id_pool)


# A pool's name: a word a shell and a CSV cell carry as it is.
POOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_pool_name(field: str, name: str) -> str:
    if not POOL_NAME.fullmatch(name):
        raise InvalidCallRequest(
            field,
            "pool_name",
            "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return name


def check_caller_id_source(from_number: str | None, pool: str | None) -> None:
    """A call dials from one number or from a pool: exactly one of the two."""
    if (from_number is None) == (pool is None):
        raise InvalidCallRequest(
            "from_number", "one_caller_id", "give from_number or caller_id_pool, exactly one"
        )
    if pool is not None:
        check_pool_name("caller_id_pool", pool)
