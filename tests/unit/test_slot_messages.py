"""Slot messages from a newer worker still decode on an older one (a rolling upgrade)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from calls.slots import SlotPoolState, SlotRequest, SlotTicket


def _from_newer_worker(value: dict[str, object], cls: type) -> object:
    payload = pydantic_data_converter.payload_converter.to_payloads([value])[0]
    return pydantic_data_converter.payload_converter.from_payloads([payload], [cls])[0]


def test_fields_a_newer_worker_added_are_ignored_not_refused() -> None:
    request = {"holder": "call-a", "lease_s": 60, "capacity": 5, "ticket": 1, "priority_key": 2}
    decoded = _from_newer_worker(request, SlotRequest)
    assert decoded == SlotRequest(holder="call-a", lease_s=60, capacity=5, ticket=1)

    state = {"capacity": 5, "queue": [request], "shard": 1, "shards": 2, "epoch": 7}
    pool = _from_newer_worker(state, SlotPoolState)
    assert isinstance(pool, SlotPoolState)
    assert pool.queue[0].holder == "call-a"
    assert pool.shard == 1

    ticket = _from_newer_worker({"shard": 0, "pool_id": "p", "region": "eu"}, SlotTicket)
    assert ticket == SlotTicket(shard=0, pool_id="p")


def test_what_the_fields_mean_is_still_checked() -> None:
    raw = json.dumps({"holder": "call-a", "lease_s": -1, "capacity": 5})
    with pytest.raises(ValidationError, match="lease_s"):
        SlotRequest.model_validate_json(raw)
