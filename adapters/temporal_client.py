"""One way to connect to Temporal, shared by worker, bridge, CLI, dev stack and health check.

The same settings reach the dev server (plain gRPC), a self-hosted cluster behind TLS or
mTLS, and Temporal Cloud (API key, which implies TLS). :func:`temporal_connect_options`
turns settings into the arguments of ``Client.connect`` without connecting, so that what a
process would send can be checked (and its repr never shows the API key).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from adapters.payload_codec import data_converter
from adapters.settings import TemporalSettings
from adapters.tracing import temporal_interceptors


@dataclass(frozen=True)
class TemporalConnectOptions:
    """The arguments our processes give ``Client.connect``.

    Its repr names what is used, never a value: no API key, no private key bytes.
    """

    target_host: str
    namespace: str
    tls: TLSConfig | bool
    api_key: str | None = None

    def __repr__(self) -> str:
        if isinstance(self.tls, TLSConfig):
            parts = [
                name
                for name, value in (
                    ("client certificate", self.tls.client_cert),
                    ("own CA", self.tls.server_root_ca_cert),
                    (f"server name {self.tls.domain}", self.tls.domain),
                )
                if value
            ]
            tls = "TLS with " + ", ".join(parts)
        else:
            tls = "TLS" if self.tls else "no TLS"
        auth = "API key" if self.api_key else "no API key"
        return (
            f"TemporalConnectOptions({self.target_host}, namespace={self.namespace}, {tls}, {auth})"
        )

    __str__ = __repr__


def _read(path: Path | None, setting: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as err:
        raise ValueError(f"{setting}: cannot read {path}: {err.strerror}") from None


def temporal_connect_options(settings: TemporalSettings) -> TemporalConnectOptions:
    """What to connect with: ``tls`` is False, True (system roots) or a full ``TLSConfig``."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    tls: TLSConfig | bool = False
    if settings.temporal_tls_enabled:
        config = TLSConfig(
            server_root_ca_cert=_read(
                settings.temporal_tls_server_ca_cert_path, "TEMPORAL_TLS_SERVER_CA_CERT_PATH"
            ),
            domain=settings.temporal_tls_server_name,
            client_cert=_read(
                settings.temporal_tls_client_cert_path, "TEMPORAL_TLS_CLIENT_CERT_PATH"
            ),
            client_private_key=_read(
                settings.temporal_tls_client_key_path, "TEMPORAL_TLS_CLIENT_KEY_PATH"
            ),
        )
        # Nothing beyond "use TLS": the system's roots check the server (Temporal Cloud).
        tls = config if config != TLSConfig() else True
    return TemporalConnectOptions(
        target_host=settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=tls,
        api_key=api_key,
    )


_metrics_runtimes: dict[str, Runtime] = {}


def metrics_runtime(bind_address: str) -> Runtime:
    """A runtime that serves Prometheus metrics on ``bind_address`` (``host:port``).

    One per address and process: the runtime owns the listening socket, so a second client
    with the same address shares it instead of failing to bind.
    """
    runtime = _metrics_runtimes.get(bind_address)
    if runtime is None:
        runtime = Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address))
        )
        _metrics_runtimes[bind_address] = runtime
    return runtime


async def connect_temporal(
    settings: TemporalSettings, *, metrics_bind: str | None = None
) -> Client:
    """A client that carries our pydantic models as JSON payloads.

    With ``metrics_bind`` (``host:port``), the client and every worker built on it export
    the SDK's metrics (task slots, poll and schedule-to-start latencies, RPC failures) for
    Prometheus at ``http://<metrics_bind>/metrics``.
    """
    options = temporal_connect_options(settings)
    return await Client.connect(
        options.target_host,
        namespace=options.namespace,
        api_key=options.api_key,
        tls=options.tls,
        data_converter=data_converter(settings),
        runtime=metrics_runtime(metrics_bind) if metrics_bind else None,
        # Spans for starts, signals, workflows and activities while tracing is on (the
        # worker takes the worker side from its client).
        interceptors=temporal_interceptors(),
    )
