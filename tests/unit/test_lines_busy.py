"""bench/line_use.py: how busy calls kept the account's lines, from when each took a line and
gave it back (bench.lines_busy measures them at the simulator; here the arithmetic alone)."""

from __future__ import annotations

import pytest

from bench.line_use import (
    HandOver,
    Span,
    busy_within,
    line_use,
    mean_gap_by_round,
    peak_open,
    rounds,
    split_gaps,
    steps,
)


def test_lines_busy_throughout_are_a_ratio_of_one() -> None:
    # Two lines, each with two 1 s calls back to back.
    spans = [Span(0, 1000), Span(0, 1000), Span(1000, 2000), Span(1000, 2000)]
    use = line_use(spans, cap=2)
    assert use.busy_ratio == 1.0
    assert use.ideal_s == use.span_s == 2.0
    assert use.idle_s == 0.0
    assert [h.gap_ms for h in use.hand_overs] == [0.0, 0.0]


def test_the_idle_time_is_split_into_heads_hand_overs_and_tails() -> None:
    spans = [
        Span(0, 3000),  # line 1's first call
        Span(100, 3100),  # line 2 starts 100 ms late: a head
        Span(3200, 6200),  # 200 ms after the first end
        Span(3500, 5000),  # 400 ms after the second end, done early: a tail
    ]
    use = line_use(spans, cap=2)
    assert use.span_s == 6.2
    assert use.line_s == pytest.approx(10.5)
    assert use.head_idle_s == pytest.approx(0.1)
    assert use.hand_over_idle_s == pytest.approx(0.6)
    assert use.tail_idle_s == pytest.approx(1.2)
    # Everything the lines did not carry is in one of the three.
    assert use.idle_s == pytest.approx(use.cap * use.span_s - use.line_s)
    assert use.busy_ratio == pytest.approx(10.5 / 12.4)
    assert use.ideal_s == pytest.approx(5.25)
    assert use.mean_call_s == pytest.approx(2.625)


def test_each_create_takes_the_line_free_longest() -> None:
    # The second call ends first, so the third create is its hand-over, not the first's.
    spans = [Span(0, 2000), Span(0, 1000), Span(1500, 2500), Span(2100, 3000)]
    use = line_use(spans, cap=2)
    assert use.hand_overs == (HandOver(1, 2, 500.0), HandOver(0, 3, 100.0))
    assert use.tail_idle_s == pytest.approx(0.5)


def test_a_line_no_call_took_is_idle_from_the_start() -> None:
    use = line_use([Span(0, 1000)], cap=3)
    assert use.head_idle_s == pytest.approx(2.0)
    assert use.busy_ratio == pytest.approx(1 / 3)


def test_a_create_while_every_line_is_taken_is_over_the_cap() -> None:
    use = line_use([Span(0, 1000), Span(500, 1500), Span(1000, 2000)], cap=1)
    assert use.over_cap == 1
    assert use.peak_open == 2
    # A hang-up and a create in the same millisecond: the line was handed on, not shared.
    assert use.hand_overs == (HandOver(0, 2, 0.0),)


def test_peak_open_counts_an_end_and_a_create_at_once_as_a_hand_over() -> None:
    assert peak_open([Span(0, 10), Span(10, 20), Span(5, 15)]) == 2
    assert peak_open([Span(0, 10), Span(9, 20)]) == 2


def test_no_calls_or_no_lines_are_refused() -> None:
    with pytest.raises(ValueError, match="no calls"):
        line_use([], cap=1)
    with pytest.raises(ValueError, match="cap"):
        line_use([Span(0, 1)], cap=0)


def test_a_gap_splits_into_stages_whose_means_add_up_to_it() -> None:
    assert steps([0.0, 10.0, 15.0, 40.0]) == [10.0, 5.0, 25.0]
    split = split_gaps([[0, 10, 30], [0, 20, 40], [0, 60, 80]], ["first", "second"])
    assert split["first"] == {
        "mean": 30.0,
        "p50": 20.0,
        "p90": 60.0,
        "max": 60.0,
        "share_of_gap": 0.6,
    }
    assert split["second"]["mean"] == 20.0  # the mean gap is 50 ms
    assert sum(stage["share_of_gap"] for stage in split.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one moment more"):
        split_gaps([[0, 1]], ["first", "second"])


def test_hand_overs_come_in_rounds_of_the_cap() -> None:
    hand_overs = [HandOver(i, i + 2, gap) for i, gap in enumerate([100.0, 300.0, 50.0, 70.0, 10.0])]
    assert [len(chunk) for chunk in rounds(hand_overs, 2)] == [2, 2, 1]
    assert mean_gap_by_round(hand_overs, 2) == [200, 60, 10]
    assert mean_gap_by_round([], 2) == []


def test_a_window_of_the_run_counts_only_what_falls_in_it() -> None:
    spans = [Span(0, 1000), Span(500, 2000)]
    # 500..1500: the first call's last 500 ms, the second's first 1000, on 2 lines.
    assert busy_within(spans, 2, 500, 1500) == pytest.approx(0.75)
    assert busy_within(spans, 1, 2000, 3000) == 0.0
    with pytest.raises(ValueError, match="empty"):
        busy_within(spans, 2, 1000, 1000)
