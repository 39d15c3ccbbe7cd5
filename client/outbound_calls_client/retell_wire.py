"""Retell's wire types: the call object and the webhook, as Retell sends them.

They mirror Retell's JSON (retell-sdk's ``CallResponse`` and webhook body), keeping only the
fields we use; our own request and outcome types are in models.py. The bridge parses
webhooks into ``CallEvent``, the Retell activities answer ``RetellCall``, and the call
workflow folds them into its state; Temporal carries them as JSON.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from outbound_calls_client.names import (
    ANALYSIS_FIELDS_METADATA_KEY,
    IDEMPOTENCY_METADATA_KEY,
    KEEP_TRANSCRIPT_METADATA_KEY,
    WORKFLOW_ID_METADATA_KEY,
)

CallEventName = Literal["call_started", "call_ended", "call_analyzed"]
CALL_EVENT_NAMES: tuple[CallEventName, ...] = ("call_started", "call_ended", "call_analyzed")


class CallAnalysis(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    call_summary: str | None = None
    in_voicemail: bool | None = None
    user_sentiment: str | None = None
    call_successful: bool | None = None
    custom_analysis_data: dict[str, Any] | None = None


RetellCallStatus = Literal["registered", "not_connected", "ongoing", "ended", "error"]


class RetellCall(BaseModel):
    """The part of Retell's call object we keep.

    Unknown fields are dropped on purpose: the full object (word-level transcripts, latency,
    costs) would bloat every workflow history it passes through.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    call_id: str
    call_status: RetellCallStatus | str = "registered"
    agent_id: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    direction: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    start_timestamp: int | None = None
    end_timestamp: int | None = None
    duration_ms: int | None = None
    disconnection_reason: str | None = None
    transcript: str | None = None
    call_analysis: CallAnalysis | None = None

    @field_validator("metadata", mode="before")
    @classmethod
    def _none_metadata_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="before")
    @classmethod
    def _keep_only_what_the_caller_wants(cls, data: Any) -> Any:
        """Drop the transcript (and the free-text summary) and unwanted analysis fields when
        the request said so; see ``PrivacyOptions``."""
        if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
            return data
        metadata = data["metadata"]
        keep_transcript = metadata.get(KEEP_TRANSCRIPT_METADATA_KEY) != "false"
        fields = metadata.get(ANALYSIS_FIELDS_METADATA_KEY)
        if keep_transcript and fields is None:
            return data
        data = dict(data)
        analysis = data.get("call_analysis")
        if not keep_transcript:
            data.pop("transcript", None)
            if isinstance(analysis, dict):
                analysis = {k: v for k, v in analysis.items() if k != "call_summary"}
        if isinstance(fields, str) and isinstance(analysis, dict):
            wanted = {f for f in fields.split(",") if f}
            custom = analysis.get("custom_analysis_data")
            if isinstance(custom, dict):
                analysis = {
                    **analysis,
                    "custom_analysis_data": {k: v for k, v in custom.items() if k in wanted},
                }
        if analysis is not None:
            data["call_analysis"] = analysis
        return data

    @property
    def workflow_id(self) -> str | None:
        value = self.metadata.get(WORKFLOW_ID_METADATA_KEY)
        return value if isinstance(value, str) else None

    @property
    def idempotency_key(self) -> str | None:
        value = self.metadata.get(IDEMPOTENCY_METADATA_KEY)
        return value if isinstance(value, str) else None


class CallEvent(BaseModel):
    """One Retell webhook, as the bridge signals it into a workflow (signal ``call_event``)."""

    # Retell may add top-level fields to its webhooks; they must not make an event unreadable.
    model_config = ConfigDict(frozen=True, extra="ignore")

    event: CallEventName
    call: RetellCall

    @property
    def dedupe_key(self) -> tuple[str, str]:
        # Retell sends no event id and retries deliveries: (call id, event) is the identity.
        return (self.call.call_id, self.event)
