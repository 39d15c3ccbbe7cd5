"""The shared types of the account-wide call slots (see workflows/call_slots.py).

The cap is split across shards: ``CallSlotsWorkflow`` runs once per shard, each holding its
share of ``MAX_CONCURRENT_CALLS`` (the shares add up to the cap, so the cap holds however the
calls spread). A call goes to the shard its workflow id hashes to, so the shards see about
the same demand, and each one's history takes only its share of the requests.
"""

from __future__ import annotations

import math
import zlib
from datetime import datetime

from pydantic import ConfigDict, Field

from outbound_calls_client.models import FrozenModel

# Calls ended by Retell's own cap are retried later, not failed.
CONCURRENCY_REASONS = frozenset({"concurrency_limit_reached", "no_concurrency_fallback"})

# With CALL_SLOT_SHARDS unset: one shard per this many slots (measured: one shard serves
# about this many dials a second and more; bench/slot_pool.py).
SLOTS_PER_AUTO_SHARD = 250
MAX_AUTO_SHARDS = 16
# CallStatus values of a call that may hold a slot (see recover_slot_holders).
HOLDING_PHASES = ("waiting_for_slot", "dialing", "ringing", "in_call")


def slots_workflow_id(task_queue: str, shard: int = 0) -> str:
    """One pool per task queue (and namespace) and shard; shard 0 keeps the original id."""
    base = f"call-slots-{task_queue}"
    return base if shard == 0 else f"{base}-{shard}"


def shard_count(capacity: int, configured: int | None) -> int:
    """How many shards serve ``capacity`` slots: as configured (0/None: one per
    SLOTS_PER_AUTO_SHARD slots, at most MAX_AUTO_SHARDS), never more than there are slots."""
    wanted = configured or min(MAX_AUTO_SHARDS, math.ceil(capacity / SLOTS_PER_AUTO_SHARD))
    return max(1, min(wanted, capacity))


def shard_of(holder: str, shards: int) -> int:
    """The shard a call asks: a stable hash of its workflow id (the same on every worker)."""
    return zlib.crc32(holder.encode()) % shards


def shard_capacity(capacity: int, shards: int, shard: int) -> int:
    """Shard ``shard``'s share of ``capacity``; the shares add up to ``capacity``."""
    return capacity // shards + (1 if shard < capacity % shards else 0)


class SlotMessage(FrozenModel):
    """What pools and calls send each other (signals, activity inputs and answers, the pool's
    carried state). Workers of two versions run side by side during a rolling upgrade: a
    field the newer one added is ignored by the older one instead of failing its decode (and
    with it the pool's workflow task, which would stop every grant)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class SlotRequest(SlotMessage):
    holder: str = Field(description="The call workflow's id; the grant is signalled to it.")
    lease_s: float = Field(gt=0, description="The slot returns by itself after this long.")
    capacity: int = Field(ge=1, description="MAX_CONCURRENT_CALLS of the asking worker.")
    # Fair share: the pool takes turns between groups (each campaign is one, single calls
    # another), first come first served within a group. None: the single calls' group.
    group: str | None = None
    # Which ask of the holder a grant answers: a grant for an older ask is ignored.
    ticket: int = Field(ge=1)


class SlotTicket(SlotMessage):
    """Where a call's ask went (request_call_slot's answer)."""

    shard: int = Field(ge=0)
    pool_id: str
    # The task queue for create_call (RETELL_MAX_CREATES_PER_SECOND); None: the call's own.
    create_task_queue: str | None = None
    # The slot came in the ask's answer (the pool had room): no grant signal will follow.
    # False: queued, the grant comes as the slot_granted signal.
    granted: bool = False


class SlotAsks(SlotMessage):
    """Asks that reached one worker together, sent to their pool as one ask_slots update."""

    requests: tuple[SlotRequest, ...]


class SlotGrants(SlotMessage):
    """A pool's round of grants: (holder, ticket) each (grant_call_slots' input)."""

    grants: tuple[tuple[str, int], ...]


class SlotPoolState(SlotMessage):
    """The pool's input: empty at first, carried over on continue-as-new."""

    capacity: int = Field(default=1, ge=1)
    holders: tuple[tuple[str, datetime], ...] = ()
    queue: tuple[SlotRequest, ...] = ()
    # Which shard of how many this pool is: a fresh run looks for its holders among them.
    shard: int = Field(default=0, ge=0)
    shards: int = Field(default=1, ge=1)
    # Holders found by recovery that have not been heard from since (see the pool).
    unconfirmed: tuple[str, ...] = ()
    recovered: bool = False


class RecoveredHolders(SlotMessage):
    """recover_slot_holders' answer: calls that may hold a slot of the shard."""

    holding: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()


class SlotsSnapshot(SlotMessage):
    capacity: int
    holders: tuple[str, ...]
    waiting: tuple[str, ...]
