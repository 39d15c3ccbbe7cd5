from __future__ import annotations

import typing

from retell.types.phone_call_response import PhoneCallResponse

from calls.outcomes import DISCONNECTION_RULES, FollowUp, classify_disconnection
from outbound_calls_client.models import OutcomeStatus


def _sdk_reasons() -> set[str]:
    hint = PhoneCallResponse.model_fields["disconnection_reason"].annotation
    (literal,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
    return set(typing.get_args(literal))


def test_table_covers_exactly_retells_reasons() -> None:
    """A reason Retell adds (or drops) must fail CI, not fall through to a default."""
    sdk = _sdk_reasons()
    assert len(sdk) > 30
    assert sdk - DISCONNECTION_RULES.keys() == set(), "reasons missing from the table"
    assert DISCONNECTION_RULES.keys() - sdk == set(), "reasons Retell no longer sends"


def test_design_table_rows() -> None:
    assert classify_disconnection("user_hangup").status == OutcomeStatus.COMPLETED
    assert classify_disconnection("dial_no_answer").follow_up == FollowUp.REDIAL
    assert classify_disconnection("dial_busy").status == OutcomeStatus.BUSY
    assert classify_disconnection("voicemail_reached").status == OutcomeStatus.VOICEMAIL
    assert classify_disconnection("user_requested_callback").follow_up == FollowUp.CALLBACK
    assert classify_disconnection("dial_failed").follow_up == FollowUp.REDIAL_LOW_CAP
    assert classify_disconnection("user_requested_dnc").follow_up == FollowUp.NEVER_AGAIN
    assert classify_disconnection("invalid_destination").status == OutcomeStatus.INVALID_NUMBER
    assert classify_disconnection("credit_exhausted").follow_up == FollowUp.ACCOUNT_PROBLEM
    assert classify_disconnection("error_asr").follow_up == FollowUp.REDIAL


def test_unknown_or_missing_reason_is_a_retryable_failure() -> None:
    for reason in (None, "some_future_reason"):
        rule = classify_disconnection(reason)
        assert rule.status == OutcomeStatus.FAILED
        assert rule.follow_up == FollowUp.REDIAL
