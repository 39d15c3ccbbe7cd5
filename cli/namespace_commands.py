"""Setting up a namespace: ``register-search-attributes`` and ``register-nexus-endpoint``."""

from __future__ import annotations

from typing import Annotated

import typer

from adapters.namespace_setup import register_nexus_endpoint, register_search_attributes
from cli.command import Session, TaskQueueOption, help_text, run_step
from outbound_calls_client.names import DEFAULT_NEXUS_ENDPOINT

app = typer.Typer()


@app.command(
    name="register-search-attributes",
    epilog=help_text("outbound-calls register-search-attributes"),
)
def register_search_attributes_command() -> None:
    """Register our search attributes on the namespace (once; self-hosted clusters)."""

    async def step(session: Session) -> int:
        added = await register_search_attributes(await session.client())
        print("added: " + (", ".join(added) if added else "none (all present)"))
        return 0

    run_step(step)


@app.command(
    name="register-nexus-endpoint",
    epilog=help_text(
        "outbound-calls register-nexus-endpoint",
        "outbound-calls register-nexus-endpoint --name outbound-calls --task-queue outbound-calls",
    ),
)
def register_nexus_endpoint_command(
    name: Annotated[str, typer.Option(help="the endpoint's name")] = DEFAULT_NEXUS_ENDPOINT,
    task_queue: TaskQueueOption = None,
) -> None:
    """Create the Nexus endpoint other namespaces call us through (self-hosted or dev
    server; on Temporal Cloud create it with tcld or the Cloud UI, see docs/nexus.md)."""

    async def step(session: Session) -> int:
        queue = task_queue or session.settings.temporal_task_queue
        created = await register_nexus_endpoint(await session.client(), task_queue=queue, name=name)
        target = f"namespace {session.settings.temporal_namespace}, task queue {queue}"
        print(f"endpoint {name} {'created' if created else 'exists already'}: {target}")
        return 0

    run_step(step)
