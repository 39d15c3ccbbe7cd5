"""``python -m codec_server``: serve the codec server with uvicorn, settings from the env."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from adapters.codec_keys import PayloadKeyError
from adapters.http_server import add_listen_arguments, listen_overrides, serve
from adapters.logs import configure_logging, get_logger, secret_values
from adapters.settings import CodecServerSettings
from codec_server.app import CodecServerConfigError, create_app

_EPILOG = """\
environment:
  PAYLOAD_KEYS or PAYLOAD_KEY_FILE, PAYLOAD_KEY_ID   the workers' payload keys
  CODEC_SERVER_HOST, CODEC_SERVER_PORT               where to listen (127.0.0.1, 8234)
  CODEC_SERVER_TOKEN                                 bearer token, 32 characters or more
                                                     (required beyond loopback)
  CODEC_SERVER_TOKEN_PREVIOUS                        the old token, during a rotation
  CODEC_SERVER_CORS_ORIGINS                          the Temporal UI's origin(s), comma-
                                                     separated (http://localhost:8233)

The UI: temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8234, or the UI's
TEMPORAL_CODEC_ENDPOINT. The CLI: temporal workflow show -w ID
--codec-endpoint http://127.0.0.1:8234 --codec-auth "Bearer $CODEC_SERVER_TOKEN".
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m codec_server",
        description="Decrypt Temporal payloads for the Temporal UI and CLI "
        "(POST /decode, POST /encode).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_listen_arguments(parser, "codec_server", CodecServerSettings)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    settings = CodecServerSettings().model_copy(update=listen_overrides(args, "codec_server"))
    try:
        # The token and every payload key, in every text form, never reach a log line.
        configure_logging(level=args.log_level, secrets=secret_values(settings))
        app = create_app(settings)
    except (PayloadKeyError, CodecServerConfigError) as err:
        raise SystemExit(f"codec server: {err}") from None
    get_logger("codec_server").info(
        "codec server starting",
        host=settings.codec_server_host,
        port=settings.codec_server_port,
        cors_origins=settings.cors_origins,
        token_required=settings.codec_server_token is not None,
    )
    serve(
        app,
        host=settings.codec_server_host,
        port=settings.codec_server_port,
        limits=settings.http_limits(),
        graceful_shutdown_s=5,
    )


if __name__ == "__main__":
    main()
