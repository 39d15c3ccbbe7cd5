"""``python -m simulator``: serve the Retell simulator with SimulatorSettings (env, .env)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

import uvicorn

from calls.logs import configure_logging, get_logger
from calls.settings import SimulatorSettings
from simulator.app import create_app
from simulator.server import SHUTDOWN_GRACE_S

_EPILOG = """\
environment:
  SIMULATOR_HOST, SIMULATOR_PORT    where to listen (127.0.0.1, 8100)
  SIMULATOR_WEBHOOK_URL             where webhooks go (none: only recorded)
  RETELL_API_KEY                    the Bearer key accepted (default simulator-key)
  RETELL_WEBHOOK_KEY                the key that signs webhooks (default: the API key)
  SIMULATOR_TIME_SCALE              multiplies every delay of a call (default 1.0)

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
    parser.add_argument("--host", help="overrides SIMULATOR_HOST")
    parser.add_argument("--port", type=int, help="overrides SIMULATOR_PORT")
    parser.add_argument("--webhook-url", help="overrides SIMULATOR_WEBHOOK_URL")
    parser.add_argument("--time-scale", type=float, help="overrides SIMULATOR_TIME_SCALE")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    overrides = {
        "simulator_host": args.host,
        "simulator_port": args.port,
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
    # uvicorn drains on SIGTERM, then re-raises it: a clean stop should still exit 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        create_app(settings),
        host=settings.simulator_host,
        port=settings.simulator_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )


if __name__ == "__main__":
    main()
