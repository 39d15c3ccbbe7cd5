"""The Retell simulator's scenario names. They are public: a call's metadata
``simulator_scenario`` picks one, and the CLI's ``--scenario`` checks it before connecting.
They live here rather than in simulator/ so that the CLI knows them without loading the
simulator; ``simulator/scenarios.py`` says what each does, and
``tests/unit/test_architecture.py`` holds its names equal to these."""

from __future__ import annotations

SCENARIO_NAMES: tuple[str, ...] = (
    "answered",
    "no_answer",
    "busy",
    "dial_failed",
    "invalid_destination",
    "account_problem",
    "voicemail",
    "dnc_requested",
    "callback_requested",
    "webhooks_lost",
    "duplicate_webhooks",
    "out_of_order",
    "rate_limited",
    "server_errors",
    "conflicts",
    "trial_ended",
    "forbidden",
    "lost_response",
    "hangs_ongoing",
)
