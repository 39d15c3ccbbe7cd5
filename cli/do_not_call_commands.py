"""The ``dnc`` commands: the do-not-call list the workers check (list, add, remove, check),
and the registry sources beside it (import, sources, remove-source)."""

from __future__ import annotations

import asyncio
import sys
import time
import zipfile
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.dnc_store import ManagedDoNotCallList, open_do_not_call_list
from adapters.logs import get_logger
from adapters.registry import NoNumbers, RegistryBusy, SourceFile
from adapters.registry_file import (
    SHOWN_BAD_LINES,
    RegistryFileError,
    RegistryReader,
    file_sha256,
    open_registry_file,
)
from calls.registry_numbers import MAX_SOURCE_AGE, age_days, check_region, check_source_name
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
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.phone import mask_number, mask_numbers_in

app = typer.Typer(
    help="The do-not-call list (DO_NOT_CALL_DB, or DNC_DATABASE_URL): list, add, remove, "
    "check; registry sources: import, sources, remove-source.",
    no_args_is_help=True,
    epilog=help_text(
        "outbound-calls dnc list",
        "outbound-calls dnc add +14155550123",
        "outbound-calls dnc import national.txt --source national-2026-12",
    ),
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


@app.command(
    "check",
    epilog=help_text("outbound-calls dnc check +14155550123 -o json", codes=DNC_CODES),
)
def dnc_check(number: Number, output: OutputOption = OutputFormat.TABLE) -> None:
    """Whether a number is on the list, and where: our own list, which registry sources."""
    e164 = number_argument(number)

    async def step(session: Session) -> int:
        async with _dnc_store() as store:
            found = await store.listings(e164)
        row = {
            "number": mask_number(e164),
            "listed": found.listed,
            "our_list": found.ours,
            "registry_sources": list(found.sources),
        }
        emit(Document(data=row, rows=[row], columns=tuple(row), record=True), output)
        return 0

    run_step(step)


# ----- registry sources ---------------------------------------------------------------------

IMPORT_CODES = (
    "Exit codes:\n0 imported (bad lines are listed and skipped)\n1 not imported: the source "
    "keeps its numbers (no number in the file, unreadable, another import running)\n"
    "2 bad input"
)


def _bad_input_of(check: Callable[[str], str], value: str) -> str:
    try:
        return check(value)
    except InvalidCallRequest as exc:
        bad_input(str(exc))


def _progress(lines: int) -> None:
    note(f"... {lines:,} lines read")


def _bad_lines(reader: RegistryReader) -> list[dict[str, Any]]:
    return [
        {"line": bad.line, "reason": bad.reason, "text": mask_numbers_in(bad.text)}
        for bad in reader.first_bad
    ]


def _report_bad_lines(reader: RegistryReader) -> None:
    for bad in reader.first_bad:
        shown = f": {bad.text!r}" if bad.text else ""
        note(f"line {bad.line}: {bad.reason}{shown}")
    if reader.bad > len(reader.first_bad):
        note(f"... and {reader.bad - len(reader.first_bad):,} more bad line(s)")


@app.command(
    "import",
    epilog=help_text(
        "outbound-calls dnc import national.txt --source national-2026-12",
        "outbound-calls dnc import 2026-12-full.zip --source national-2026-12 -o json",
        codes=IMPORT_CODES,
    ),
)
def dnc_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="one number a line, or the National DNC Registry's full-list download "
            "(area code,number a line); plain, .gz, or a zip of one file"
        ),
    ],
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="the source's name (e.g. national-2026-12); importing it again "
            "replaces its numbers",
        ),
    ],
    region: Annotated[
        str, typer.Option(help="the country of numbers written without + and country code")
    ] = "US",
    show_bad: Annotated[
        int, typer.Option(min=0, help="how many bad lines to list (all are counted)")
    ] = SHOWN_BAD_LINES,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Import a registry file as a source: its numbers are never dialed, as our own list's.

    A re-import replaces the source's numbers at once when it finishes; until then, and if
    it fails, the workers keep checking the old ones."""
    name = _bad_input_of(check_source_name, source)
    country = _bad_input_of(check_region, region)
    if not file.is_file():
        bad_input(f"FILE: {file} is not a file")

    async def step(session: Session) -> int:
        sha256 = await asyncio.to_thread(file_sha256, file)
        started = time.monotonic()
        try:
            with open_registry_file(file) as stream:
                reader = RegistryReader(stream, country, show_bad, progress=_progress)
                async with _dnc_store() as store:
                    try:
                        imported = await store.import_source(
                            name, reader, SourceFile(file.name, sha256)
                        )
                    finally:
                        _report_bad_lines(reader)
        except (NoNumbers, RegistryBusy, RegistryFileError) as exc:
            raise CliError(str(exc)) from None
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise CliError(f"cannot read {file.name} ({exc}); {name} is unchanged") from None
        seconds = time.monotonic() - started
        record = {
            "source": name,
            "rows": imported.rows,
            "replaced_rows": imported.replaced_rows,
            "lines": reader.lines,
            "numbers": reader.numbers,
            "bad_lines": reader.bad,
            "file": file.name,
            "sha256": sha256,
            "seconds": round(seconds, 1),
        }
        data = {**record, "first_bad_lines": _bad_lines(reader)}
        emit(Document(data=data, rows=[record], columns=tuple(record), record=True), output)
        note(
            f"{name}: {imported.rows:,} distinct numbers from {reader.lines:,} lines "
            f"({reader.bad:,} bad) in {seconds:.1f}s; replaced {imported.replaced_rows:,}"
        )
        get_logger("outbound_calls.dnc").info(
            "do_not_call_source_imported", source=name, rows=imported.rows, sha256=sha256
        )
        return 0

    run_step(step)


SOURCE_COLUMNS = ("source", "rows", "imported_at", "age_days", "stale", "file", "sha256")


@app.command(
    "sources",
    epilog=help_text("outbound-calls dnc sources", "outbound-calls dnc sources -o json"),
)
def dnc_sources(output: OutputOption = OutputFormat.TABLE) -> None:
    """Each registry source: its size (rows), its age, and whether it is older than the
    registry's 31 days (then re-import it; `outbound-calls doctor` fails until then)."""

    async def step(session: Session) -> int:
        async with _dnc_store() as store:
            sources = await store.sources()
        now = datetime.now(UTC)
        rows = [
            {
                "source": s.name,
                "rows": s.rows,
                "imported_at": s.imported_at.astimezone(UTC),
                "age_days": round(age_days(s.imported_at, now), 1),
                "stale": now - s.imported_at > MAX_SOURCE_AGE,
                "file": s.file_name,
                "sha256": s.file_sha256,
            }
            for s in sources
        ]
        emit(Document(data=rows, rows=rows, columns=SOURCE_COLUMNS), output)
        stale = [s.name for s in sources if now - s.imported_at > MAX_SOURCE_AGE]
        note(f"{len(rows)} registry source(s)")
        if stale:
            note(f"older than 31 days, re-import: {', '.join(stale)}")
        return 0

    run_step(step)


@app.command(
    "remove-source",
    epilog=help_text("outbound-calls dnc remove-source national-2026-11", codes=DNC_CODES),
)
def dnc_remove_source(
    source: Annotated[str, typer.Argument(help="the source's name (dnc sources lists them)")],
) -> None:
    """Delete a registry source and its numbers: they may be dialed again (unless another
    source or our own list has them)."""
    name = _bad_input_of(check_source_name, source)

    async def step(session: Session) -> int:
        async with _dnc_store() as store:
            try:
                rows = await store.remove_source(name)
            except RegistryBusy as exc:
                raise CliError(str(exc)) from None
        if rows is None:
            raise CliError(f"no registry source {name!r}")
        get_logger("outbound_calls.dnc").warning(
            "do_not_call_source_removed", source=name, rows=rows
        )
        note(f"registry source {name} removed ({rows:,} numbers)")
        return 0

    run_step(step)
