"""How busy calls kept the account's lines, from when each call took a line (its create
reached Retell) and gave it back (its hang-up): the arithmetic of ``bench.lines_busy``, pure
(no clock, no I/O), so that tests/unit/test_lines_busy.py can check it.

The account has ``cap`` lines. Over the run (first create → last hang-up) each line is either
busy with a call or idle, so ``cap x span = line-seconds + idle``, and the idle time falls in
three places: a line's *head* (the run began, its first call's create had not come yet),
*hand-overs* (a call ended, the next create on that line had not come yet) and its *tail*
(its last call ended, another line's call still runs). Calls are put on lines as the slot
pool hands them on: each create takes the line free longest, so the n-th hand-over pairs the
n-th hang-up (of the calls followed by another) with the n-th create past the first ``cap``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.common import percentile


@dataclass(frozen=True)
class Span:
    """One call on a line, in milliseconds of the same clock."""

    start_ms: float
    end_ms: float


@dataclass(frozen=True)
class HandOver:
    """A line handed on: call ``freed_by`` hung up, ``gap_ms`` later call ``taken_by``'s
    create came in (indexes into the spans given)."""

    freed_by: int
    taken_by: int
    gap_ms: float


@dataclass(frozen=True)
class LineUse:
    cap: int
    calls: int
    line_s: float
    span_s: float
    head_idle_s: float
    hand_over_idle_s: float
    tail_idle_s: float
    # Creates that came while every line was taken: the cap broken at Retell (must be 0;
    # such a call's time is then in line_s but on no line of the idle accounting).
    over_cap: int
    peak_open: int
    hand_overs: tuple[HandOver, ...]

    @property
    def busy_ratio(self) -> float:
        """Line-seconds used / (cap x first create → last hang-up)."""
        return self.line_s / (self.cap * self.span_s) if self.span_s > 0 else 0.0

    @property
    def mean_call_s(self) -> float:
        return self.line_s / self.calls

    @property
    def ideal_s(self) -> float:
        """The run's length had every line been busy throughout: calls x mean call / cap."""
        return self.line_s / self.cap

    @property
    def idle_s(self) -> float:
        return self.head_idle_s + self.hand_over_idle_s + self.tail_idle_s


def peak_open(spans: Iterable[Span]) -> int:
    """The most calls open at once; an end and a create at the same moment do not overlap."""
    edges = sorted(
        edge for span in spans for edge in ((span.start_ms, 1), (span.end_ms, -1))
    )  # (t, -1) sorts before (t, 1): the line handed on first
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


def line_use(spans: Sequence[Span], cap: int) -> LineUse:
    if not spans:
        raise ValueError("no calls")
    if cap < 1:
        raise ValueError(f"cap must be at least 1, got {cap}")
    first = min(span.start_ms for span in spans)
    last = max(span.end_ms for span in spans)
    # (free since, the call that freed it; -1: none yet, the run's start)
    lines: list[tuple[float, int]] = [(first, -1)] * cap
    head = hand_over = 0.0
    over_cap = 0
    hand_overs: list[HandOver] = []
    for index in sorted(range(len(spans)), key=lambda i: (spans[i].start_ms, i)):
        span = spans[index]
        if lines[0][0] > span.start_ms:
            over_cap += 1
            continue
        free_since, freed_by = heapq.heappop(lines)
        idle = span.start_ms - free_since
        if freed_by < 0:
            head += idle
        else:
            hand_over += idle
            hand_overs.append(HandOver(freed_by, index, idle))
        heapq.heappush(lines, (span.end_ms, index))
    tail = 0.0
    for free_since, freed_by in lines:
        if freed_by < 0:  # a line no call took: idle from the start
            head += last - free_since
        else:
            tail += last - free_since
    return LineUse(
        cap=cap,
        calls=len(spans),
        line_s=sum(span.end_ms - span.start_ms for span in spans) / 1000,
        span_s=(last - first) / 1000,
        head_idle_s=head / 1000,
        hand_over_idle_s=hand_over / 1000,
        tail_idle_s=tail / 1000,
        over_cap=over_cap,
        peak_open=peak_open(spans),
        hand_overs=tuple(hand_overs),
    )


def steps(chain: Sequence[float]) -> list[float]:
    """The time between each moment of a hand-over and the next: the parts of its gap (they
    add up to ``chain[-1] - chain[0]``)."""
    return [later - earlier for earlier, later in itertools.pairwise(chain)]


def distribution(values: Sequence[float]) -> dict[str, float]:
    """Mean, median, p90 and max, rounded to 0.1 (milliseconds here); zeros for none."""
    mean = sum(values) / len(values) if values else 0.0
    return {
        "mean": round(mean, 1),
        "p50": round(percentile(values, 50), 1),
        "p90": round(percentile(values, 90), 1),
        "max": round(max(values, default=0.0), 1),
    }


def split_gaps(
    chains: Sequence[Sequence[float]], stage_names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Each stage's distribution over the hand-overs, and its share of the mean gap (the
    means add up to the mean gap, the medians need not)."""
    if any(len(chain) != len(stage_names) + 1 for chain in chains):
        raise ValueError("each chain needs one moment more than there are stages")
    parts = [steps(chain) for chain in chains]
    mean_gap = sum(chain[-1] - chain[0] for chain in chains) / len(chains) if chains else 0.0
    split: dict[str, dict[str, float]] = {}
    for position, name in enumerate(stage_names):
        figures = distribution([part[position] for part in parts])
        share = figures["mean"] / mean_gap if mean_gap else 0.0
        split[name] = {**figures, "share_of_gap": round(share, 3)}
    return split


def busy_within(spans: Iterable[Span], cap: int, start_ms: float, end_ms: float) -> float:
    """The busy ratio of a window of the run: line-seconds used within it / (cap x its
    length)."""
    if end_ms <= start_ms:
        raise ValueError("an empty window")
    used = sum(max(0.0, min(span.end_ms, end_ms) - max(span.start_ms, start_ms)) for span in spans)
    return used / (cap * (end_ms - start_ms))


def rounds(hand_overs: Sequence[HandOver], cap: int) -> list[tuple[HandOver, ...]]:
    """The hand-overs ``cap`` at a time, in the order their creates came: round 1 hands on
    the first calls' lines, and so on (``line_use`` lists them in that order)."""
    return [tuple(hand_overs[i : i + cap]) for i in range(0, len(hand_overs), cap)]


def mean_gap_by_round(hand_overs: Sequence[HandOver], cap: int) -> list[float]:
    """Each round's mean gap (ms, to 1): where in the run the hand-overs were slow."""
    return [round(sum(h.gap_ms for h in chunk) / len(chunk)) for chunk in rounds(hand_overs, cap)]
