"""The bridge against its own OpenAPI document: generated requests, good and bad, never a 5xx.

schemathesis reads ``/openapi.json`` as the ASGI app serves it and generates requests for every
operation (examples, coverage of each schema keyword and boundary, then random cases, both
valid and deliberately invalid) and sends them to the app in-process. The app is the real
bridge, connected in its lifespan to a real dev server (``dev_env``), so ``/readyz`` is 200
and nothing answers 503 for want of Temporal.

Two runs:

- as anyone on the internet, unsigned: every webhook is refused with 401 before its body is
  believed; nothing is a 5xx, and every answer matches the document (status, content type,
  body schema);
- as Retell, each generated body signed with the webhook key over the exact bytes sent:
  a body the document calls valid is acknowledged (204: signalled, or routed nowhere and
  logged), anything else is a 400 that names the problem. Generated calls name workflows
  that do not exist, so nothing is signalled into a real call.

Bounded: at most ``MAX_EXAMPLES`` generated cases per operation and phase, no deadline.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.testing import WorkflowEnvironment

from adapters.settings import BridgeSettings
from bridge import WEBHOOK_PATH, create_app
from calls.signatures import SIGNATURE_HEADER, sign_retell_body

pytestmark = pytest.mark.integration

KEY = "key_fuzz"
MAX_EXAMPLES = 200
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,  # each run explores afresh; a failure prints its reproducing request
)
# Unsigned webhooks must be refused; signed ones acknowledged when the document calls them
# valid. The other checks hold for every request.
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _bridge(temporal_address: str = "127.0.0.1:7233", namespace: str = "default") -> FastAPI:
    return create_app(
        BridgeSettings(
            temporal_address=temporal_address,
            temporal_namespace=namespace,
            retell_webhook_key=SecretStr(KEY),
            # Generous: a 503 here would be a slow dev server, not a bad request.
            bridge_signal_timeout_s=10.0,
        )
    )


def _served_document() -> dict[str, Any]:
    """What the bridge serves at ``/openapi.json`` (FastAPI's ``openapi()`` answers that
    route), read without starting the app: the document does not depend on settings."""
    document: dict[str, Any] = json.loads(json.dumps(_bridge().openapi()))
    return document


schema = schemathesis.openapi.from_dict(
    _served_document(),
    config=schemathesis.Config.from_dict(
        {"checks": {"positive_data_acceptance": {"expected-statuses": ["204"]}}}
    ),
)


@pytest.fixture(scope="module")
def bridge_app(dev_env: WorkflowEnvironment) -> FastAPI:
    """The bridge under test; schemathesis runs its lifespan (the Temporal connection) on its
    own event loop at the first request."""
    return _bridge(dev_env.client.service_client.config.target_host, dev_env.client.namespace)


class _SignAsRetell(requests.auth.AuthBase):
    """Sign the body exactly as it goes out, as Retell does."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else bytes(body)  # type: ignore[arg-type]
        request.headers[SIGNATURE_HEADER] = sign_retell_body(KEY, raw)
        return request


@schema.parametrize()
@FUZZ_SETTINGS
def test_unsigned_requests_are_refused_and_never_a_server_error(
    case: Case[Any], bridge_app: FastAPI
) -> None:
    response = case.call_and_validate(
        app=bridge_app, checks=[*CONFORMANCE, negative_data_rejection]
    )
    if case.path == WEBHOOK_PATH and case.method.upper() == "POST":
        assert response.status_code == 401, response.text
    assert response.status_code < 500


@schema.include(path=WEBHOOK_PATH, method="POST").parametrize()
@FUZZ_SETTINGS
def test_signed_webhooks_are_acknowledged_or_named_as_malformed(
    case: Case[Any], bridge_app: FastAPI
) -> None:
    session = requests.Session()
    session.auth = _SignAsRetell()
    response = case.call_and_validate(
        app=bridge_app, session=session, checks=[*CONFORMANCE, positive_data_acceptance]
    )
    if case.method.upper() != "POST":  # the coverage phase tries the other methods too
        assert response.status_code == 405
        return
    assert response.status_code in (204, 400), (response.status_code, response.text)
    if response.status_code == 400:
        assert response.json()["detail"]
