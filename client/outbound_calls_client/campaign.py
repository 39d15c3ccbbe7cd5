"""A campaign: many calls placed by one ``CampaignWorkflow``, a bounded number at a time.

The models here are the campaign's public interface (its input, its ``progress`` query and
its result); ``outbound_calls_client.start.start_campaign`` starts one from outside a workflow,
deduplicated by ``campaign_id`` the way ``start_call`` deduplicates calls by their key.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, model_validator

from outbound_calls_client.contacts import BadRow, ContactSource
from outbound_calls_client.models import CallRequest, FrozenModel, OutcomeStatus

# A list in ``calls`` travels in the workflow input, again at every continue-as-new. Temporal
# refuses payloads over 2 MB; a call request with its defaults is about 0.7 kB, so this
# leaves room for metadata and dynamic variables. Larger lists: a contacts file.
MAX_CALLS = 1000
MAX_IN_FLIGHT = 500

OutcomeCounts = dict[OutcomeStatus, int]
# The outcomes where a person was reached: they answered, or they called us back. Read from
# the counts by callers (the CLI's "reached"), never stored: the counts stay as 1.0 has them.
REACHED_STATUSES = frozenset({OutcomeStatus.COMPLETED, OutcomeStatus.RETURNED_CALL})
# The memo key of a campaign call that names its row (the results export reads it).
CAMPAIGN_ROW_MEMO_KEY = "campaign_row"


def reached_count(counts: OutcomeCounts) -> int:
    """How many contacts were reached: completed, plus returned_call (they called back)."""
    return sum(n for status, n in counts.items() if status in REACHED_STATUSES)


class CampaignProgress(FrozenModel):
    """Internal: what one run hands to the next when the campaign continues as new.

    Callers leave ``CampaignRequest.progress`` unset; the workflow fills it in.
    """

    run: int = Field(default=1, ge=1, description="1 for the first run, +1 per continue-as-new")
    next_index: int = Field(default=0, ge=0, description="Records before this one are done.")
    started: int = Field(default=0, ge=0)
    finished: int = Field(default=0, ge=0)
    counts: OutcomeCounts = Field(default_factory=dict)
    paused: bool = False
    pause_reason: str | None = None
    total: int | None = Field(default=None, description="Records in the list or file.")
    checksum: str | None = Field(default=None, description="sha256 of the contacts file.")
    invalid_rows: int = 0
    bad_rows: tuple[BadRow, ...] = ()
    in_flight: dict[str, int] = Field(
        default_factory=dict, description="Open calls (workflow id: row), across runs."
    )


class CampaignRequest(FrozenModel):
    """Call every entry of ``calls`` (a small list) or of ``contacts`` (a file of any size),
    at most ``max_in_flight`` at a time."""

    campaign_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,100}$")
    calls: list[CallRequest] = Field(default_factory=list, max_length=MAX_CALLS)
    contacts: ContactSource | None = Field(
        default=None, description="A CSV or JSON Lines file, read a page at a time."
    )
    max_in_flight: int = Field(default=10, ge=1, le=MAX_IN_FLIGHT)
    calls_per_run: int = Field(
        default=500,
        ge=1,
        le=MAX_CALLS,
        description=(
            "Calls started per workflow run; then the run continues as new, which keeps "
            "each history small. Open calls go on across runs and report to the new one."
        ),
    )
    page_size: int = Field(default=200, ge=1, le=1000, description="Contacts read at once.")
    start_at: datetime | None = Field(
        default=None, description="Start calling at this moment (aware); waits durably."
    )
    reconcile_every_s: float = Field(
        default=600.0,
        gt=0,
        description="How often open calls are looked at, for one that closed without reporting.",
    )
    progress: CampaignProgress | None = Field(
        default=None, description="Internal: set by the workflow when it continues as new."
    )

    @model_validator(mode="after")
    def _one_list(self) -> CampaignRequest:
        if bool(self.calls) == (self.contacts is not None):
            raise ValueError("give calls (a list) or contacts (a file), exactly one")
        keys = [c.dedupe_key for c in self.calls if c.dedupe_key is not None]
        if len(keys) != len(set(keys)):
            raise ValueError("calls: two entries have the same dedupe_key")
        if self.start_at is not None and self.start_at.tzinfo is None:
            raise ValueError("start_at needs a time zone (e.g. 2025-06-01T09:00:00+02:00)")
        return self


class CampaignSnapshot(FrozenModel):
    """What the ``progress`` query answers: where the campaign stands right now."""

    campaign_id: str
    run: int
    total: int
    started: int
    finished: int
    in_flight: int
    counts: OutcomeCounts
    paused: bool
    pause_reason: str | None = None
    canceled: bool
    done: bool
    invalid_rows: int = 0
    bad_rows: tuple[BadRow, ...] = ()
    scheduled_for: datetime | None = None

    @property
    def reached(self) -> int:
        return reached_count(self.counts)


class CampaignSummary(FrozenModel):
    """The result of ``CampaignWorkflow``: how every call ended."""

    campaign_id: str
    total: int
    finished: int
    counts: OutcomeCounts
    canceled: bool
    skipped: int = Field(description="Calls never started because the campaign was canceled.")
    runs: int
    invalid_rows: int = Field(default=0, description="Records that are no valid call request.")
    bad_rows: tuple[BadRow, ...] = Field(default=(), description="The first bad records.")

    @property
    def reached(self) -> int:
        return reached_count(self.counts)


class CampaignCall(FrozenModel):
    """One contact as the start activity gets it: its call's id, its row, its request."""

    workflow_id: str
    row: int
    request: CallRequest


class CallBatch(FrozenModel):
    campaign_id: str
    task_queue: str
    calls: tuple[CampaignCall, ...] = Field(min_length=1)


def campaign_workflow_id(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


def campaign_summary_text(request: CampaignRequest) -> str:
    """The static summary the Temporal UI shows for a campaign."""
    what = (
        f"contacts from {request.contacts.location}"
        if request.contacts is not None
        else f"{len(request.calls)} calls"
    )
    return f"Campaign {request.campaign_id}: {what}, at most {request.max_in_flight} at a time"
