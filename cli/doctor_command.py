"""``doctor``: checks a deployment, one line per check."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from adapters.logs import configure_logging, secret_values
from cli.command import help_text
from outbound_calls_client.phone import mask_numbers_in

app = typer.Typer()


@app.command(
    epilog=help_text(
        "outbound-calls doctor",
        "outbound-calls doctor --agent-id agent_123 --bridge-url https://calls.example.com",
        codes="Exit codes: 0 every check passed; 1 a check failed (each is named with the fix).",
    )
)
def doctor(
    agent_id: Annotated[
        list[str] | None,
        typer.Option("--agent-id", help="an agent to check (repeatable; also RETELL_AGENT_IDS)"),
    ] = None,
    bridge_url: Annotated[
        str | None,
        typer.Option(help="the bridge to test (default: BRIDGE_PUBLIC_URL)"),
    ] = None,
) -> None:
    """Check a deployment: Retell key, agents and their webhook URL, the bridge, Temporal and
    its search attributes, payload keys, the age of each do-not-call registry source (31 days
    at most). One line per check."""
    # Its own entry rather than ``run_step``: a broken payload key is one of its findings, not a
    # reason to stop before checking the rest.
    from adapters.codec_keys import PayloadKeyError
    from adapters.doctor import Deployment, run_checks
    from adapters.settings import DoctorSettings

    settings = DoctorSettings()
    try:
        secrets = secret_values(settings)
    except PayloadKeyError:
        secrets = []  # reported by the payload-keys check
    configure_logging(level="ERROR", secrets=secrets)
    results = asyncio.run(run_checks(Deployment(settings, tuple(agent_id or ()), bridge_url)))
    for check in results:
        print(mask_numbers_in(check.line()))
    raise typer.Exit(0 if all(r.ok for r in results) else 1)
