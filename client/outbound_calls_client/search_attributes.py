"""The typed search attributes every call workflow keeps current, declared once.

The dev stack and the setup command register exactly this set
(``adapters.namespace_setup.register_search_attributes``).
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CALL_STATUS = SearchAttributeKey.for_keyword("CallStatus")
CALL_OUTCOME = SearchAttributeKey.for_keyword("CallOutcome")
RETELL_CALL_ID = SearchAttributeKey.for_keyword("RetellCallId")
CAMPAIGN_ID = SearchAttributeKey.for_keyword("CampaignId")
TO_NUMBER_MASKED = SearchAttributeKey.for_keyword("ToNumberMasked")
CALL_ATTEMPT = SearchAttributeKey.for_int("CallAttempt")
# HMAC of the callee's number (calls/returned_call.py): finds the call a returning caller
# answers, with no number in clear in visibility.
TO_NUMBER_HASH = SearchAttributeKey.for_keyword("ToNumberHash")

ALL_SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[str] | SearchAttributeKey[int], ...] = (
    CALL_STATUS,
    CALL_OUTCOME,
    RETELL_CALL_ID,
    CAMPAIGN_ID,
    TO_NUMBER_MASKED,
    CALL_ATTEMPT,
    TO_NUMBER_HASH,
)


def dev_server_flags() -> list[str]:
    """``--search-attribute`` flags for ``temporal server start-dev``."""
    kinds = {"KEYWORD": "Keyword", "INT": "Int"}
    return [
        f"--search-attribute={key.name}={kinds[key.indexed_value_type.name]}"
        for key in ALL_SEARCH_ATTRIBUTES
    ]
