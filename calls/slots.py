"""The shared types of the account-wide call slots (see workflows/call_slots.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

SLOTS_WORKFLOW_TYPE = "CallSlotsWorkflow"
SLOT_GRANTED_SIGNAL = "slot_granted"

# Calls ended by Retell's own cap are retried later, not failed.
CONCURRENCY_REASONS = frozenset({"concurrency_limit_reached", "no_concurrency_fallback"})


def slots_workflow_id(task_queue: str) -> str:
    """One pool per task queue (and namespace): the workers of one queue share one account."""
    return f"call-slots-{task_queue}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SlotRequest(_Model):
    holder: str = Field(description="The call workflow's id; the grant is signalled to it.")
    lease_s: float = Field(gt=0, description="The slot returns by itself after this long.")
    capacity: int = Field(ge=1, description="MAX_CONCURRENT_CALLS of the asking worker.")
    campaign: bool = Field(
        default=False, description="A campaign's call: served after single calls, capped."
    )


class SlotPoolState(_Model):
    """The pool's input: empty at first, carried over on continue-as-new."""

    capacity: int = Field(default=1, ge=1)
    holders: tuple[tuple[str, datetime], ...] = ()
    queue: tuple[SlotRequest, ...] = ()
    campaign_holders: tuple[str, ...] = ()


def campaign_share(capacity: int) -> int:
    """Slots campaign calls may hold at once: a tenth of the cap stays for single calls."""
    return max(1, capacity - capacity // 10)


class SlotsSnapshot(_Model):
    capacity: int
    holders: tuple[str, ...]
    waiting: tuple[str, ...]
