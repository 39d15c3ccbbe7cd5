"""A newer service's answers read by this package: unknown fields left out, requests still
strict (a typo in a request names the field)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from outbound_calls_client.models import (
    AttemptRecord,
    CallOutcome,
    CallReport,
    CallRequest,
    CallSnapshot,
    DialReport,
    TextRecord,
)

_NEWER = {"a_field_of_a_later_release": {"nested": 1}}


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (CallOutcome, {"workflow_id": "w", "status": "completed"}),
        (CallReport, {"workflow_id": "w", "status": "no_answer"}),
        (AttemptRecord, {"attempt": 1, "idempotency_key": "w:1", "status": "busy"}),
        (TextRecord, {"status": "sent"}),
        (CallSnapshot, {"workflow_id": "w", "phase": "dialing", "attempt": 1}),
        (DialReport, {"workflow_id": "w", "status": "dialed", "attempt": 1}),
    ],
)
def test_an_answer_with_a_field_of_a_later_release_is_read(
    model: type[BaseModel], data: dict[str, object]
) -> None:
    read = model.model_validate({**data, **_NEWER})
    assert read == model.model_validate(data)


def test_a_request_with_an_unknown_field_is_still_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match="to_numbr"):
        CallRequest.model_validate(
            {"to_number": "+12125550100", "from_number": "+12125550199", "to_numbr": "x"}
        )
