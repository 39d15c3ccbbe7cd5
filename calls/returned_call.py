"""Returned calls: recognise a person who calls back a number we called them from.

Pure. The caller's number is never searched for in clear: the call workflow records a keyed
hash of its callee's number (search attribute ``ToNumberHash``) and the bridge hashes an
inbound caller's number with the same key, so Temporal's visibility store, its query log and
our logs hold neither number. The key (``NUMBER_HASH_KEY``) keeps a hash from being reversed
by hashing every possible number, which an unkeyed digest of a 15-digit number would allow.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

# Prefixed, so our variables never overwrite ones the agent's prompt already uses.
VARIABLE_PREFIX = "returned_call_"
# 128 bits of HMAC-SHA256: no collision among any account's callees, and short in the UI.
_HASH_HEX_CHARS = 32


def number_hash(key: str, number: str) -> str:
    """The keyed hash of an E.164 number, as ``ToNumberHash`` holds it."""
    digest = hmac.new(key.encode(), number.encode(), hashlib.sha256).hexdigest()
    return digest[:_HASH_HEX_CHARS]


class CalledContext(BaseModel):
    """What a call workflow tells the bridge about the call that reached out to a person
    (the query ``returned_call_context``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    last_attempt_at: datetime | None = None
    dynamic_variables: dict[str, str] = Field(default_factory=dict)


def inbound_variables(
    context: CalledContext, *, campaign_id: str | None, workflow_id: str
) -> dict[str, str]:
    """The dynamic variables of the inbound answer: why we called, then our call's own."""
    ours = {
        f"{VARIABLE_PREFIX}workflow_id": workflow_id,
        f"{VARIABLE_PREFIX}campaign_id": campaign_id or "",
        f"{VARIABLE_PREFIX}last_attempt_at": (
            context.last_attempt_at.isoformat() if context.last_attempt_at else ""
        ),
    }
    return {**context.dynamic_variables, **ours}
