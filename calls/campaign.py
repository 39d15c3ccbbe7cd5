"""A campaign: many calls placed by one ``CampaignWorkflow``, a bounded number at a time.

The models here are the campaign's public interface (its input, its ``progress`` query and
its result); ``start_campaign`` starts one from outside a workflow, deduplicated by
``campaign_id`` the way ``calls.start.start_call`` deduplicates calls by their key.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from calls.models import CallRequest, OutcomeStatus
from calls.search_attributes import CAMPAIGN_ID
from calls.settings import DEFAULT_TASK_QUEUE
from calls.start import start_once

WORKFLOW_TYPE = "CampaignWorkflow"

# The whole list travels in the workflow input, again at every continue-as-new. Temporal
# refuses payloads over 2 MB; a call request with its defaults is about 0.7 kB, so this
# leaves room for metadata and dynamic variables. Larger lists: split into campaigns.
MAX_CALLS = 1000

OutcomeCounts = dict[OutcomeStatus, int]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CampaignProgress(_Model):
    """Internal: what one run hands to the next when the campaign continues as new.

    Callers leave ``CampaignRequest.progress`` unset; the workflow fills it in.
    """

    run: int = Field(default=1, ge=1, description="1 for the first run, +1 per continue-as-new")
    next_index: int = Field(default=0, ge=0, description="Calls before this index were started.")
    finished: int = Field(default=0, ge=0)
    counts: OutcomeCounts = Field(default_factory=dict)
    paused: bool = False
    pause_reason: str | None = None


class CampaignRequest(_Model):
    """Call every entry of ``calls``, at most ``max_in_flight`` at a time."""

    campaign_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,100}$")
    calls: list[CallRequest] = Field(min_length=1, max_length=MAX_CALLS)
    max_in_flight: int = Field(default=10, ge=1, le=500)
    calls_per_run: int = Field(
        default=200,
        ge=1,
        le=MAX_CALLS,
        description=(
            "Calls started per workflow run; then the run lets its open calls finish and "
            "continues as new, which keeps each history small. Concurrency dips at that "
            "moment, and never exceeds calls_per_run."
        ),
    )
    progress: CampaignProgress | None = Field(
        default=None, description="Internal: set by the workflow when it continues as new."
    )


class CampaignSnapshot(_Model):
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


class CampaignSummary(_Model):
    """The result of ``CampaignWorkflow``: how every call ended."""

    campaign_id: str
    total: int
    finished: int
    counts: OutcomeCounts
    canceled: bool
    skipped: int = Field(description="Calls never started because the campaign was canceled.")
    runs: int


def campaign_workflow_id(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


def campaign_summary_text(request: CampaignRequest) -> str:
    """The static summary the Temporal UI shows for a campaign."""
    return (
        f"Campaign {request.campaign_id}: {len(request.calls)} calls, "
        f"at most {request.max_in_flight} at a time"
    )


async def start_campaign(
    client: Client, request: CampaignRequest, *, task_queue: str = DEFAULT_TASK_QUEUE
) -> WorkflowHandle[Any, CampaignSummary]:
    """Start (or attach to) the campaign workflow ``campaign-<campaign_id>``.

    The same id policies as a call: a campaign started twice, even at the same moment, is
    one campaign, and after it finished the handle reads its summary instead of calling
    everyone again. The calls' numbers are checked by each call's own validation, so one
    bad entry ends as ``rejected`` rather than refusing the whole list.
    """
    return await start_once(
        client,
        WORKFLOW_TYPE,
        request,
        id=campaign_workflow_id(request.campaign_id),
        task_queue=task_queue,
        result_type=CampaignSummary,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(CAMPAIGN_ID, request.campaign_id)]
        ),
        static_summary=campaign_summary_text(request),
    )
