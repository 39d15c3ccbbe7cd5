"""What the bridge's OpenAPI document says about the webhook endpoint.

The handler reads the raw body itself (the signature covers the exact bytes, so FastAPI must
not parse and re-validate it first), which leaves FastAPI nothing to describe. The body
schema is declared here instead, built from the same models that parse it, so that the
document, the parser and a schema-driven fuzzer (schemathesis) agree.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from calls.signatures import SIGNATURE_HEADER
from outbound_calls_client.names import WORKFLOW_ID_METADATA_KEY
from outbound_calls_client.retell_wire import CALL_EVENT_NAMES, RetellCall


class Problem(BaseModel):
    """An error answer: what was wrong, in words a person can act on."""

    detail: str


class Health(BaseModel):
    status: str


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """Replace pydantic's ``#/$defs/X`` references by the definitions themselves.

    Inside an OpenAPI document ``#`` is the document root, so pydantic's local references
    would point nowhere.
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _call_schema() -> dict[str, Any]:
    schema = RetellCall.model_json_schema()
    call: dict[str, Any] = _inline_refs(schema, schema.get("$defs", {}))
    call["properties"]["call_id"]["minLength"] = 1
    call["properties"]["metadata"] = {
        "type": ["object", "null"],
        # No type for the routing key: a call whose metadata lacks a usable one is looked up
        # by its call id instead of being refused.
        "description": f"Echoed by Retell; '{WORKFLOW_ID_METADATA_KEY}' routes the event.",
        "additionalProperties": True,
    }
    # Retell sends many more fields (latency, costs, word-level transcripts); they are dropped.
    call["additionalProperties"] = True
    return call


def webhook_body_schema() -> dict[str, Any]:
    """Either a followed call event (with its call) or any other event type, ignored."""
    followed = list(CALL_EVENT_NAMES)
    return {
        "title": "RetellWebhook",
        "oneOf": [
            {
                "title": "CallEventWebhook",
                "description": "Signalled to the call's workflow as `call_event`.",
                "type": "object",
                "required": ["event", "call"],
                "properties": {"event": {"enum": followed}, "call": _call_schema()},
                "additionalProperties": True,
            },
            {
                "title": "OtherWebhook",
                "description": "Opt-in events (transcript_updated, ...): 204, not signalled.",
                "type": "object",
                "required": ["event"],
                "properties": {"event": {"type": "string", "not": {"enum": followed}}},
                "additionalProperties": True,
            },
        ],
    }


def webhook_openapi_extra() -> dict[str, Any]:
    return {
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "description": "v=<unix ms>,d=<hex HMAC-SHA256(key, raw body + ms)>",
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": True,
            "description": "The raw JSON Retell sends; the signature covers these exact bytes.",
            "content": {"application/json": {"schema": webhook_body_schema()}},
        },
    }


WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    204: {
        "description": (
            "Taken care of: signalled to the workflow (Temporal accepted it), or an event type "
            "that is ignored, a call no workflow follows, or a workflow already closed."
        )
    },
    400: {"model": Problem, "description": "Not JSON, or not the shape of a call event."},
    401: {"model": Problem, "description": "Signature missing, malformed, wrong or stale."},
    413: {"model": Problem, "description": "Body larger than BRIDGE_MAX_BODY_BYTES."},
    503: {
        "model": Problem,
        "description": "Temporal unreachable or slow; retry the same delivery later.",
    },
}

READINESS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Health, "description": "Temporal answers for this namespace."},
    503: {"model": Health, "description": "Temporal is unreachable or the namespace is missing."},
}
