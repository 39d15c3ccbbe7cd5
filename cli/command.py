"""What every ``outbound-calls`` command is made of: its help text, the options commands
share, and ``run_step``, which gives the command's async step a :class:`Session` (settings,
a lazy Temporal client) and turns every failure into one line and an exit code
(``cli/failures.py``). So a new command is a few lines, for example::

    @app.command(epilog=help_text("outbound-calls register-search-attributes"))
    def register_search_attributes_command() -> None:
        async def step(session: Session) -> int:
            await register_search_attributes(await session.client())
            return 0

        run_step(step)

Output: ``-o table`` (people; Rich on a terminal, plain when piped), ``-o json`` and
``-o csv`` (scripts: stdout holds the document only; notes and progress go to stderr).
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from temporalio.client import Client

from adapters.logs import configure_logging, secret_values
from adapters.settings import ClientSettings, WorkerSettings
from cli.calls import Interrupted, interrupted_text
from cli.connection import check_keys, client_settings, connect, settings_error
from cli.failures import EXIT_CODE_TABLE, ExitCode, explain, one_line
from cli.output import OutputFormat, note
from cli.server_keys import dev_key_file, keys_for_server
from outbound_calls_client.phone import normalize_e164

SETTINGS_TEXT = (
    "Settings (environment or .env): TEMPORAL_ADDRESS (localhost:7233), TEMPORAL_NAMESPACE "
    "(default), TEMPORAL_TASK_QUEUE (outbound-calls), PAYLOAD_KEY_FILE or PAYLOAD_KEYS (run "
    "from the checkout against make run's server, its .devstack/payload-keys.json is found by "
    "itself; keys that do not match the server are refused), "
    "TEMPORAL_UI_URL (links), TEMPORAL_API_KEY and TEMPORAL_TLS_* (a real cluster)."
)


def help_text(*examples: str, codes: str = EXIT_CODE_TABLE) -> str:
    """A command's epilog: its examples (one a line), the exit codes, the main settings."""
    lines = ["Examples:", *(f"  $ {e}" for e in examples), *codes.splitlines(), SETTINGS_TEXT]
    # Typer joins single line breaks; a blank line keeps each example on its own line.
    return "\n\n".join(line.replace("[", r"\[") for line in lines)


@dataclass
class Session:
    """What a command's async step gets: settings, and a client made on first use (so that
    everything checked before it costs no connection) with keys that match its server."""

    settings: ClientSettings
    # The checkout's dev stack key file, used only if the server is the dev stack's.
    dev_keys: Path | None = None
    _client: Client | None = field(default=None, repr=False)

    async def client(self) -> Client:
        if self._client is None:
            client = await connect(self.settings)
            self._client, self.settings = await keys_for_server(
                client, self.settings, self.dev_keys
            )
        return self._client


def run_step(step: Callable[[Session], Coroutine[Any, Any, int]]) -> NoReturn:
    """Run ``step`` and exit with its code; any failure becomes one line on stderr."""
    address = os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")
    code: int
    try:
        settings = client_settings()
        address = settings.temporal_address
        check_keys(settings)
        # Library warnings (temporalio, httpx) as JSON lines on stderr, masked and redacted.
        configure_logging(level="WARNING", secrets=secret_values(settings))
        dev_keys = dev_key_file(settings, Path.cwd())
        code = asyncio.run(step(Session(settings, dev_keys)))
    except Interrupted as exc:
        note(interrupted_text(str(exc)))
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader left (`| head`): it has what it wanted; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except KeyboardInterrupt:
        note("interrupted")
        code = ExitCode.INTERRUPTED
    except Exception as exc:
        if os.environ.get("OUTBOUND_CALLS_DEBUG"):
            traceback.print_exc()
        error = explain(exc, temporal_address=address)
        note(f"error: {one_line(error)}")
        code = error.code
    raise typer.Exit(int(code))


def bad_input(message: str) -> NoReturn:
    note(f"error: {message}")
    raise typer.Exit(ExitCode.BAD_INPUT)


def number_argument(raw: str) -> str:
    """A NUMBER argument in E.164, or the bad-input exit naming it."""
    try:
        return normalize_e164("number", raw)
    except ValueError as exc:
        bad_input(str(exc))


def worker_settings() -> WorkerSettings:
    """The workers' settings, for the commands that open the workers' own stores (the
    do-not-call list, the caller-ID pools)."""
    try:
        return WorkerSettings()
    except ValidationError as exc:
        raise settings_error(exc) from None


def validation_text(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        help="table for people; json or csv for scripts (stdout then holds only the document)",
    ),
]
TaskQueueOption = Annotated[str | None, typer.Option(help="default: TEMPORAL_TASK_QUEUE")]
FromNumberOption = Annotated[str, typer.Option("--from", help="your Retell number, E.164")]
AgentIdOption = Annotated[str | None, typer.Option(help="Retell agent (override_agent_id)")]
