"""The bound of a campaign's input: what a ``CampaignRequest`` may weigh.

The request is the campaign workflow's input, and again the input of every run it continues
as new with, its ``progress`` added (workflows/campaign.py ``_continue_as_new``: counts, the
open calls' ids and rows). Temporal refuses a payload over 2 MB: a list in ``calls`` of 1,000
entries, each within the request bounds (~41 kB at most, outbound_calls_client.bounds),
could weigh 40 MB. A contacts file has no such limit (the list never enters the workflow).

So a request with ``calls`` is measured as the largest input any of its runs can carry: the
request with the largest progress its list can make. Checked by ``start_campaign`` (and so
the CLI) before anything starts, not by the model: a recorded 1.0 input larger than this
must still replay. So is a contacts template's caller ID (exactly one of ``from_number`` and
``caller_id_pool``, the rule of a ``CallRequest``).
"""

from __future__ import annotations

from outbound_calls_client.bounds import check_caller_id_source
from outbound_calls_client.call_ids import campaign_row_call_id
from outbound_calls_client.campaign import CampaignProgress, CampaignRequest
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import OutcomeStatus
from outbound_calls_client.names import call_workflow_id

# Temporal's limit on one payload (the server's default blob size limit).
TEMPORAL_PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024
# Every run's input stays under this: a quarter of Temporal's limit is left for the payload
# codec's few bytes and for what this cannot foresee (a long reason given to ``pause``).
MAX_CAMPAIGN_REQUEST_BYTES = 1536 * 1024
# A run counter no campaign reaches (one run per call started and per 8,000 events).
_MOST_RUNS = 10**9
# An account_error pause names the call's id and Retell's short disconnection reason.
_PAUSE_REASON_ALLOWANCE = 200


def payload_bytes(request: CampaignRequest) -> int:
    """The request's size as its payload carries it (the pydantic converter's JSON)."""
    return len(request.model_dump_json().encode())


def largest_carried(request: CampaignRequest) -> CampaignRequest:
    """``request`` with the largest progress a run of it can continue as new with: every
    count at its most, and open the ``max_in_flight`` calls with the longest ids."""
    calls = request.calls
    last_row = max(len(calls) - 1, 0)
    ids = [
        call_workflow_id(c.dedupe_key)
        if c.dedupe_key is not None
        else campaign_row_call_id(request.campaign_id, row)
        for row, c in enumerate(calls)
    ]
    longest = sorted(ids, key=lambda wid: len(wid.encode()), reverse=True)
    open_calls = longest[: request.max_in_flight]
    progress = CampaignProgress(
        run=_MOST_RUNS,
        next_index=len(calls),
        started=len(calls),
        finished=len(calls),
        counts=dict.fromkeys(OutcomeStatus, len(calls)),
        paused=True,
        pause_reason=f"account_error on {longest[0] if longest else ''}: "
        + "x" * _PAUSE_REASON_ALLOWANCE,
        total=len(calls),
        in_flight=dict.fromkeys(open_calls, last_row),
    )
    return request.model_copy(update={"progress": progress})


def check_campaign_bounds(request: CampaignRequest) -> None:
    """Refuse a campaign whose runs' input could pass ``MAX_CAMPAIGN_REQUEST_BYTES``, naming
    the field and the rule, or a contacts template without exactly one caller ID.
    Raises :class:`outbound_calls_client.errors.InvalidCallRequest`."""
    if request.contacts is not None:
        template = request.contacts.template
        check_caller_id_source(template.from_number, template.caller_id_pool)
    if not request.calls:
        return  # a contacts file: the list never enters the workflow
    size = payload_bytes(request)
    carried = payload_bytes(largest_carried(request))
    if carried > MAX_CAMPAIGN_REQUEST_BYTES:
        raise InvalidCallRequest(
            "calls",
            "max_bytes",
            f"the campaign request is {size} bytes as JSON with its {len(request.calls)} "
            f"calls ({carried} with what a run carries over continue-as-new), over the limit "
            f"of {MAX_CAMPAIGN_REQUEST_BYTES} bytes; give the list as a contacts file instead "
            "(contacts=ContactSource(...), or the CLI's --contacts FILE)",
        )
