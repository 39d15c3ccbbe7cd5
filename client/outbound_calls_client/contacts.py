"""A campaign's contacts file: where it is, what its rows become, and the activities' models.

The file is parsed by the service (calls/contacts_file.py, opened by adapters/contacts_file.py
for the contact activities and the CLI); a caller needs only these types and the format:

- CSV: a header row; ``to_number`` required; ``dedupe_key`` optional; ``from_number`` or
  ``caller_id_pool`` optional, a row's value in place of the template's caller ID (empty:
  the template's); a column ``metadata.<key>`` goes to the call's metadata; every other
  column is a dynamic variable.
- JSON Lines: one ``CallRequest`` object a line (fields the line leaves out come from the
  campaign's template; a line naming ``from_number`` or ``caller_id_pool`` takes neither of
  the template's).

Each contact is known by its ``position`` (0-based among the file's records) and its ``row``,
the line it starts on in the file (what a person looks for in an editor: with a CSV header,
the first contact is row 2). A bad record is reported by its row, the field and the rule,
and does not stop the others.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, HttpUrl, SerializerFunctionWrapHandler, model_serializer

from outbound_calls_client.models import (
    AgentConfig,
    CallingWindow,
    CallRequest,
    CallTimeouts,
    FrozenModel,
    PrivacyOptions,
    RedialPolicy,
    TextFollowUp,
    without_unused,
)

ContactFormat = Literal["csv", "jsonl"]
METADATA_PREFIX = "metadata."
# A row's caller ID, in place of the template's (whichever of the two the template names).
CALLER_ID_FIELDS = ("from_number", "caller_id_pool")
# Left out of the JSON while unset: a 1.0 client still reads every template without them.
NEW_TEMPLATE_FIELDS = ("caller_id_pool", "text_follow_up")
MAX_BAD_ROWS_LISTED = 200


class CallTemplate(FrozenModel):
    """What every contact of a campaign shares; a row adds its number and its own fields.

    Exactly one of ``from_number`` and ``caller_id_pool``, as in a ``CallRequest``: checked
    by ``start_campaign`` (outbound_calls_client.campaign_bounds), not here, so that a
    recorded campaign input replays whatever this model allows.
    """

    from_number: str | None = Field(default=None, min_length=1, max_length=32)
    caller_id_pool: str | None = Field(
        default=None,
        description="Instead of from_number: a pool of our numbers (outbound-calls numbers).",
    )
    agent_id: str | None = Field(default=None, max_length=128)
    agent_version: int | None = Field(default=None, ge=0)
    agent: AgentConfig | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    dynamic_variables: dict[str, str] = Field(default_factory=dict)
    timeouts: CallTimeouts = Field(default_factory=CallTimeouts)
    redial: RedialPolicy = Field(default_factory=RedialPolicy)
    calling_window: CallingWindow = Field(default_factory=CallingWindow)
    outcome_url: HttpUrl | None = None
    privacy: PrivacyOptions = Field(default_factory=PrivacyOptions)
    text_follow_up: TextFollowUp | None = None

    @model_serializer(mode="wrap")
    def _as_1_0_when_unused(self, handler: SerializerFunctionWrapHandler) -> Any:
        return without_unused(handler(self), NEW_TEMPLATE_FIELDS)


class ContactSource(FrozenModel):
    """Where a campaign's contacts are: a path every worker can read, or an http(s) URL."""

    location: str = Field(min_length=1, description="a path on the workers, or http(s)://...")
    format: ContactFormat = "csv"
    template: CallTemplate
    strict: bool = Field(default=False, description="True: any bad row refuses the campaign.")

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))


class BadRow(FrozenModel):
    row: int = Field(description="the line the record starts on")
    field: str
    rule: str
    message: str


class Contact(FrozenModel):
    position: int
    row: int
    request: CallRequest


class ContactsOpened(FrozenModel):
    """What ``open_contacts`` answers: the file's fingerprint and how its records look."""

    checksum: str = Field(description="sha256 of the file's bytes, hex")
    records: int = Field(description="records in the file, bad ones included")
    bad_rows: int
    bad_row_list: tuple[BadRow, ...] = Field(description=f"the first {MAX_BAD_ROWS_LISTED}")


class PageRequest(FrozenModel):
    """The input of ``read_contacts_page``: records ``first`` .. ``first + count - 1``."""

    source: ContactSource
    checksum: str
    first: int = Field(ge=0)
    count: int = Field(ge=1, le=1000)


class ContactsPage(FrozenModel):
    contacts: tuple[Contact, ...]
    next_position: int = Field(description="where the next page starts")


def detect_format(location: str) -> ContactFormat:
    return "jsonl" if location.lower().split("?")[0].endswith((".jsonl", ".ndjson")) else "csv"
