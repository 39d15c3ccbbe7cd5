"""A report's figures, computed from the records ``campaign results`` writes its CSV from
(``cli/campaigns.py``: ``read_results``), so the two always agree. Pure: no I/O, no clock
(the moment the report is made is given), no chart.

Words as the rest of the product uses them: a contact is a CSV row (a call, or a bad row); a
dial is an attempt that placed a call at Retell; a dial is answered when a person picked up
(``calls/caller_id_health.py``: completed, callback_requested, do_not_call), and the answer
rate is answered dials over the dials that say something of the line (as ``numbers list``
counts a number's); a contact is reached when its call ended completed or returned_call
(``REACHED_STATUSES``, as ``campaign status``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calls.caller_id_health import ResultKind, result_kind
from outbound_calls_client.campaign import REACHED_STATUSES
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import AttemptRecord, CallRequest, OutcomeStatus
from outbound_calls_client.phone import normalize_e164, time_zones_for

if TYPE_CHECKING:
    from cli.campaigns import ResultRecord

# Bucket widths for "dials over time", the first that gives at most MAX_BUCKETS bars.
BUCKET_WIDTHS = tuple(
    timedelta(seconds=s)
    for s in (1, 5, 15, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
)
MAX_BUCKETS = 48
_REACHED = frozenset(s.value for s in REACHED_STATUSES)


@dataclass(frozen=True)
class Headline:
    """The figures at the top of the report."""

    contacts: int
    invalid_rows: int
    in_progress: int
    dialed: int  # contacts with at least one dial
    dials: int
    answered: int  # answered dials
    counted: int  # dials that say whether the line was answered (the answer rate's base)
    reached: int
    returned_calls: int
    do_not_call_learned: int  # asked on the call (a dial placed), not already listed
    talk_seconds: float

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.counted if self.counted else None


@dataclass(frozen=True)
class Rate:
    """Dials and answers of one bar: a local hour, a caller number."""

    label: str
    counted: int
    answered: int
    rested: bool = False

    @property
    def rate(self) -> float | None:
        return self.answered / self.counted if self.counted else None


@dataclass(frozen=True)
class OverTime:
    """Dials per time bucket, by how each ended (stacked bars)."""

    start: datetime | None
    width: timedelta
    series: dict[str, list[int]] = field(default_factory=dict)

    @property
    def buckets(self) -> int:
        return max((len(v) for v in self.series.values()), default=0)


@dataclass(frozen=True)
class Figures:
    headline: Headline
    counts: dict[str, int]  # contacts per CSV status
    over_time: OverTime
    by_local_hour: tuple[Rate, ...]  # 24, hour 0 first
    by_caller: tuple[Rate, ...]
    attempts_per_contact: dict[int, int]
    talk_seconds: tuple[float, ...]  # one per dial with talk time


@dataclass(frozen=True)
class _Dial:
    attempt: AttemptRecord
    from_number: str | None
    zone: ZoneInfo | None


def callee_zone(request: CallRequest | None) -> ZoneInfo | None:
    """The zone the callee's local hour is read in: the request's window's, else the first
    its number may ring in."""
    if request is None:
        return None
    name = request.calling_window.time_zone
    if name is None:
        try:
            zones = time_zones_for(normalize_e164("to_number", request.to_number))
        except InvalidCallRequest:
            return None
        name = zones[0] if zones else None
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _dials(record: ResultRecord) -> list[_Dial]:
    outcome = record.outcome
    if outcome is None:
        return []
    zone = callee_zone(record.request)
    own = record.request.from_number if record.request else None
    last = record.row.get("from_number")
    dials: list[_Dial] = []
    for attempt in outcome.attempts:
        if attempt.call_id is None:
            continue
        # The CSV's number is the last attempt's; earlier ones name their own pick.
        number = attempt.from_number or (last if attempt is outcome.attempts[-1] else own)
        dials.append(_Dial(attempt, number or own, zone))
    return dials


def _counts_as(attempt: AttemptRecord) -> ResultKind | None:
    return result_kind(attempt.status, attempt.disconnection_reason)


def _rate(label: str, kinds: Iterable[ResultKind | None], rested: bool = False) -> Rate:
    counted = [k for k in kinds if k is not None]
    answered = sum(k is ResultKind.ANSWERED for k in counted)
    return Rate(label, len(counted), answered, rested)


def _when(attempt: AttemptRecord) -> datetime | None:
    return attempt.dialed_at or attempt.started_at or attempt.ended_at


def _over_time(dials: Sequence[_Dial]) -> OverTime:
    timed = [(when, d.attempt.status.value) for d in dials if (when := _when(d.attempt))]
    if not timed:
        return OverTime(None, BUCKET_WIDTHS[0])
    first = min(w for w, _ in timed)
    span = max(w for w, _ in timed) - first
    width = next((w for w in BUCKET_WIDTHS if span / w < MAX_BUCKETS), BUCKET_WIDTHS[-1])
    # Buckets start on a multiple of their width (UTC), so their labels read as times.
    epoch = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday: week buckets start on Mondays
    start = epoch + ((first - epoch) // width) * width
    size = int((max(w for w, _ in timed) - start) // width) + 1
    series: dict[str, list[int]] = {}
    for when, status in timed:
        series.setdefault(status, [0] * size)[int((when - start) // width)] += 1
    return OverTime(start, width, dict(sorted(series.items())))


def compute(
    records: Sequence[ResultRecord],
    *,
    rested: Mapping[str, bool] | None = None,
    label_number: Any = None,
) -> Figures:
    """The figures of ``records``. ``rested``: our numbers resting now (the health table's);
    ``label_number``: how a caller number is shown (masked unless asked otherwise)."""
    rested = rested or {}
    label = label_number or (lambda number: number)
    rows = [r.row for r in records]
    counts = Counter(str(row.get("status")) for row in rows)
    dials = [d for r in records for d in _dials(r)]
    talk = tuple(
        d.attempt.duration_ms / 1000
        for d in dials
        if d.attempt.duration_ms  # 0: no talk
    )
    kinds = [_counts_as(d.attempt) for d in dials]
    answered = sum(k is ResultKind.ANSWERED for k in kinds)
    headline = Headline(
        contacts=len(rows),
        invalid_rows=counts["invalid_row"],
        in_progress=counts["in_progress"],
        dialed=sum(1 for r in records if _dials(r)),
        dials=len(dials),
        answered=answered,
        counted=sum(k is not None for k in kinds),
        reached=sum(n for status, n in counts.items() if status in _REACHED),
        returned_calls=counts[OutcomeStatus.RETURNED_CALL.value],
        do_not_call_learned=sum(
            1
            for row in rows
            if row.get("status") == OutcomeStatus.DO_NOT_CALL.value and row.get("call_id")
        ),
        talk_seconds=sum(talk),
    )
    hours: dict[int, list[ResultKind | None]] = {h: [] for h in range(24)}
    for dial, kind in zip(dials, kinds, strict=True):
        when = _when(dial.attempt)
        if when is not None and dial.zone is not None:
            hours[when.astimezone(dial.zone).hour].append(kind)
    callers: dict[str, list[ResultKind | None]] = {}
    for dial, kind in zip(dials, kinds, strict=True):
        callers.setdefault(dial.from_number or "unknown", []).append(kind)
    attempts = Counter(
        int(row["attempts"]) if row.get("attempts") is not None else 0
        for row in rows
        if row.get("status") not in ("invalid_row", "in_progress", "failed")
    )
    return Figures(
        headline=headline,
        counts=dict(sorted(counts.items())),
        over_time=_over_time(dials),
        by_local_hour=tuple(_rate(f"{h:02d}", hours[h]) for h in range(24)),
        by_caller=tuple(
            _rate(label(number), found, rested.get(number, False))
            for number, found in sorted(callers.items())
        ),
        attempts_per_contact=dict(sorted(attempts.items())),
        talk_seconds=talk,
    )
