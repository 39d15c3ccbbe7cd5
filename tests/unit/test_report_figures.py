"""The report's pure parts: its figures from result records (the words as the product uses
them), how our numbers are shown, the period option, and the page and charts being one
file with nothing from outside, even with nothing to draw yet."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from cli.campaigns import ResultRecord
from cli.report_figures import callee_zone, compute
from cli.report_page import PageInfo, render
from cli.reports import caller_labels, parse_since, period_query
from outbound_calls_client.models import (
    AttemptRecord,
    CallingWindow,
    CallOutcome,
    CallRequest,
    OutcomeStatus,
)

T0 = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)  # 09:00 in San Francisco, 12:00 in New York


def _record(
    row: int,
    to: str,
    *attempts: tuple[OutcomeStatus, int, str | None],
    status: OutcomeStatus | None = None,
    from_number: str = "+12125550199",
) -> ResultRecord:
    made = tuple(
        AttemptRecord(
            attempt=n,
            idempotency_key=f"k{row}-{n}",
            call_id=None if s is OutcomeStatus.REJECTED else f"call-{row}-{n}",
            status=s,
            dialed_at=T0 + timedelta(minutes=minutes),
            duration_ms=5000 if s is OutcomeStatus.COMPLETED else 0,
            from_number=picked,
        )
        for n, (s, minutes, picked) in enumerate(attempts, 1)
    )
    final = status or made[-1].status
    outcome = CallOutcome(
        workflow_id=f"w{row}", status=final, call_id=made[-1].call_id, attempts=made
    )
    csv_row = {
        "row": row,
        "status": final.value,
        "call_id": outcome.call_id,
        "attempts": len(made),
        "from_number": made[-1].from_number or from_number,
    }
    return ResultRecord(csv_row, outcome, CallRequest(to_number=to, from_number=from_number))


S = OutcomeStatus
RECORDS = [
    _record(2, "+14155550123", (S.COMPLETED, 0, None)),
    _record(3, "+14155550124", (S.NO_ANSWER, 0, None), (S.COMPLETED, 70, None)),
    _record(4, "+12125550125", (S.DO_NOT_CALL, 1, None)),
    _record(5, "+12125550126", (S.BUSY, 2, None)),
    _record(6, "+12125550127", (S.NO_ANSWER, 3, None), status=S.RETURNED_CALL),
    ResultRecord({"row": 7, "status": "invalid_row"}),
]


def test_the_figures_use_the_products_words() -> None:
    figures = compute(RECORDS)
    head = figures.headline
    assert head.contacts == 6
    assert head.invalid_rows == 1
    assert head.dialed == 5
    assert head.dials == 6
    # A person picked up: completed twice, do_not_call once; not busy or no_answer.
    assert (head.answered, head.counted) == (3, 6)
    assert head.answer_rate == 0.5
    assert head.reached == 3  # completed twice, returned_call once
    assert head.returned_calls == 1
    assert head.do_not_call_learned == 1
    assert head.talk_seconds == 10.0
    assert figures.attempts_per_contact == {1: 4, 2: 1}
    assert figures.talk_seconds == (5.0, 5.0)


def test_the_local_hour_is_the_callees() -> None:
    hours = {r.label: (r.counted, r.answered) for r in compute(RECORDS).by_local_hour if r.counted}
    # San Francisco: 09:00 and 10:10 (the redial); New York: 12:01 to 12:03.
    assert hours == {"09": (2, 1), "10": (1, 1), "12": (3, 1)}
    window = CallRequest(
        to_number="+14155550123",
        from_number="+12125550199",
        calling_window=CallingWindow(time_zone="Europe/Paris"),
    )
    zone = callee_zone(window)
    assert zone is not None
    assert zone.key == "Europe/Paris"  # the request's own zone wins


def test_over_time_buckets_fit_the_span() -> None:
    found = compute(RECORDS).over_time
    assert found.width == timedelta(minutes=5)  # 70 minutes in at most 48 bars
    assert found.start == T0
    assert sum(sum(v) for v in found.series.values()) == 6
    assert found.series["completed"][0] == 1
    assert found.series["completed"][14] == 1


def test_each_dial_is_counted_for_the_number_it_went_out_from() -> None:
    pool = [
        _record(2, "+14155550123", (OutcomeStatus.NO_ANSWER, 0, "+14155550100"),
                (OutcomeStatus.COMPLETED, 60, "+14155550199")),
    ]  # fmt: skip
    rates = {r.label: (r.counted, r.answered, r.rested) for r in compute(
        pool, rested={"+14155550100": True}).by_caller}  # fmt: skip
    assert rates == {"+14155550100": (1, 0, True), "+14155550199": (1, 1, False)}


def test_our_numbers_are_masked_and_still_told_apart() -> None:
    numbers = {"+14155550100", "+12125550100", "+13125550142"}
    assert caller_labels(numbers, show_numbers=False) == {
        "+12125550100": "+1********00 #1",
        "+14155550100": "+1********00 #2",
        "+13125550142": "+1********42",
    }
    assert caller_labels(numbers, show_numbers=True) == {n: n for n in numbers}


@pytest.mark.parametrize(
    ("raw", "length"),
    [("30m", timedelta(minutes=30)), ("12h", timedelta(hours=12)), ("7d", timedelta(days=7)),
     ("2w", timedelta(days=14))],
)  # fmt: skip
def test_since(raw: str, length: timedelta) -> None:
    assert parse_since(raw) == length


@pytest.mark.parametrize("raw", ["", "7", "0d", "1y", "-3d", "400d"])
def test_since_refuses(raw: str) -> None:
    with pytest.raises(ValueError, match="--since"):
        parse_since(raw)


@pytest.mark.parametrize("records", [RECORDS, []], ids=["calls", "nothing yet"])
def test_the_page_is_one_file(records: list[ResultRecord]) -> None:
    from cli.report_charts import charts, svg_of

    figures = compute(records)
    drawn = charts(figures)
    svgs = [(c.name, c.title, svg_of(c, f"c{i}")) for i, c in enumerate(drawn)]
    info = PageInfo("Campaign t", "campaign t", T0, partial="still running")
    page = render(info, figures, svgs, health=[])
    assert page.count("<svg ") == 5
    for outside in ("http:", "https:", "//", "src=", "@import", "<script", "<link"):
        assert outside not in page, outside
    ids = re.findall(r'id="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "two charts share an id"
    for reference in re.findall(r'(?:href="|url\()#([^")]+)', page):
        assert reference in ids, reference
    assert 'data-partial="yes"' in page


def test_a_period_is_the_calls_of_one_task_queue() -> None:
    # Another deployment sharing the namespace has calls this command cannot decrypt.
    query = period_query(datetime(2026, 12, 7, tzinfo=UTC), "calls-eu")
    assert 'TaskQueue = "calls-eu"' in query
    assert 'WorkflowType = "OutboundCallWorkflow"' in query
    assert 'StartTime >= "2026-12-07T00:00:00+00:00"' in query
