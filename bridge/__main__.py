"""``python -m bridge``: serve the webhook bridge with uvicorn, settings from the environment.

uvicorn's access log is off and its logging config is left alone: the bridge writes one JSON
line per webhook itself (with outcome and ids), and a second, unstructured line per request
would only double the volume and leak paths into a different format.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from adapters.codec_keys import PayloadKeyError
from adapters.http_server import add_listen_arguments, listen_overrides, serve
from adapters.logs import configure_logging, secret_values
from adapters.process_exit import run_then_exit
from adapters.settings import BridgeSettings
from adapters.tracing import configure_tracing
from bridge.app import create_app
from outbound_calls_client.names import WEBHOOK_PATH


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bridge",
        description=(
            f"Receive Retell webhooks on POST {WEBHOOK_PATH} and signal each call's workflow. "
            "Settings come from the environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, "
            "RETELL_WEBHOOK_KEY or RETELL_API_KEY, BRIDGE_SIGNAL_TIMEOUT_S, ...)."
        ),
    )
    add_listen_arguments(parser, "bridge", BridgeSettings)
    parser.add_argument("--log-level", default="INFO", help="INFO (default), DEBUG, WARNING, ...")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    settings = BridgeSettings().model_copy(update=listen_overrides(args, "bridge"))
    try:
        settings.webhook_key()
    except RuntimeError:
        raise SystemExit(
            "set RETELL_WEBHOOK_KEY (or RETELL_API_KEY): webhooks cannot be verified"
        ) from None
    try:
        # Every secret setting, payload keys included (their file is read and checked here).
        secrets = secret_values(settings)
    except PayloadKeyError as err:
        raise SystemExit(f"payload encryption keys: {err}") from None
    configure_logging(level=args.log_level, secrets=secrets)
    configure_tracing("outbound-calls-bridge")
    serve(
        create_app(settings),
        host=settings.bridge_host,
        port=settings.bridge_port,
        limits=settings.http_limits(),
        # In-flight webhooks finish within the signal timeout; then uvicorn may stop.
        graceful_shutdown_s=int(settings.bridge_signal_timeout_s) + 2,
    )


if __name__ == "__main__":
    run_then_exit(main)
