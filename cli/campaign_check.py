"""``campaign check``: what a campaign would do with a contacts file, found without placing a
call or starting a workflow. Each row goes through the steps a call goes through before its
first dial, in their order, against the stores the workers read (docs/campaigns.md, "A dry
run before a campaign"):

    the parser (a bad row) → the validation activity (a request refused) → the do-not-call
    list and its registry sources → the calling window and the callee's regional rule (now)
    → the caller-ID pool (a usable number now) → CONTACT_LIMITS (the contact log)

The first step that stops a row says what happens to it: ``refused`` (the campaign's
results show it ``invalid_row``, ``rejected`` or ``do_not_call``), ``held`` (its call would
wait, and how long is known or guessed), or ``called`` now. Rows are judged in file order,
as the campaign starts them: a row that would be called counts as a contact of its number
for the rows after it, and takes its pool number's daily cap.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from adapters.caller_ids import CallerIdStore, PoolNumber, PoolRow, choose, none_usable
from adapters.contact_log import ContactLog, horizon
from adapters.do_not_call import ExplainedDoNotCallList, Listings
from adapters.request_check import RequestCheck
from calls.contact_limits import ContactLimit, first_allowed
from outbound_calls_client.calling_window import (
    describe,
    describe_rule,
    held_by_rule,
    next_allowed_time_with,
)
from outbound_calls_client.contacts import MAX_BAD_ROWS_LISTED, BadRow, Contact
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallRequest, ValidatedCall

Outcome = Literal["called", "refused", "held"]
OUTCOMES: tuple[Outcome, ...] = ("called", "refused", "held")
# Rows listed one by one (refused and held each); every row is counted.
MAX_ROWS_LISTED = MAX_BAD_ROWS_LISTED
# Store lookups of one batch of rows run at once, this many at a time.
LOOKUPS_AT_ONCE = 16


@dataclass(frozen=True)
class Verdict:
    """What happens to one row: ``reason`` and ``group`` are what it is counted under (a
    bad row's field and rule, a registry source, a region, a pool, a limit), ``detail``
    the row's own words."""

    outcome: Outcome
    reason: str
    group: str = ""
    detail: str = ""
    # Refused: the status ``campaign results`` shows for the row.
    ends: str | None = None
    # Held: the first moment it may be dialed, as far as is known now.
    until: datetime | None = None


CALLED = Verdict("called", "called")


@dataclass(frozen=True)
class RowVerdict:
    row: int
    verdict: Verdict


@dataclass
class CheckReport:
    records: int = 0
    counts: Counter[tuple[Outcome, str, str]] = field(default_factory=Counter)
    ends: dict[tuple[Outcome, str, str], str | None] = field(default_factory=dict)
    listed: dict[Outcome, list[RowVerdict]] = field(
        default_factory=lambda: {"refused": [], "held": []}
    )

    def add(self, row: int, verdict: Verdict) -> None:
        self.records += 1
        key = (verdict.outcome, verdict.reason, verdict.group)
        self.counts[key] += 1
        self.ends[key] = verdict.ends
        shown = self.listed.get(verdict.outcome)
        if shown is not None and len(shown) < MAX_ROWS_LISTED:
            shown.append(RowVerdict(row, verdict))

    def total(self, outcome: Outcome) -> int:
        return sum(n for (o, _, _), n in self.counts.items() if o == outcome)


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def hours_hold(now: datetime, validated: ValidatedCall, request: CallRequest) -> Verdict | None:
    """Held by the calling window or the callee's regional rule right now, as the attempt's
    wait for calling hours decides (workflows/call_attempt.py); None: inside both."""
    window = request.calling_window
    zones = validated.time_zones
    rule = validated.regional_rule
    opens = next_allowed_time_with(now, zones, window, rule)
    if opens <= now:
        return None
    where = ", ".join(zones)
    if rule is not None and held_by_rule(now, zones, window, rule):
        return Verdict(
            "held",
            "regional_rule",
            rule.region,
            f"regional rule {describe_rule(rule)} (in {where}); opens at {_at(opens)}",
            until=opens,
        )
    return Verdict(
        "held",
        "outside_hours",
        describe(window),
        f"outside calling hours now ({describe(window)} in {where}); opens at {_at(opens)}",
        until=opens,
    )


def _refused_request(err: InvalidCallRequest) -> Verdict:
    name = f"{err.field} (rule: {err.rule})"
    return Verdict("refused", "invalid_request", name, str(err), ends="rejected")


def _bad_row(bad: BadRow) -> Verdict:
    rule = f"(rule: {bad.rule})"
    # A request's own refusal already names its field and rule.
    said = bad.message if rule in bad.message else f"{bad.field}: {bad.message} {rule}"
    return Verdict("refused", "bad_row", f"{bad.field} {rule}", said, ends="invalid_row")


def _listed(found: Listings) -> Verdict:
    where = (["our list"] if found.ours else []) + [f"source {s}" for s in found.sources]
    text = ", ".join(where)
    return Verdict(
        "refused", "do_not_call", text, f"on the do-not-call list ({text})", ends="do_not_call"
    )


async def _at_most(limit: asyncio.Semaphore, work: Awaitable[object]) -> None:
    async with limit:
        await work


class CampaignCheck:
    """Judges rows in file order: ``await check.rows(batch)`` for each batch, then
    ``check.report``. ``now`` is one moment for every row; the stores are only read."""

    def __init__(
        self,
        *,
        now: datetime,
        validation: RequestCheck,
        do_not_call: ExplainedDoNotCallList,
        caller_ids: CallerIdStore,
        contact_log: ContactLog | None,
        limits: Sequence[ContactLimit],
    ) -> None:
        self._now = now
        self._validation = validation
        self._do_not_call = do_not_call
        self._caller_ids = caller_ids
        self._log = contact_log
        self._limits = tuple(limits) if contact_log is not None else ()
        self.report = CheckReport()
        self._pools: dict[str, list[PoolNumber]] = {}
        # Picks this check made, per pool number: the rows before take today's cap too.
        self._picked: Counter[str] = Counter()
        # Contacts the rows judged so far would make, per number key.
        self._planned: dict[str, list[datetime]] = {}

    async def rows(self, batch: Iterable[Contact | BadRow]) -> None:
        judged: list[tuple[int, CallRequest | None, ValidatedCall | Verdict]] = []
        for found in batch:
            if isinstance(found, BadRow):
                judged.append((found.row, None, _bad_row(found)))
            else:
                judged.append((found.row, found.request, await self._validate(found.request)))
        good = [v for _, _, v in judged if isinstance(v, ValidatedCall)]
        listings, recent = await self._look_up(good)
        for row, request, checked in judged:
            if isinstance(checked, ValidatedCall):
                assert request is not None
                checked = await self._judge(request, checked, listings, recent)
            self.report.add(row, checked)

    async def _validate(self, request: CallRequest) -> ValidatedCall | Verdict:
        # The worker's own validation activity: its rules, its outcome URL policy, the
        # callee's regional rule and the number's keyed hash (recorded for the workflow).
        try:
            return await self._validation.validated(request)
        except InvalidCallRequest as err:
            return _refused_request(err)

    async def _look_up(
        self, calls: Sequence[ValidatedCall]
    ) -> tuple[dict[str, Listings], dict[str, list[datetime]]]:
        """The batch's numbers on the do-not-call list and their recent contacts, at once."""
        listings: dict[str, Listings] = {}
        recent: dict[str, list[datetime]] = {}
        limit = asyncio.Semaphore(LOOKUPS_AT_ONCE)

        async def listed(number: str) -> None:
            listings[number] = await self._do_not_call.listings(number)

        async def contacted(key: str, log: ContactLog) -> None:
            recent[key] = await log.recent(key, horizon(self._limits, self._now))

        work: list[Awaitable[None]] = [listed(n) for n in {c.to_number for c in calls}]
        if self._log is not None and self._limits:
            keys = {c.to_number_hash for c in calls if c.to_number_hash is not None}
            work += [contacted(key, self._log) for key in keys]
        await asyncio.gather(*(_at_most(limit, w) for w in work))
        return listings, recent

    async def _judge(
        self,
        request: CallRequest,
        validated: ValidatedCall,
        listings: dict[str, Listings],
        recent: dict[str, list[datetime]],
    ) -> Verdict:
        found = listings[validated.to_number]
        if found.listed:
            return _listed(found)
        return (
            hours_hold(self._now, validated, request)
            or await self._pool_hold(request, validated)
            or self._contact_hold(request, validated, recent)
            or CALLED
        )

    async def _pool_hold(self, request: CallRequest, validated: ValidatedCall) -> Verdict | None:
        """The pick an attempt would make (adapters/caller_ids.py ``choose``), the picks of
        the rows before counted against each number's daily cap."""
        pool = request.caller_id_pool
        if pool is None:
            return None
        if pool not in self._pools:
            self._pools[pool] = await self._caller_ids.numbers(pool, self._now)
        numbers = self._pools[pool]
        if not numbers:
            return Verdict(
                "refused",
                "empty_pool",
                pool,
                f"caller_id_pool {pool!r} has no numbers (outbound-calls numbers add NUMBER "
                f"--pool {pool})",
                ends="rejected",
            )
        rows = [
            PoolRow(n.number, n.used_today + self._picked[n.number], n.daily_cap, n.rested_until)
            for n in numbers
        ]
        best = choose(rows, validated.to_number, self._now)
        if best:
            self._picked[best[0]] += 1
            return None
        back = none_usable(rows, self._now).next_usable_at
        return Verdict(
            "held",
            "caller_id_pool",
            pool,
            f"caller_id_pool {pool!r} has no usable number now ({len(rows)} rested or at their "
            "daily cap)" + (f"; one may be usable at {_at(back)}" if back else ""),
            until=back,
        )

    def _contact_hold(
        self, request: CallRequest, validated: ValidatedCall, recent: dict[str, list[datetime]]
    ) -> Verdict | None:
        """CONTACT_LIMITS as a claim would judge them, with the rows before that would be
        called counted as contacts now; a row allowed counts as one for the rows after."""
        key = validated.to_number_hash
        if not self._limits or key is None:
            return None
        planned = self._planned.setdefault(key, [])
        at, holding = first_allowed([*recent.get(key, ()), *planned], self._limits, self._now)
        if holding is None:
            planned.append(self._now)
            return None
        longest = request.timeouts.max_hold
        if longest is not None and at > self._now + longest:
            return Verdict(
                "refused",
                "contact_limit",
                str(holding),
                f"contact limit {holding} (CONTACT_LIMITS): may next be called at "
                f"{_at(at)}, past timeouts.max_hold_s",
                ends="rejected",
            )
        return Verdict(
            "held",
            "contact_limit",
            str(holding),
            f"contact limit {holding} (CONTACT_LIMITS) reached: may next be called at {_at(at)}",
            until=at,
        )


# ----- the report as a document (cli/output.py) ----------------------------------------------

REASON_COLUMNS = ("outcome", "reason", "detail", "ends", "count", "rows")
# Rows the command's notes name one by one (the document lists MAX_ROWS_LISTED).
NOTED_ROWS = 20


def _reasons(report: CheckReport) -> list[dict[str, object]]:
    """One line per outcome and reason: its count, and its rows among those listed."""
    lines: list[dict[str, object]] = []
    for outcome in OUTCOMES:
        keys = sorted(
            (k for k in report.counts if k[0] == outcome),
            key=lambda k: (-report.counts[k], k[1], k[2]),
        )
        for key in keys:
            _, reason, group = key
            shown = report.listed.get(outcome, [])
            lines.append(
                {
                    "outcome": outcome,
                    "reason": reason,
                    "detail": group or None,
                    "ends": report.ends[key],
                    "count": report.counts[key],
                    "rows": [
                        r.row
                        for r in shown
                        if (r.verdict.reason, r.verdict.group) == (reason, group)
                    ],
                }
            )
    return lines


def report_data(
    report: CheckReport, *, file: str, checked_at: datetime, contact_limits: str
) -> dict[str, object]:
    """What ``-o json`` prints: the counts, per reason, and the first rows refused and held."""
    return {
        "file": file,
        "checked_at": checked_at.isoformat(),
        "contact_limits": contact_limits,
        "records": report.records,
        **{outcome: report.total(outcome) for outcome in OUTCOMES},
        "reasons": _reasons(report),
        "refused_rows": [
            {"row": r.row, "reason": r.verdict.reason, "detail": r.verdict.detail,
             "ends": r.verdict.ends}
            for r in report.listed["refused"]
        ],
        "held_rows": [
            {"row": r.row, "reason": r.verdict.reason, "detail": r.verdict.detail,
             "until": r.verdict.until.isoformat() if r.verdict.until else None}
            for r in report.listed["held"]
        ],
    }  # fmt: skip


def report_notes(report: CheckReport) -> list[str]:
    """The lines for stderr: the summary, then the first refused and held rows."""
    notes = [
        f"{report.records} row(s): {report.total('called')} would be called now, "
        f"{report.total('refused')} refused, {report.total('held')} held"
    ]
    for outcome in ("refused", "held"):
        shown = report.listed[outcome]
        for r in shown[:NOTED_ROWS]:
            notes.append(f"row {r.row}: {outcome} ({r.verdict.reason}): {r.verdict.detail}")
        if report.total(outcome) > NOTED_ROWS:
            notes.append(
                f"... {report.total(outcome) - NOTED_ROWS} more {outcome} row(s); -o json lists "
                f"the first {MAX_ROWS_LISTED}"
            )
    return notes
