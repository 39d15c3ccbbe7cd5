"""Our data model: what callers send, what a workflow returns (Retell's: retell_wire.py).

Workflows, activities, the bridge and the CLI all import these, and Temporal carries them
with the pydantic data converter. Field names are part of the product's public interface.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from outbound_calls_client.names import (
    ANALYSIS_FIELDS_METADATA_KEY,
    ATTEMPT_METADATA_KEY,
    DEFAULT_CALLBACK_TIME_FIELD,
    IDEMPOTENCY_METADATA_KEY,
    KEEP_TRANSCRIPT_METADATA_KEY,
    WORKFLOW_ID_METADATA_KEY,
)
from outbound_calls_client.retell_wire import CallAnalysis

# The metadata keys we add to every Retell call: a caller's metadata may not use them.
RESERVED_METADATA_KEYS = frozenset(
    {
        WORKFLOW_ID_METADATA_KEY,
        IDEMPOTENCY_METADATA_KEY,
        ATTEMPT_METADATA_KEY,
        KEEP_TRANSCRIPT_METADATA_KEY,
        ANALYSIS_FIELDS_METADATA_KEY,
    }
)

# Fields added after 1.0, left out of the JSON while unset: a 1.0 client (which refuses
# unknown fields) still reads every request and outcome that does not use them.
NEW_REQUEST_FIELDS = ("caller_id_pool", "text_follow_up")
NEW_ATTEMPT_FIELDS = ("from_number",)


def without_unused(data: Any, names: tuple[str, ...]) -> Any:
    if isinstance(data, dict):
        for name in names:
            if data.get(name, 0) is None:
                del data[name]
    return data


Seconds = Annotated[float, Field(gt=0)]


class FrozenModel(BaseModel):
    """The base of our models: immutable (safe to share in workflow state), and strict about
    unknown fields (a typo in a request is an error naming it, not a silent default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class AnswerModel(FrozenModel):
    """What a call answers (its outcome, status, reports to a parent): fields it does not know
    are left out, not refused, so a client or parent workflow on an older release of this
    package reads the answers of a newer service (which only ever adds fields)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class OutcomeStatus(StrEnum):
    """The closed set of results a call workflow ends with."""

    COMPLETED = "completed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    CALLBACK_REQUESTED = "callback_requested"
    DO_NOT_CALL = "do_not_call"
    INVALID_NUMBER = "invalid_number"
    DIAL_FAILED = "dial_failed"
    ACCOUNT_ERROR = "account_error"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELED = "canceled"
    TIMED_OUT = "timed_out"
    # The person called us back before a redial (the bridge's inbound webhook); call_id is
    # the inbound call's. New in 1.1: a 1.0 client refuses it, so consumers upgrade first.
    RETURNED_CALL = "returned_call"


class CallTimeouts(FrozenModel):
    """How long each wait of a call may last before the workflow polls Retell itself."""

    ring_timeout_s: Seconds = Field(
        default=90.0, description="After create, wait this long for the first event, then poll."
    )
    max_duration_s: Seconds = Field(
        default=3600.0,
        description="From create to end; past it a still-open call is hung up as timed_out.",
    )
    analysis_timeout_s: Seconds = Field(
        default=300.0,
        description="After the call ends, wait this long for call_analyzed, then poll once.",
    )
    poll_interval_s: Seconds = Field(
        default=300.0,
        description="While a call is open, poll get-call this often in case a webhook is lost.",
    )
    max_hold_s: Seconds | None = Field(
        default=None,
        description=(
            "Before a dial, hold at most this long for a contact limit or a caller-ID pool with "
            "no usable number, then end rejected; unset: a contact limit holds until allowed, "
            "a pool 24 h."
        ),
    )

    @model_serializer(mode="wrap")
    def _as_1_0_when_unused(self, handler: SerializerFunctionWrapHandler) -> Any:
        return without_unused(handler(self), ("max_hold_s",))

    @property
    def max_hold(self) -> timedelta | None:
        return None if self.max_hold_s is None else timedelta(seconds=self.max_hold_s)

    @property
    def ring_timeout(self) -> timedelta:
        return timedelta(seconds=self.ring_timeout_s)

    @property
    def max_duration(self) -> timedelta:
        return timedelta(seconds=self.max_duration_s)

    @property
    def analysis_timeout(self) -> timedelta:
        return timedelta(seconds=self.analysis_timeout_s)

    @property
    def poll_interval(self) -> timedelta:
        return timedelta(seconds=self.poll_interval_s)


# Dials per call: one unless a request asks for redials, never more than the most.
DEFAULT_MAX_ATTEMPTS = 1
MOST_ATTEMPTS = 20


class RedialPolicy(FrozenModel):
    """Opt-in redials: a plain request dials once. Each redial is a new Retell call."""

    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, le=MOST_ATTEMPTS)
    retry_on: frozenset[OutcomeStatus] = Field(
        default_factory=lambda: frozenset(
            {
                OutcomeStatus.NO_ANSWER,
                OutcomeStatus.BUSY,
                OutcomeStatus.VOICEMAIL,
                OutcomeStatus.FAILED,
                OutcomeStatus.CALLBACK_REQUESTED,
                OutcomeStatus.DIAL_FAILED,
            }
        ),
        description="Outcomes that are dialed again; others are final.",
    )
    initial_delay_s: Seconds = Field(default=600.0, description="Wait before the first redial.")
    backoff: float = Field(default=2.0, ge=1.0, description="Each later wait is this much longer.")
    max_delay_s: Seconds = Field(default=86400.0)
    callback_delay_s: Seconds = Field(
        default=3600.0, description="Wait before calling back a person who asked for it."
    )
    dial_failed_max_attempts: int = Field(
        default=2, ge=1, description="Cap for dial_failed: bursts get a number marked as spam."
    )


class CallingWindow(FrozenModel):
    """When a person may be called, in their local time (US law allows 08:00-21:00)."""

    enabled: bool = True
    start: time = time(9, 0)
    end: time = time(20, 0)
    days: frozenset[int] = Field(
        default=frozenset(range(1, 8)), description="ISO weekdays: 1 Monday ... 7 Sunday"
    )
    time_zone: str | None = Field(
        default=None, description="IANA zone; overrides the zones derived from the number"
    )
    regional_rules: bool | None = Field(
        default=None,
        description="True: the calling hours of the callee's region apply on top of this "
        "window (docs/calls.md, Calling hours by region); false: they do not; unset: they "
        "apply when the window does (enabled=false is 'any hour', the rule included).",
    )

    @property
    def applies_regional_rules(self) -> bool:
        return self.enabled if self.regional_rules is None else self.regional_rules

    @model_serializer(mode="wrap")
    def _as_1_0_when_unused(self, handler: SerializerFunctionWrapHandler) -> Any:
        return without_unused(handler(self), ("regional_rules",))

    @model_validator(mode="after")
    def _coherent(self) -> CallingWindow:
        if not self.start < self.end:
            raise ValueError("start must be before end (windows do not cross midnight)")
        if not self.days or not self.days <= set(range(1, 8)):
            raise ValueError("days must be a non-empty set of ISO weekdays 1..7")
        if self.time_zone is not None:
            try:
                ZoneInfo(self.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"time_zone {self.time_zone!r} is not an IANA zone") from None
        return self


class HoursRange(FrozenModel):
    """Part of a day, in the callee's local time: from ``start`` up to (not including) ``end``."""

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> HoursRange:
        if not self.start < self.end:
            raise ValueError("start must be before end (hours do not cross midnight)")
        return self


class RegionalRule(FrozenModel):
    """The calling hours a region's law sets (calls/data/calling_rules.json), as the validation
    activity found them for a callee: concrete holiday dates, so the workflow needs no data."""

    region: str = Field(description="e.g. US-FL, CA, FR")
    hours: dict[int, tuple[HoursRange, ...] | None] = Field(
        description="ISO weekday 1 (Monday) ... 7 (Sunday): the allowed hours; None: no calls"
    )
    holidays: tuple[date, ...] = Field(
        default=(), description="Local dates with no calls (computed for about 400 days)"
    )
    source: str = Field(description="The statute or rule, e.g. Fla. Stat. § 501.616(6)(a)")
    url: str | None = None
    checked: date = Field(description="When the source was last read")

    @field_validator("hours")
    @classmethod
    def _every_weekday(
        cls, value: dict[int, tuple[HoursRange, ...] | None]
    ) -> dict[int, tuple[HoursRange, ...] | None]:
        if set(value) != set(range(1, 8)):
            raise ValueError("hours must name each ISO weekday 1..7 (None: no calls that day)")
        for ranges in value.values():
            if ranges is None:
                continue
            if not ranges:
                raise ValueError("a day's hours are None (no calls) or at least one range")
            if any(a.end > b.start for a, b in pairwise(ranges)):
                raise ValueError("a day's ranges must be in order and not overlap")
        return value


_ENGINE_KEYS = {
    "retell-llm": "llm_id",
    "custom-llm": "llm_websocket_url",
    "conversation-flow": "conversation_flow_id",
}


class AgentConfig(FrozenModel):
    """An agent described by its configuration instead of its id: the fields of Retell's
    create-agent. One agent is created per distinct configuration and reused."""

    voice_id: str = Field(min_length=1)
    response_engine: dict[str, Any] = Field(
        description='e.g. {"type": "retell-llm", "llm_id": "llm_..."}'
    )
    agent_name: str = Field(default="outbound", min_length=1, max_length=60)
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Any other create-agent field (language, begin_message, voice_speed...).",
    )

    @field_validator("response_engine")
    @classmethod
    def _known_engine(cls, value: dict[str, Any]) -> dict[str, Any]:
        kind = value.get("type")
        if kind not in _ENGINE_KEYS:
            raise ValueError(f"type must be one of {sorted(_ENGINE_KEYS)}")
        if not value.get(_ENGINE_KEYS[kind]):
            raise ValueError(f"a {kind} engine needs {_ENGINE_KEYS[kind]}")
        return value

    @field_validator("settings")
    @classmethod
    def _no_overlap(cls, value: dict[str, Any]) -> dict[str, Any]:
        clash = sorted({"voice_id", "response_engine", "agent_name"} & value.keys())
        if clash:
            raise ValueError(f"{clash} are fields of their own, not settings")
        return value


class PrivacyOptions(FrozenModel):
    """What of a call is kept in workflow state (and so in Temporal's history)."""

    keep_transcript: bool = Field(
        default=True,
        description="False: no transcript and no free-text summary ever reach Temporal.",
    )
    analysis_fields: tuple[str, ...] | None = Field(
        default=None,
        description="Keep only these keys of call_analysis.custom_analysis_data.",
    )

    def metadata(self) -> dict[str, str]:
        """The Retell metadata that carries these choices to every reader of the call."""
        extra: dict[str, str] = {}
        if not self.keep_transcript:
            extra[KEEP_TRANSCRIPT_METADATA_KEY] = "false"
        if self.analysis_fields is not None:
            extra[ANALYSIS_FIELDS_METADATA_KEY] = ",".join(self.analysis_fields)
        return extra


# Texts wait for the callee's calling hours at most this long after the call's end; past it
# the text is not sent (a "sorry we missed you" a day late reads as spam).
MAX_TEXT_WAIT = timedelta(hours=24)
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"


class TextFollowUp(FrozenModel):
    """Opt-in: one text (Retell's create-sms-chat, a chat agent writing it with the call's
    dynamic variables) after the call ends as one of ``after``."""

    after: frozenset[OutcomeStatus] = Field(
        min_length=1, description="Outcomes that send the text, e.g. no_answer, voicemail."
    )
    chat_agent_id: str = Field(min_length=1, max_length=128)
    from_number: str | None = Field(
        default=None,
        pattern=E164_PATTERN,
        description="An SMS-capable number (E.164); by default the call's from_number.",
    )

    @field_validator("after")
    @classmethod
    def _never_after_do_not_call(cls, value: frozenset[OutcomeStatus]) -> frozenset[OutcomeStatus]:
        if OutcomeStatus.DO_NOT_CALL in value:
            raise ValueError("do_not_call may not be texted (the person asked not to be called)")
        return value


TextStatus = Literal["sent", "not_sent"]


class TextRecord(AnswerModel):
    """What became of a call's text follow-up."""

    status: TextStatus
    chat_id: str | None = None
    sent_at: datetime | None = None
    detail: str | None = Field(default=None, description="Why it was not sent.")


class SendTextInput(FrozenModel):
    """What the send-text activity needs: one text, known by ``dedupe_key``."""

    dedupe_key: str
    to_number: str
    from_number: str
    chat_agent_id: str
    dynamic_variables: dict[str, str] = Field(default_factory=dict)


class CallRequest(FrozenModel):
    """What a caller asks for: call this person with this agent, and tell me what happened.

    Only shape is checked here; the number rules (``phonenumbers``) run in the validation
    activity so that a metadata update of that library never changes a recorded history.
    """

    to_number: str = Field(min_length=1, max_length=32)
    # Exactly one of from_number and caller_id_pool: checked with the bounds, not here, so
    # that a recorded 1.0 request (always a from_number) replays whatever this model allows.
    from_number: str | None = Field(default=None, min_length=1, max_length=32)
    caller_id_pool: str | None = Field(
        default=None,
        description="Instead of from_number: a pool of our numbers (outbound-calls numbers); "
        "each attempt dials from the most local usable one.",
    )
    agent_id: str | None = Field(default=None, max_length=128)
    agent_version: int | None = Field(default=None, ge=0)
    agent: AgentConfig | None = Field(
        default=None, description="Instead of agent_id: the agent's configuration."
    )
    metadata: dict[str, str] = Field(default_factory=dict)
    dynamic_variables: dict[str, str] = Field(default_factory=dict)
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=200)
    timeouts: CallTimeouts = Field(default_factory=CallTimeouts)
    redial: RedialPolicy = Field(default_factory=RedialPolicy)
    calling_window: CallingWindow = Field(default_factory=CallingWindow)
    outcome_url: HttpUrl | None = Field(
        default=None, description="Receives the final CallOutcome as signed JSON."
    )
    privacy: PrivacyOptions = Field(default_factory=PrivacyOptions)
    report_to: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "A workflow id told of the end: it receives the signal call_finished with a "
            "CallReport (the outcome without transcript or analysis). Campaigns use it."
        ),
    )
    text_follow_up: TextFollowUp | None = Field(
        default=None, description="Opt-in: one text after chosen outcomes (docs/calls.md)."
    )

    @model_serializer(mode="wrap")
    def _as_1_0_when_unused(self, handler: SerializerFunctionWrapHandler) -> Any:
        return without_unused(handler(self), NEW_REQUEST_FIELDS)

    @model_validator(mode="after")
    def _one_way_to_name_the_agent(self) -> CallRequest:
        if self.agent is not None and self.agent_id is not None:
            raise ValueError("give agent_id or agent (a configuration), not both")
        return self

    @field_validator("metadata")
    @classmethod
    def _no_reserved_metadata(cls, value: dict[str, str]) -> dict[str, str]:
        clash = sorted(RESERVED_METADATA_KEYS & value.keys())
        if clash:
            raise ValueError(f"keys {clash} are reserved for routing and idempotency")
        return value


class CallReport(AnswerModel):
    """A call's end as its waiters need it: small, and without what the callee said."""

    workflow_id: str
    status: OutcomeStatus
    call_id: str | None = None
    disconnection_reason: str | None = None
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @classmethod
    def of(cls, outcome: CallOutcome) -> CallReport:
        return cls(
            workflow_id=outcome.workflow_id,
            status=outcome.status,
            call_id=outcome.call_id,
            disconnection_reason=outcome.disconnection_reason,
            attempts=len(outcome.attempts),
            started_at=outcome.started_at,
            ended_at=outcome.ended_at,
        )


class ValidatedCall(FrozenModel):
    """A request after the validation activity: numbers normalised to E.164."""

    to_number: str
    # None: the request names a caller_id_pool, and each attempt picks its number.
    from_number: str | None
    to_number_masked: str
    time_zones: tuple[str, ...]
    # The worker's CALLBACK_TIME_FIELD, carried here so that the workflow reads the setting
    # from its history (the validation's recorded result), never from the environment.
    callback_time_field: str = DEFAULT_CALLBACK_TIME_FIELD
    # The keyed hash of to_number (calls/returned_call.py), made where the worker's key is;
    # None in histories from before it (and the workflow then sets no ToNumberHash).
    to_number_hash: str | None = None
    # The callee's regional calling hours (calls/regional_hours.py); None: none known, the
    # request turned them off, or a history from before them.
    regional_rule: RegionalRule | None = None

    @model_serializer(mode="wrap")
    def _as_before_when_unused(self, handler: SerializerFunctionWrapHandler) -> Any:
        return without_unused(handler(self), ("regional_rule",))


class DoNotCallEntry(FrozenModel):
    number: str
    reason: str
    workflow_id: str | None = None


class PickCallerIdInput(FrozenModel):
    """What the caller-ID pick needs: the attempt (its key makes a retried pick the same
    pick, counted once), the pool and the callee."""

    idempotency_key: str
    pool: str
    to_number: str


class CallerIdPicked(FrozenModel):
    """The pick's answer: the number, or none with the pool's size (0: no such pool) and when
    one of its numbers may next be usable (a rest's end, the next day's cap)."""

    number: str | None
    pool_size: int = 1
    next_usable_at: datetime | None = None


class ContactClaimInput(FrozenModel):
    """A dial about to go out: counted as a contact of ``to_number`` if CONTACT_LIMITS allow
    (once per attempt however often it is asked), at the workflow's time ``at``."""

    idempotency_key: str
    to_number: str
    at: datetime


class ContactClaimAnswer(FrozenModel):
    allowed: bool
    next_allowed_at: datetime | None = None
    rule: str | None = None


class CallerIdResultInput(FrozenModel):
    """How an attempt from a pool's number ended: counted once per attempt for the number's
    health (calls/caller_id_health.py)."""

    idempotency_key: str
    number: str
    status: OutcomeStatus
    disconnection_reason: str | None = None


class CreateCallInput(FrozenModel):
    """What the create-call activity needs for one attempt."""

    workflow_id: str
    attempt: int = Field(ge=1)
    idempotency_key: str
    to_number: str
    from_number: str
    agent_id: str | None = None
    agent_version: int | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    dynamic_variables: dict[str, str] = Field(default_factory=dict)
    privacy: PrivacyOptions = Field(default_factory=PrivacyOptions)


class AttemptRecord(AnswerModel):
    """One dial: one Retell call."""

    attempt: int
    idempotency_key: str
    call_id: str | None = None
    status: OutcomeStatus
    disconnection_reason: str | None = None
    dialed_at: datetime | None = Field(default=None, description="When the create was sent.")
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: int | None = None
    detail: str | None = None
    from_number: str | None = Field(
        default=None, description="The number picked from the request's caller_id_pool."
    )

    @model_serializer(mode="wrap")
    def _as_1_0_when_unused(self, handler: SerializerFunctionWrapHandler) -> Any:
        return without_unused(handler(self), NEW_ATTEMPT_FIELDS)


class CallOutcome(AnswerModel):
    """The result of ``OutboundCallWorkflow``: what finally happened, and every attempt."""

    workflow_id: str
    status: OutcomeStatus
    call_id: str | None = None
    disconnection_reason: str | None = None
    attempts: tuple[AttemptRecord, ...] = ()
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: int | None = None
    transcript: str | None = None
    call_analysis: CallAnalysis | None = None
    detail: str | None = Field(
        default=None, description="Why the call was rejected, failed or timed out."
    )
    text: TextRecord | None = Field(
        default=None, description="The text follow-up, when the request asked for one."
    )

    @model_serializer(mode="wrap")
    def _as_1_0_when_unused(self, handler: SerializerFunctionWrapHandler) -> Any:
        result: dict[str, Any] = without_unused(handler(self), ("text",))
        return result

    @property
    def attempt_count(self) -> int:
        return len(self.attempts)


CallPhaseName = Literal[
    "validating",
    "dialing",
    "ringing",
    "in_call",
    "awaiting_analysis",
    "waiting_to_redial",
    "waiting_for_window",
    "waiting_for_slot",
    "waiting_for_caller_id",
    "waiting_for_contact_limit",
    "finished",
]


DialStatus = Literal["dialed", "scheduled", "finished"]


class DialReport(AnswerModel):
    """The answer of the ``dialed`` update: as soon as Retell took the call (its call id),
    or the call waits for its callee's calling hours, or it ended without a call (why)."""

    workflow_id: str
    status: DialStatus
    call_id: str | None = None
    attempt: int = 0
    waiting_until: datetime | None = None
    outcome: OutcomeStatus | None = None
    detail: str | None = None

    @classmethod
    def of_outcome(cls, outcome: CallOutcome) -> DialReport:
        """A finished call: dialed if any attempt placed a call, else why not."""
        placed = [a for a in outcome.attempts if a.call_id is not None]
        if placed:
            return cls(
                workflow_id=outcome.workflow_id,
                status="dialed",
                call_id=placed[0].call_id,
                attempt=placed[0].attempt,
            )
        return cls(
            workflow_id=outcome.workflow_id,
            status="finished",
            attempt=len(outcome.attempts),
            outcome=outcome.status,
            detail=outcome.detail,
        )


class CallSnapshot(AnswerModel):
    """What the ``status`` query answers: where the call stands right now."""

    workflow_id: str
    phase: CallPhaseName
    attempt: int
    call_id: str | None = None
    retell_status: str | None = None
    to_number_masked: str | None = None
    events_seen: tuple[str, ...] = ()
    ignored_events: int = 0
    duplicate_events: int = 0
    waiting_until: datetime | None = None
    cancel_requested: bool = False
    outcome: CallOutcome | None = None
    # What holds the call before its dial, when something does (a contact limit, a pool).
    held_by: str | None = None

    @model_serializer(mode="wrap")
    def _as_1_0_when_unused(self, handler: SerializerFunctionWrapHandler) -> Any:
        return without_unused(handler(self), ("held_by",))


class OutcomeDelivery(FrozenModel):
    """The outcome-delivery activity's input: where to post which outcome."""

    url: str
    outcome: CallOutcome
