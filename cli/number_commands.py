"""The ``numbers`` commands: caller-ID pools, the account's numbers a call may dial from
(add, list, remove, rest, restore). Stored with the do-not-call list (DNC_DATABASE_URL,
else DO_NOT_CALL_DB), so every worker picks from the same pools and counts.

Our own numbers are shown in clear: they are the account's, not a callee's
(docs/privacy.md), and an operator must see which one to rest.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from adapters.caller_id_store import open_caller_id_store
from adapters.caller_ids import CallerIdStore
from cli.command import (
    OutputOption,
    Session,
    bad_input,
    help_text,
    number_argument,
    run_step,
    worker_settings,
)
from cli.failures import CliError
from cli.number_rows import COLUMNS, number_rows
from cli.output import Document, OutputFormat, emit, note
from outbound_calls_client.bounds import check_pool_name
from outbound_calls_client.errors import InvalidCallRequest

app = typer.Typer(
    help="Caller-ID pools: the numbers calls dial from (add, list, remove, rest, restore).",
    no_args_is_help=True,
    epilog=help_text(
        "outbound-calls numbers add +14155550100 --pool sales --daily-cap 100",
        "outbound-calls numbers list --pool sales -o csv",
    ),
)

CODES = "Exit codes:\n0 done\n1 could not do it (e.g. not in any pool)\n2 bad input"
Number = Annotated[str, typer.Argument(help="one of your Retell numbers, E.164 (+14155550100)")]
_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A rest is a pause, not a removal: beyond a month, remove the number instead.
MAX_REST = timedelta(days=30)


def _store() -> AbstractAsyncContextManager[CallerIdStore]:
    return open_caller_id_store(worker_settings())


def _change(e164: str, change: Callable[[CallerIdStore], Awaitable[bool]], done: str) -> None:
    """Change one number of the store; ``change`` answers False when no pool has it."""

    async def step(session: Session) -> int:
        async with _store() as store:
            if not await change(store):
                raise CliError(f"{e164} is in no caller-ID pool")
        note(done)
        return 0

    run_step(step)


def _pool(raw: str) -> str:
    try:
        return check_pool_name("--pool", raw)
    except InvalidCallRequest as exc:
        bad_input(str(exc))


def parse_duration(raw: str) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``2d``: one number and one unit, at most 30 days."""
    match = _DURATION.fullmatch(raw.strip())
    if match is None or int(match.group(1)) == 0:
        bad_input(f"--for: {raw!r} is not a duration like 30m, 12h or 2d (rule: duration)")
    length = timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])
    if length > MAX_REST:
        bad_input(f"--for: at most {MAX_REST.days}d; remove the number instead (rule: max)")
    return length


@app.command("add", epilog=help_text("outbound-calls numbers add +14155550100 --pool sales"))
def numbers_add(
    number: Number,
    pool: Annotated[str, typer.Option(help="the pool's name (calls name it: --from-pool)")],
    daily_cap: Annotated[
        int | None, typer.Option(min=1, help="at most this many calls a day (UTC), all workers")
    ] = None,
) -> None:
    """Put a number in a pool (or move it, with its new cap: a number is in one pool)."""
    e164, name = number_argument(number), _pool(pool)

    async def step(session: Session) -> int:
        async with _store() as store:
            await store.add(e164, name, daily_cap)
        cap = f", at most {daily_cap} calls a day" if daily_cap else ""
        note(f"{e164} is in pool {name}{cap}")
        return 0

    run_step(step)


@app.command(
    "list", epilog=help_text("outbound-calls numbers list --pool sales -o json", codes=CODES)
)
def numbers_list(
    pool: Annotated[str | None, typer.Option(help="only this pool")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """The pools' numbers: cap, calls today, calls and answers in all, and whether (until
    when, why) each is rested: by hand, or by itself when Retell marked it as spam, it failed
    to dial several times in a row, or people answer it far less than the rest of its pool."""
    name = _pool(pool) if pool is not None else None

    async def step(session: Session) -> int:
        now = datetime.now(UTC)
        async with _store() as store:
            numbers = await store.numbers(name, now)
        rows = number_rows(numbers, now)
        emit(Document(data=rows, rows=rows, columns=COLUMNS), output)
        note(f"{len(rows)} number(s)" + (f" in pool {name}" if name else ""))
        return 0

    run_step(step)


@app.command("remove", epilog=help_text("outbound-calls numbers remove +14155550100", codes=CODES))
def numbers_remove(number: Number) -> None:
    """Take a number out of its pool: no call picks it again."""
    e164 = number_argument(number)
    _change(e164, lambda store: store.remove(e164), f"{e164} removed from its pool")


@app.command(
    "rest", epilog=help_text("outbound-calls numbers rest +14155550100 --for 2d", codes=CODES)
)
def numbers_rest(
    number: Number,
    for_: Annotated[
        str, typer.Option("--for", help="how long: 30m, 12h, 2d (at most 30d)")
    ] = "24h",
    reason: Annotated[
        str, typer.Option(help="why (shown by numbers list)")
    ] = "rested from the CLI",
) -> None:
    """Stop picking a number for a while (a carrier labels it spam, say); it comes back then."""
    e164, length = number_argument(number), parse_duration(for_)

    until = datetime.now(UTC) + length
    done = f"{e164} rested until {until.isoformat(timespec='seconds')}"
    _change(e164, lambda store: store.rest(e164, until, reason), done)


@app.command(
    "restore", epilog=help_text("outbound-calls numbers restore +14155550100", codes=CODES)
)
def numbers_restore(number: Number) -> None:
    """End a number's rest now: calls pick it again."""
    e164 = number_argument(number)
    _change(e164, lambda store: store.restore(e164), f"{e164} restored: calls pick it again")
