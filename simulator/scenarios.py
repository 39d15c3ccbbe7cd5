"""What a simulated call does, picked by its metadata.

A scenario is plain data; :mod:`simulator.lifecycle` plays it and
:mod:`simulator.webhooks` delivers its events the way the scenario says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from outbound_calls_client.names import ATTEMPT_METADATA_KEY, SCENARIO_METADATA_KEY

SCENARIO_KEY = SCENARIO_METADATA_KEY
RING_MS_KEY = "simulator_ring_ms"
TALK_MS_KEY = "simulator_talk_ms"
HOLD_S_KEY = "simulator_hold_s"
# Seconds of conversation the call's word-level transcripts cover (not scaled, not waited
# for): "3600" gives the several-MiB call_ended/call_analyzed of an hour-long call.
DURATION_S_KEY = "simulator_duration_s"
# Set by the call workflow on every dial (1-based); picks the step of a scenario list.
ATTEMPT_KEY = ATTEMPT_METADATA_KEY
# The moment a callback_requested callee asks to be called back, put verbatim (unread, so
# that a consumer's handling of an unreadable time can be tested too) into the analysis'
# custom_analysis_data under the name given by CALLBACK_FIELD_KEY.
CALLBACK_AT_KEY = "simulator_callback_at"
CALLBACK_FIELD_KEY = "simulator_callback_field"
DEFAULT_CALLBACK_FIELD = "callback_at"

DEFAULT_SCENARIO = "answered"

# Retell's pace for an ordinary short call, before SimulatorSettings.simulator_time_scale.
RING_S = 1.0
TALK_S = 2.0
ANALYSIS_S = 0.5
# A lost answer must outlast any sane client timeout, so this one is not scaled.
DEFAULT_HOLD_S = 30.0

MANUAL_STOPPED = "manual_stopped"


class Delivery(StrEnum):
    """How a scenario's webhooks reach the receiver."""

    NORMAL = "normal"
    LOST = "lost"
    DUPLICATED = "duplicated"
    REVERSED = "reversed"


class ScenarioError(ValueError):
    """Metadata asks for something the simulator cannot play; names the field."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field


@dataclass(frozen=True)
class Scenario:
    name: str
    connects: bool = True
    # None only for a call that never ends by itself (hangs_ongoing).
    disconnection_reason: str | None = "user_hangup"
    call_successful: bool = True
    in_voicemail: bool = False
    user_sentiment: str = "Positive"
    delivery: Delivery = Delivery.NORMAL
    # Status codes answered to the first create requests of one request identity.
    create_failures: tuple[int, ...] = ()
    # A status answered to every create of this scenario (an account problem): no call.
    create_refusal: int | None = None
    holds_first_response: bool = False
    summary: str = "The user answered, listened to the agent and hung up."


SCENARIOS: Mapping[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("answered"),
        Scenario(
            "no_answer",
            connects=False,
            disconnection_reason="dial_no_answer",
            call_successful=False,
            user_sentiment="Unknown",
            summary="Nobody picked up.",
        ),
        Scenario(
            "busy",
            connects=False,
            disconnection_reason="dial_busy",
            call_successful=False,
            user_sentiment="Unknown",
            summary="The line was busy.",
        ),
        Scenario(
            "dial_failed",
            connects=False,
            disconnection_reason="dial_failed",
            call_successful=False,
            user_sentiment="Unknown",
            summary="The call could not be placed.",
        ),
        Scenario(
            "invalid_destination",
            connects=False,
            disconnection_reason="invalid_destination",
            call_successful=False,
            user_sentiment="Unknown",
            summary="The destination cannot be reached.",
        ),
        Scenario(
            "account_problem",
            connects=False,
            disconnection_reason="credit_exhausted",
            call_successful=False,
            user_sentiment="Unknown",
            summary="The account has no credit left.",
        ),
        Scenario(
            "voicemail",
            disconnection_reason="voicemail_reached",
            call_successful=False,
            in_voicemail=True,
            user_sentiment="Unknown",
            summary="The call reached voicemail.",
        ),
        Scenario(
            "dnc_requested",
            disconnection_reason="user_requested_dnc",
            call_successful=False,
            user_sentiment="Negative",
            summary="The user asked never to be called again.",
        ),
        Scenario(
            "callback_requested",
            disconnection_reason="user_requested_callback",
            call_successful=False,
            user_sentiment="Neutral",
            summary="The user asked to be called back later.",
        ),
        Scenario("webhooks_lost", delivery=Delivery.LOST),
        Scenario("duplicate_webhooks", delivery=Delivery.DUPLICATED),
        Scenario("out_of_order", delivery=Delivery.REVERSED),
        Scenario("rate_limited", create_failures=(429,)),
        Scenario("server_errors", create_failures=(500, 503)),
        Scenario("conflicts", create_failures=(409, 408)),
        Scenario("trial_ended", create_refusal=402),
        Scenario("forbidden", create_refusal=403),
        Scenario("lost_response", holds_first_response=True),
        Scenario("hangs_ongoing", disconnection_reason=None),
    )
}


# Not a scenario a call can ask for: what every call from a number marked as spam plays
# (POST /_sim/spam-numbers), whatever its metadata says. Never connects, as at Retell.
MARKED_AS_SPAM = Scenario(
    "marked_as_spam",
    connects=False,
    disconnection_reason="marked_as_spam",
    call_successful=False,
    user_sentiment="Unknown",
    summary="The carrier flagged the caller ID as spam; the call did not connect.",
)


@dataclass(frozen=True)
class Timing:
    """Seconds each phase lasts, scale already applied."""

    ring_s: float
    talk_s: float
    analysis_s: float
    hold_s: float


def scenario_for(metadata: Mapping[str, Any] | None) -> Scenario:
    meta = metadata or {}
    name = meta.get(SCENARIO_KEY, DEFAULT_SCENARIO)
    field = f"metadata.{SCENARIO_KEY}"
    if not isinstance(name, str):
        raise ScenarioError(field, "must be a string")
    if "," in name:
        # A list plays one scenario per dial of a redialing workflow: "no_answer,answered".
        steps = [step.strip() for step in name.split(",")]
        try:
            attempt = int(meta.get(ATTEMPT_KEY, "1"))
        except (TypeError, ValueError):
            raise ScenarioError(f"metadata.{ATTEMPT_KEY}", "must be an integer") from None
        name = steps[min(max(attempt, 1), len(steps)) - 1]
    scenario = SCENARIOS.get(name)
    if scenario is None:
        known = ", ".join(sorted(SCENARIOS))
        raise ScenarioError(field, f"unknown scenario {name!r}; known: {known}")
    return scenario


def _override_s(metadata: Mapping[str, Any], key: str, *, unit_s: float) -> float | None:
    raw = metadata.get(key)
    if raw is None:
        return None
    try:
        value = float(raw) if not isinstance(raw, bool) else float("nan")
    except (TypeError, ValueError):
        value = float("nan")
    if not value >= 0:  # also rejects NaN
        raise ScenarioError(f"metadata.{key}", f"must be a non-negative number, got {raw!r}")
    return value * unit_s


def duration_for(metadata: Mapping[str, Any] | None) -> float | None:
    """The conversation length metadata asks the transcripts to cover, if any."""
    return _override_s(metadata or {}, DURATION_S_KEY, unit_s=1.0)


def timing_for(metadata: Mapping[str, Any] | None, time_scale: float) -> Timing:
    """Phase lengths: the scaled defaults unless metadata overrides one (unscaled)."""
    meta = metadata or {}
    ring = _override_s(meta, RING_MS_KEY, unit_s=0.001)
    talk = _override_s(meta, TALK_MS_KEY, unit_s=0.001)
    hold = _override_s(meta, HOLD_S_KEY, unit_s=1.0)
    return Timing(
        ring_s=RING_S * time_scale if ring is None else ring,
        talk_s=TALK_S * time_scale if talk is None else talk,
        analysis_s=ANALYSIS_S * time_scale,
        hold_s=DEFAULT_HOLD_S if hold is None else hold,
    )


def callback_analysis_for(scenario: Scenario, metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """The custom analysis a callback_requested call carries: the asked moment, if given."""
    meta = metadata or {}
    at = meta.get(CALLBACK_AT_KEY)
    field = meta.get(CALLBACK_FIELD_KEY, DEFAULT_CALLBACK_FIELD)
    if at is not None and not isinstance(at, str):
        raise ScenarioError(f"metadata.{CALLBACK_AT_KEY}", "must be a string")
    if not isinstance(field, str) or not field:
        raise ScenarioError(f"metadata.{CALLBACK_FIELD_KEY}", "must be a non-empty string")
    if at is None or scenario.disconnection_reason != "user_requested_callback":
        return {}
    return {field: at}


def transcript_for(reason: str, connected: bool) -> str:
    if not connected:
        return ""
    # The em dash and accent make the body non-ASCII, so a receiver that re-encodes the JSON
    # before checking the signature fails here as it would with Retell.
    lines = ["Agent: Hello, this is Zoë from the simulator — do you have a minute?"]
    if reason == "voicemail_reached":
        lines = ["Voicemail: Please leave a message after the tone."]
    elif reason == "user_requested_dnc":
        lines.append("User: Please do not call me again.")
    elif reason == "user_requested_callback":
        lines.append("User: Not now, call me back tomorrow.")
    elif reason == MANUAL_STOPPED:
        lines.append("User: Hello?")
    else:
        lines += ["User: Sure.", "Agent: Thank you, goodbye."]
    return "\n".join(lines) + "\n"


def analysis_for(
    scenario: Scenario,
    reason: str,
    connected: bool,
    custom_analysis_data: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    if reason == scenario.disconnection_reason:
        return {
            "call_summary": scenario.summary,
            "in_voicemail": scenario.in_voicemail,
            "user_sentiment": scenario.user_sentiment,
            "call_successful": scenario.call_successful,
            "custom_analysis_data": dict(custom_analysis_data or {}),
        }
    summary = "The call was stopped before it connected."
    if connected:
        summary = "The call was stopped while the user was on the line."
    return {
        "call_summary": summary,
        "in_voicemail": False,
        "user_sentiment": "Unknown",
        "call_successful": False,
        "custom_analysis_data": {},
    }
