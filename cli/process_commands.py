"""The process commands: ``worker``, ``bridge``, ``simulator`` and ``dev`` run a component in
this process, with the component's own options. Each is imported only when its command runs,
so the other commands load none of them (the simulator least of all: it is no part of a
deployment)."""

from __future__ import annotations

import typer

from adapters.process_exit import exit_code

app = typer.Typer()

_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _component(name: str, text: str, example: str) -> None:
    def command(ctx: typer.Context) -> None:
        raise typer.Exit(run_component(name, list(ctx.args)))

    command.__doc__ = text
    app.command(
        name,
        context_settings=_PASS_THROUGH,
        add_help_option=False,
        epilog=f"Every option goes to the component: $ {example}",
    )(command)


def run_component(name: str, argv: list[str]) -> int:
    """One component in this process, with its own options (each configures its logging)."""
    try:
        if name == "worker":
            import worker

            worker.main(argv)
        elif name == "bridge":
            from bridge.__main__ import main as bridge_main

            bridge_main(argv)
        elif name == "simulator":
            from simulator.__main__ import main as simulator_main

            simulator_main(argv)
        else:
            import devstack

            return devstack.main(argv)
    except SystemExit as stop:  # argparse's --help and errors
        return exit_code(stop)
    except KeyboardInterrupt:
        return 0
    return 0


_component(
    "worker",
    "Run the worker (python worker.py); options pass through.",
    "outbound-calls worker --help",
)
_component(
    "bridge",
    "Run the webhook bridge (python -m bridge); options pass through.",
    "outbound-calls bridge --port 8000",
)
_component(
    "simulator",
    "Run the Retell simulator (python -m simulator); options pass through.",
    "outbound-calls simulator --help",
)
_component(
    "dev",
    "Run the whole dev stack and the tour (make run); options pass through.",
    "outbound-calls dev --once",
)
