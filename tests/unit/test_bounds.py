"""The request bounds (outbound_calls_client.bounds): every floor and ceiling refused one step
beyond with its field and rule, the defaults allowed with any number of redials, and the
largest allowed fields within the payload budget."""

from __future__ import annotations

from typing import Any

import pytest

from outbound_calls_client import bounds
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import MOST_ATTEMPTS, CallRequest
from outbound_calls_client.retell_wire import CallEvent
from outbound_calls_client.validation import validate_request
from workflows.outbound_call import MAX_BUSY_ACCOUNT_RETRIES

BASE: dict[str, Any] = {"to_number": "+14155550123", "from_number": "+12125550199"}


def _request(**fields: Any) -> CallRequest:
    return CallRequest.model_validate({**BASE, **fields})


def _refusal(**fields: Any) -> tuple[str, str]:
    with pytest.raises(InvalidCallRequest) as caught:
        validate_request(_request(**fields))
    return caught.value.field, caught.value.rule


def _sized(size: int) -> dict[str, str]:
    value = {"k": ""}
    value["k"] = "é" * ((size - bounds.json_bytes(value)) // 2)  # two bytes each in UTF-8
    value["k"] += "x" * (size - bounds.json_bytes(value))
    assert bounds.json_bytes(value) == size
    return value


@pytest.mark.parametrize("attempts", range(1, MOST_ATTEMPTS + 1))
def test_the_defaults_are_within_bounds_with_any_number_of_dials(attempts: int) -> None:
    validate_request(_request(redial={"max_attempts": attempts}))


@pytest.mark.parametrize("name", ["ring_timeout_s", "analysis_timeout_s", "max_duration_s"])
def test_each_timeout_has_a_floor_and_a_ceiling(name: str) -> None:
    short, long = {name: bounds.MIN_WAIT_S * 0.99}, {name: bounds.MAX_WAIT_S * 1.01}
    assert _refusal(timeouts=short) == (f"timeouts.{name}", "min")
    assert _refusal(timeouts=long) == (f"timeouts.{name}", "max")
    at_the_floor = {name: bounds.MIN_WAIT_S, "poll_interval_s": bounds.MAX_WAIT_S}
    validate_request(_request(timeouts=at_the_floor))


def test_the_poll_interval_has_a_floor_a_ceiling_and_a_budget() -> None:
    assert _refusal(timeouts={"poll_interval_s": 0.001, "ring_timeout_s": 0.001})[1] == "min"
    too_long = {"poll_interval_s": bounds.MAX_WAIT_S + 1}
    assert _refusal(timeouts=too_long) == ("timeouts.poll_interval_s", "max")
    # The request: polled every 2 s for the default hour.
    with pytest.raises(InvalidCallRequest) as caught:
        validate_request(_request(timeouts={"poll_interval_s": 2}))
    assert caught.value.rule == "poll_budget"
    least = bounds.least_poll_interval(1, 3600)
    assert f"at least {least:.2f} s" in str(caught.value)
    validate_request(_request(timeouts={"poll_interval_s": least}))


@pytest.mark.parametrize("attempts", [1, 7, MOST_ATTEMPTS])
@pytest.mark.parametrize("duration", [bounds.MIN_WAIT_S * 2, 60.0, 3600.0, bounds.MAX_WAIT_S])
def test_the_least_poll_interval_is_exactly_the_budget(attempts: int, duration: float) -> None:
    least = bounds.least_poll_interval(attempts, duration)
    assert bounds.most_polls(attempts, duration, least) <= bounds.MAX_POLLS_PER_CALL
    if least > bounds.MIN_WAIT_S:
        assert bounds.most_polls(attempts, duration, least * 0.99) > bounds.MAX_POLLS_PER_CALL


@pytest.mark.parametrize("name", ["initial_delay_s", "max_delay_s", "callback_delay_s"])
def test_each_redial_delay_has_a_floor_and_a_ceiling(name: str) -> None:
    short = {name: bounds.MIN_REDIAL_DELAY_S - 0.1}
    assert _refusal(redial=short) == (f"redial.{name}", "min")
    assert _refusal(redial={name: bounds.MAX_REDIAL_DELAY_S + 1}) == (f"redial.{name}", "max")
    validate_request(_request(redial={name: bounds.MIN_REDIAL_DELAY_S}))


def test_backoff_has_a_ceiling() -> None:
    assert _refusal(redial={"backoff": bounds.MAX_BACKOFF + 0.5}) == ("redial.backoff", "max")
    validate_request(_request(redial={"backoff": bounds.MAX_BACKOFF}))


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("metadata", bounds.MAX_METADATA_BYTES),
        ("dynamic_variables", bounds.MAX_DYNAMIC_VARIABLES_BYTES),
    ],
)
def test_free_form_fields_are_capped_in_bytes(field: str, limit: int) -> None:
    validate_request(_request(**{field: _sized(limit)}))
    assert _refusal(**{field: _sized(limit + 1)}) == (field, "max_bytes")


def test_the_privacy_fields_count_with_the_metadata_they_ride_in() -> None:
    metadata = _sized(bounds.MAX_METADATA_BYTES - 100)
    privacy = {"analysis_fields": ["field"] * 30}
    assert _refusal(metadata=metadata, privacy=privacy) == ("privacy.analysis_fields", "max_bytes")


def test_agent_settings_and_report_to_are_capped() -> None:
    agent = {
        "voice_id": "11labs-Adrian",
        "response_engine": {"type": "retell-llm", "llm_id": "llm_1"},
        "settings": _sized(bounds.MAX_AGENT_BYTES),
    }
    assert _refusal(agent=agent) == ("agent", "max_bytes")
    long_id = "w" * bounds.MAX_WORKFLOW_ID_BYTES
    assert _refusal(report_to=long_id) == ("report_to", "max_bytes")


def test_the_largest_allowed_request_and_webhook_fit_the_payload_budget() -> None:
    agent_settings = _sized(bounds.MAX_AGENT_BYTES - 200)
    request = _request(
        metadata=_sized(bounds.MAX_METADATA_BYTES),
        dynamic_variables=_sized(bounds.MAX_DYNAMIC_VARIABLES_BYTES),
        agent={
            "voice_id": "v",
            "response_engine": {"type": "retell-llm", "llm_id": "llm_1"},
            "settings": agent_settings,
        },
        dedupe_key="d" * 200,
        outcome_url="https://example.com/" + "p" * 2000,
        report_to="r" * (bounds.MAX_WORKFLOW_ID_BYTES - 2),
    )
    validate_request(request)
    assert len(request.model_dump_json()) <= bounds.PAYLOAD_BUDGET_BYTES
    # Retell echoes the metadata in every webhook, beside an hour's transcript.
    webhook = CallEvent.model_validate(
        {
            "event": "call_analyzed",
            "call": {
                "call_id": "call_1",
                "metadata": request.metadata,
                "transcript": "Agent: hello. " * 8_000,
                "call_analysis": {"call_summary": "s" * 5_000},
            },
        }
    )
    assert len(webhook.model_dump_json()) <= bounds.PAYLOAD_BUDGET_BYTES


def test_the_busy_account_retries_are_the_workflows() -> None:
    assert bounds.BUSY_ACCOUNT_RETRIES == MAX_BUSY_ACCOUNT_RETRIES
