"""``python -m simulator``: serve the Retell simulator with SimulatorSettings (env, .env)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from adapters.http_server import add_listen_arguments, listen_overrides, serve
from adapters.logs import configure_logging, get_logger
from adapters.settings import SimulatorSettings
from simulator.app import create_app
from simulator.server import SHUTDOWN_GRACE_S

_EPILOG = """\
environment:
  SIMULATOR_HOST, SIMULATOR_PORT    where to listen (127.0.0.1, 8100)
  SIMULATOR_WEBHOOK_URL             where webhooks go (none: only recorded)
  SIMULATOR_INBOUND_WEBHOOK_URL     the inbound webhook POST /_sim/inbound-call asks first
  SIMULATOR_RESERVED_INBOUND_CONCURRENCY  get-concurrency's reserved_inbound_concurrency (0)
  RETELL_API_KEY                    the Bearer key accepted (default simulator-key)
  RETELL_WEBHOOK_KEY                the key that signs webhooks (default: the API key)
  SIMULATOR_TIME_SCALE              multiplies every delay of a call (default 1.0)
  SIMULATOR_WEBHOOK_TIMEOUT_S       a webhook attempt's timeout (default 10 s x time scale,
                                    at least 0.5 s)

A call's scenario comes from its metadata key simulator_scenario; see `pydoc simulator`.
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="A local server that answers like Retell AI's call API and sends its "
        "signed webhooks, so the product runs without a Retell account.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_listen_arguments(parser, "simulator", SimulatorSettings)
    parser.add_argument("--webhook-url", help="overrides SIMULATOR_WEBHOOK_URL")
    parser.add_argument("--time-scale", type=float, help="overrides SIMULATOR_TIME_SCALE")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    overrides = {
        **listen_overrides(args, "simulator"),
        "simulator_webhook_url": args.webhook_url,
        "simulator_time_scale": args.time_scale,
    }
    settings = SimulatorSettings(**{k: v for k, v in overrides.items() if v is not None})
    # Stdout, so that a supervisor (the dev stack, docker) collects it like the other processes.
    configure_logging(
        secrets=[settings.retell_api_key.get_secret_value(), settings.webhook_key()],
        stream=sys.stdout,
    )
    get_logger("simulator").info(
        "simulator_starting",
        host=settings.simulator_host,
        port=settings.simulator_port,
        webhook_url=settings.simulator_webhook_url,
        time_scale=settings.simulator_time_scale,
    )
    serve(
        create_app(settings),
        host=settings.simulator_host,
        port=settings.simulator_port,
        limits=None,
        graceful_shutdown_s=SHUTDOWN_GRACE_S,
    )


if __name__ == "__main__":
    main()
