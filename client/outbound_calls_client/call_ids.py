"""The spaces of call workflow ids, and who may start a call in each.

``call-<dedupe_key>`` is the space of our own namespace's starters (``start_call``, the CLI,
``call_as_child``, a campaign row that carries its own key). Two spaces are reserved, so that
no starter can take an id another owns before the owner gets to it:

- ``call-campaign:<campaign_id>:<row>``: a campaign's row without a key, started by that
  campaign alone (campaign ids have no ``:``, rows are numbers: one id, one row).
- ``call-nexus:<caller namespace>:<dedupe_key>``: a call placed through Nexus, so that two
  namespaces with the same key get two calls and a caller's id names its owner (namespace
  names have no ``:``).

A dedupe key or a workflow id given by a starter may therefore not begin with either space's
marker; ``check_dedupe_key`` and ``check_workflow_id`` refuse one, naming the field and the rule.
"""

from __future__ import annotations

import re

from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.names import CALL_WORKFLOW_ID_PREFIX, call_workflow_id

CAMPAIGN_SPACE = "campaign:"
NEXUS_SPACE = "nexus:"
RESERVED_SPACES = (CAMPAIGN_SPACE, NEXUS_SPACE)
# Temporal's namespace names (and Temporal Cloud's <name>.<account>) fit this; the ``:`` the
# id uses as a separator never does, which keeps one id to one (caller, key).
NAMESPACE_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,255}$")


def campaign_row_call_id(campaign_id: str, row: int) -> str:
    """The id of a campaign row without a dedupe key, in the campaigns' reserved space."""
    return call_workflow_id(f"{CAMPAIGN_SPACE}{campaign_id}:{row}")


def legacy_campaign_row_call_id(campaign_id: str, row: int) -> str:
    """The id campaigns gave such a row before the reserved space (still used by the runs
    that started then: workflows/campaign.py's patch)."""
    return call_workflow_id(f"{campaign_id}-{row}")


def nexus_call_id(caller_namespace: str, dedupe_key: str) -> str:
    """The id of a call a namespace placed through Nexus with this key."""
    if not NAMESPACE_PATTERN.match(caller_namespace):
        raise ValueError(f"not a namespace name: {caller_namespace!r}")
    return call_workflow_id(f"{NEXUS_SPACE}{caller_namespace}:{dedupe_key}")


def nexus_owner(workflow_id: str) -> str | None:
    """The namespace that placed the call ``workflow_id`` through Nexus, if it is in that
    space; else None."""
    prefix = CALL_WORKFLOW_ID_PREFIX + NEXUS_SPACE
    if not workflow_id.startswith(prefix):
        return None
    owner, sep, _ = workflow_id[len(prefix) :].partition(":")
    return owner if sep and NAMESPACE_PATTERN.match(owner) else None


def in_reserved_space(workflow_id: str) -> bool:
    """Whether ``workflow_id`` is a campaign's or a Nexus caller's call id."""
    return any(workflow_id.startswith(CALL_WORKFLOW_ID_PREFIX + s) for s in RESERVED_SPACES)


def _reserved_by(value: str) -> str | None:
    for space in RESERVED_SPACES:
        if value.startswith(space):
            return space
    return None


def check_dedupe_key(dedupe_key: str | None) -> None:
    """Refuse a starter's key that would name an id in a reserved space."""
    if dedupe_key is None:
        return
    space = _reserved_by(dedupe_key)
    if space is not None:
        owners = "campaigns" if space == CAMPAIGN_SPACE else "calls placed through Nexus"
        raise InvalidCallRequest(
            "dedupe_key",
            "reserved",
            f"a key may not begin with '{space}': ids {CALL_WORKFLOW_ID_PREFIX}{space}... "
            f"belong to {owners}",
        )


def check_workflow_id(workflow_id: str) -> None:
    """Refuse a workflow id a starter names that lies in a reserved space."""
    if in_reserved_space(workflow_id):
        raise InvalidCallRequest(
            "workflow_id",
            "reserved",
            f"ids beginning with '{CALL_WORKFLOW_ID_PREFIX}{CAMPAIGN_SPACE}' or "
            f"'{CALL_WORKFLOW_ID_PREFIX}{NEXUS_SPACE}' belong to campaigns and to calls "
            "placed through Nexus",
        )
