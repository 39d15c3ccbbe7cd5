"""How hard the call workflow tries each step: retry policies and timeouts of its activities.

Plain values (no I/O): the call workflow and its slot lease share them.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

VALIDATE_RETRY = RetryPolicy(maximum_attempts=3)
# Retell is given Temporal's retries and nothing else: backoff on 5xx and timeouts, the
# Retry-After of a 429 (the activity sets next_retry_delay), no retry on a rejected request.
CREATE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=12,
)
# Retell's own client gives a create 120 s and a list-calls 300 s; a create attempt may do
# both (a retry that must reconcile), so its attempt timeout covers the two.
CREATE_ATTEMPT_TIMEOUT = timedelta(seconds=120 + 300 + 30)
CREATE_TOTAL_TIMEOUT = timedelta(minutes=30)
FIND_CALL_TIMEOUT = timedelta(seconds=300 + 30)
# Both heartbeat (activities/heartbeats.py): a crashed worker's attempt is retried this soon.
RETELL_HEARTBEAT_TIMEOUT = timedelta(seconds=20)
# A hang-up must land: keep trying for a while, since a call left open talks on.
STOP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
STOP_TOTAL_TIMEOUT = timedelta(minutes=15)
POLL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
# Deliveries, list updates and slot asks must land eventually: keep retrying, slower and
# slower.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)
# A local activity (the call's checks and slot asks) runs inside the workflow task.
LOCAL_ACTIVITY_TIMEOUT = timedelta(seconds=10)
