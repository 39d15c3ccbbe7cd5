"""The ``dnc`` commands: the do-not-call list the workers check (list, add, remove)."""

from __future__ import annotations

import sys
from contextlib import AbstractAsyncContextManager
from typing import Annotated

import typer

from adapters.dnc_store import ManagedDoNotCallList, open_do_not_call_list
from adapters.logs import get_logger
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
from cli.output import Document, OutputFormat, emit, note
from outbound_calls_client.phone import mask_number

app = typer.Typer(
    help="The do-not-call list (DO_NOT_CALL_DB): list, add, remove.",
    no_args_is_help=True,
    epilog=help_text("outbound-calls dnc list", "outbound-calls dnc add +14155550123"),
)

DNC_CODES = "Exit codes:\n0 done\n1 could not do it (e.g. not on the list)\n2 bad input"
Number = Annotated[str, typer.Argument(help="the number, E.164 (+14155550123)")]


def _dnc_store() -> AbstractAsyncContextManager[ManagedDoNotCallList]:
    """The workers' list: DNC_DATABASE_URL (shared) when set, else DO_NOT_CALL_DB."""
    return open_do_not_call_list(worker_settings())


@app.command("list", epilog=help_text("outbound-calls dnc list -o csv", codes=DNC_CODES))
def dnc_list(output: OutputOption = OutputFormat.TABLE) -> None:
    """Every number on the list (masked), with why and when it was added."""

    async def step(session: Session) -> int:
        async with _dnc_store() as store:
            listed = await store.entries()
        rows = [
            {"number": mask_number(e.number), "reason": e.reason, "added_at": e.added_at}
            for e in listed
        ]
        emit(Document(data=rows, rows=rows, columns=("number", "reason", "added_at")), output)
        note(f"{len(rows)} number(s) on the do-not-call list")
        return 0

    run_step(step)


@app.command(
    "add",
    epilog=help_text(
        'outbound-calls dnc add +14155550123 --reason "asked by email"', codes=DNC_CODES
    ),
)
def dnc_add(
    number: Number,
    reason: Annotated[str, typer.Option(help="why (kept with the entry)")] = "added from the CLI",
) -> None:
    """Never dial this number again (checked before every attempt of every call)."""
    e164 = number_argument(number)

    async def step(session: Session) -> int:
        async with _dnc_store() as store:
            await store.add(e164, reason)
        note(f"{mask_number(e164)} is on the do-not-call list")
        return 0

    run_step(step)


@app.command(
    "remove",
    epilog=help_text(
        'outbound-calls dnc remove +14155550123 --reason "consent renewed, ticket 123"',
        codes=DNC_CODES,
    ),
)
def dnc_remove(
    number: Number,
    reason: Annotated[
        str | None, typer.Option(help="why (required; asked for on a terminal; kept and logged)")
    ] = None,
) -> None:
    """Take a number off the list; the removal and its reason are recorded and logged."""
    e164 = number_argument(number)
    if not reason:
        if not sys.stdin.isatty():
            bad_input("--reason: say why the number may be called again")
        reason = typer.prompt("Why may this number be called again?").strip()
        if not reason:
            bad_input("--reason: say why the number may be called again")
    why: str = reason

    async def step(session: Session) -> int:
        async with _dnc_store() as store:
            removed = await store.remove(e164, why)
        if not removed:
            raise CliError(f"{mask_number(e164)} is not on the do-not-call list")
        get_logger("outbound_calls.dnc").warning(
            "do_not_call_removed", number=mask_number(e164), reason=why
        )
        note(f"{mask_number(e164)} removed from the do-not-call list (reason recorded)")
        return 0

    run_step(step)
