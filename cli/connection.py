"""The CLI's settings and its Temporal client, with the errors a user can act on.

Settings are the processes' own (environment or ``.env``); one addition: run from the
checkout against the dev stack's server with no payload keys set, the CLI uses the dev
stack's key file (``.devstack/payload-keys.json``), so the second shell of ``make run`` needs
no setup. Which keys match the server is decided once connected (cli/server_keys.py).
"""

from __future__ import annotations

from pydantic import ValidationError
from temporalio.client import Client

from adapters.codec_keys import PayloadKeyError
from adapters.payload_codec import data_converter
from adapters.settings import ClientSettings
from adapters.temporal_client import connect_temporal
from cli.failures import CliError, ExitCode, unreachable


def settings_error(exc: ValidationError) -> CliError:
    """A bad setting, named the way it is set (the environment variable)."""
    parts = []
    for err in exc.errors():
        name = "_".join(str(p) for p in err["loc"]).upper() or "settings"
        parts.append(f"{name}: {err['msg']}")
    return CliError("; ".join(parts), ExitCode.BAD_INPUT)


def client_settings() -> ClientSettings:
    try:
        return ClientSettings()
    except ValidationError as exc:
        raise settings_error(exc) from None


def check_keys(settings: ClientSettings) -> None:
    """Unusable keys are bad input: say so before connecting."""
    try:
        data_converter(settings)
    except PayloadKeyError as exc:
        raise CliError(f"payload encryption keys: {exc}", ExitCode.BAD_INPUT) from None


async def connect(settings: ClientSettings) -> Client:
    try:
        return await connect_temporal(settings)
    except ValueError as exc:  # a TLS file that cannot be read names its setting
        raise CliError(str(exc), ExitCode.BAD_INPUT) from None
    except RuntimeError as exc:
        raise unreachable(settings.temporal_address, str(exc)) from None


def ui_link(settings: ClientSettings, workflow_id: str) -> str:
    base = settings.temporal_ui_url.rstrip("/")
    return f"{base}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}"
