"""``outbound-calls``: start, follow, inspect and cancel calls; the do-not-call list;
campaigns; and each component of the system. Built on Typer (Click) and Rich.

This module puts the command groups (``cli/*_commands.py``, ``cli/doctor_command.py``)
under one root and is the console script's entry point; ``cli/command.py`` says what a
command is made of.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import click
import typer

from adapters.process_exit import exit_code, run_then_exit
from cli import (
    call_commands,
    campaign_commands,
    do_not_call_commands,
    doctor_command,
    namespace_commands,
    number_commands,
    process_commands,
    report_commands,
)
from cli.command import help_text

PROG = "outbound-calls"
DISTRIBUTION = "durable-outbound-calls"

app = typer.Typer(
    name=PROG,
    help="Durable outbound AI calls: Retell AI calls placed and followed by Temporal.",
    epilog=help_text(
        "outbound-calls start --to +14155550123 --from +12125550199 --no-calling-window --wait",
        "outbound-calls list --outcome no_answer -o csv",
        "outbound-calls dev --once",
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Added without a name, a group's commands sit at the top level, in this order in --help.
for group in (call_commands, report_commands, namespace_commands, doctor_command, process_commands):
    app.add_typer(group.app)
app.add_typer(campaign_commands.app, name="campaign")
app.add_typer(do_not_call_commands.app, name="dnc")
app.add_typer(number_commands.app, name="numbers")


def _version(value: bool) -> None:
    if value:
        try:
            print(f"{PROG} {version(DISTRIBUTION)}")
        except PackageNotFoundError:
            print(f"{PROG} (not installed)")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Durable outbound AI calls: Retell AI calls placed and followed by Temporal."""


def parse_command_line(argv: Sequence[str]) -> str:
    """Parse ``argv`` as the CLI would, running nothing; answers the command's name.

    Raises ``click.UsageError`` for an unknown command or option (a deploy file's check).
    """
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    root_ctx = typer.Context(group, info_name=PROG)
    name, *rest = argv
    command = group.get_command(root_ctx, name)
    if command is None:
        raise click.UsageError(f"no command {name!r}")
    command.make_context(name, rest, parent=root_ctx)
    return name


def main(argv: Sequence[str] | None = None) -> int:
    try:
        app(args=list(argv) if argv is not None else None, prog_name=PROG)
    except SystemExit as stop:
        return exit_code(stop)
    return 0


def console_main() -> None:
    """Entry point of the console script."""
    run_then_exit(main)
