"""A campaign's template names one caller ID, by the rule and in the words of a CallRequest;
a template JSON without the fields it leaves unset; "reached" read from the counts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from outbound_calls_client.bounds import check_bounds
from outbound_calls_client.campaign import CampaignRequest, CampaignSummary, reached_count
from outbound_calls_client.campaign_bounds import check_campaign_bounds
from outbound_calls_client.contacts import CallTemplate, ContactSource
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallRequest, OutcomeStatus

FROM = "+12125550199"


def _campaign(**template: Any) -> CampaignRequest:
    return CampaignRequest(
        campaign_id="pools",
        contacts=ContactSource(location="/data/c.csv", template=CallTemplate(**template)),
    )


def _refusal(check: Any, value: Any) -> InvalidCallRequest:
    with pytest.raises(InvalidCallRequest) as refused:
        check(value)
    return refused.value


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({}, "one_caller_id"),
        ({"from_number": FROM, "caller_id_pool": "sales"}, "one_caller_id"),
        ({"caller_id_pool": "bad name"}, "pool_name"),
    ],
)
def test_a_template_names_exactly_one_caller_id_as_a_request_does(
    fields: dict[str, Any], rule: str
) -> None:
    template = _refusal(check_campaign_bounds, _campaign(**fields))
    request = _refusal(check_bounds, CallRequest(to_number="+14155550123", **fields))
    assert (template.field, template.rule, str(template)) == (
        request.field,
        request.rule,
        str(request),
    )
    assert template.rule == rule


@pytest.mark.parametrize("fields", [{"from_number": FROM}, {"caller_id_pool": "sales"}])
def test_a_template_with_one_caller_id_passes(fields: dict[str, Any]) -> None:
    check_campaign_bounds(_campaign(**fields))


def test_a_template_leaves_unset_new_fields_out_of_its_json() -> None:
    """A 1.0 client (unknown fields refused) still reads a template that uses neither."""
    plain = json.loads(CallTemplate(from_number=FROM).model_dump_json())
    assert "caller_id_pool" not in plain
    assert "text_follow_up" not in plain
    pooled = json.loads(CallTemplate(caller_id_pool="sales").model_dump_json())
    assert pooled["caller_id_pool"] == "sales"
    assert CallTemplate.model_validate(pooled) == CallTemplate(caller_id_pool="sales")


def test_reached_is_completed_and_returned_call() -> None:
    counts = {
        OutcomeStatus.COMPLETED: 4,
        OutcomeStatus.RETURNED_CALL: 2,
        OutcomeStatus.NO_ANSWER: 7,
        OutcomeStatus.CALLBACK_REQUESTED: 1,
    }
    assert reached_count(counts) == 6
    assert reached_count({}) == 0
    summary = CampaignSummary(
        campaign_id="c", total=14, finished=14, counts=counts, canceled=False, skipped=0, runs=1
    )
    assert summary.reached == 6
    # Read from the counts, never stored: the result a 1.0 client reads is unchanged.
    assert "reached" not in summary.model_dump_json()
