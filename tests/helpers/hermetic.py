"""Tests that run in anyone's shell: none of the product's settings of the shell or of a
``.env`` reaches a test or a process it starts.

``tests/conftest.py`` calls :func:`scrub_environment` at session start; the names come from
the settings classes (``adapters/settings.py``) and ``.env.example``, plus the prefixes of the
variables Temporal's and OpenTelemetry's own configuration read. ``OUTBOUND_CALLS_ENV_FILE``
is then empty: no settings class, in the test process or a child, reads a ``.env`` file.
:func:`hostile_environment` is a production shell for tests/integration/test_hermetic_shell.py.
"""

from __future__ import annotations

import base64
from collections.abc import MutableMapping
from pathlib import Path

from pydantic_settings import BaseSettings

import adapters.settings as settings_module
from adapters.settings import ENV_FILE_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
# Temporal's environment configuration (temporalio.envconfig and the temporal CLI:
# TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE,
# TEMPORAL_CONFIG_FILE, TEMPORAL_GRPC_META_*, ...), OpenTelemetry's SDK and ours
# (OUTBOUND_CALLS_DEBUG, OUTBOUND_CALLS_ENV_FILE, ...).
OUTSIDE_PREFIXES = ("TEMPORAL_", "OTEL_", "OUTBOUND_CALLS_")
# Names Temporal's envconfig reads besides the prefixes (checked by the hermetic test).
TEMPORAL_ENVCONFIG_NAMES = (
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_CERT_DATA",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_DATA",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
    "TEMPORAL_CODEC_ENDPOINT",
    "TEMPORAL_CODEC_AUTH",
    "TEMPORAL_GRPC_META_AUTHORIZATION",
    "TEMPORAL_PROFILE",
    "TEMPORAL_CONFIG_FILE",
)


def example_names() -> frozenset[str]:
    """Every variable ``.env.example`` lists."""
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.partition("=")[0].strip())
    return frozenset(names)


def settings_field_names() -> frozenset[str]:
    """The variable of every field of every settings class (no prefixes, no aliases)."""
    names: set[str] = set()
    for value in vars(settings_module).values():
        if isinstance(value, type) and issubclass(value, BaseSettings):
            names.update(field.upper() for field in value.model_fields)
    return frozenset(names)


def is_product_setting(name: str) -> bool:
    return (
        name in settings_field_names()
        or name in example_names()
        or name.upper().startswith(OUTSIDE_PREFIXES)
    )


def scrub_environment(environ: MutableMapping[str, str]) -> list[str]:
    """Drop every product setting from ``environ`` and switch ``.env`` files off; answers
    the names dropped."""
    dropped = sorted(name for name in environ if is_product_setting(name))
    for name in dropped:
        del environ[name]
    environ[ENV_FILE_VARIABLE] = ""
    return dropped


def _key(seed: int) -> str:
    return base64.b64encode(bytes(range(seed, seed + 32))).decode()


def production_values(config_dir: Path) -> dict[str, str]:
    """A production shell's settings: valid, and each one a visible leak (another server,
    namespace, queue, key, cap, database, collector...). Hosts are under .example, which
    never resolves, so a leak fails here instead of reaching anything."""
    temporal_toml = config_dir / "temporal.toml"
    temporal_toml.write_text(
        '[profile.prod]\naddress = "temporal.prod.example:7233"\nnamespace = "prod-ns"\n'
        'api_key = "prod-profile-api-key"\n'
    )
    tls = config_dir / "tls"  # never created: a leaked path fails validation
    return {
        "TEMPORAL_ADDRESS": "temporal.prod.example:7233",
        "TEMPORAL_NAMESPACE": "prod-ns",
        "TEMPORAL_TASK_QUEUE": "prod-outbound-calls",
        "TEMPORAL_UI_PORT": "18233",
        "TEMPORAL_UI_URL": "https://cloud.temporal.io",
        "TEMPORAL_TLS": "true",
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tls / "client.pem"),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tls / "client.key"),
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tls / "ca.pem"),
        "TEMPORAL_TLS_SERVER_NAME": "temporal.prod.example",
        "TEMPORAL_API_KEY": "eyJhbGciOiJFUzI1NiJ9.prod-temporal-cloud-key",
        "TEMPORAL_PROFILE": "prod",
        "TEMPORAL_CONFIG_FILE": str(temporal_toml),
        "TEMPORAL_CODEC_ENDPOINT": "https://codec.prod.example",
        "TEMPORAL_METRICS_BIND": "0.0.0.0:9464",
        "RETELL_BASE_URL": "https://api.retell.prod.example",
        "RETELL_API_KEY": "key_live_4f6c0b9e2d7a41c8b3e5f1a2d9c7e6b0",
        "RETELL_WEBHOOK_KEY": "key_live_webhook_9a8b7c6d5e4f3a2b1c0d",
        "RETELL_AGENT_IDS": "agent_prod_0001,agent_prod_0002",
        "RETELL_CONNECT_TIMEOUT_S": "0.5",
        "RETELL_READ_TIMEOUT_S": "0.5",
        "RETELL_CREATE_TIMEOUT_S": "0.5",
        "RETELL_LIST_CALLS_TIMEOUT_S": "0.5",
        "RETELL_MAX_CREATES_PER_SECOND": "0.1",
        "BRIDGE_PUBLIC_URL": "https://calls.prod.example",
        "MAX_CONCURRENT_CALLS": "1",
        "CALL_SLOT_SHARDS": "7",
        "MAX_CONCURRENT_ACTIVITIES": "1",
        "MAX_CONCURRENT_WORKFLOW_TASKS": "2",
        "MAX_CACHED_WORKFLOWS": "0",
        "WORKER_GRACEFUL_SHUTDOWN_S": "0",
        "WORKER_BUILD_ID": "prod-build-2024-11-30",
        "OUTCOME_TIMEOUT_S": "0.1",
        "OUTCOME_SIGNING_KEY": "prod-outcome-signing-key",
        "OUTCOME_URL_ALLOWED_HOSTS": "hooks.prod.example",
        "DO_NOT_CALL_DB": "/var/lib/outbound-calls/do_not_call.sqlite3",
        "DNC_DATABASE_URL": "postgresql://u:p@db.prod.example:5432/dnc",
        "PAYLOAD_KEYS": f"prod1:{_key(1)},prod2:{_key(2)}",
        "PAYLOAD_KEY_ID": "prod2",
        "PAYLOAD_KEY_FILE": "/etc/outbound-calls/payload-keys.json",
        "BRIDGE_HOST": "0.0.0.0",
        "BRIDGE_PORT": "80",
        "BRIDGE_SIGNAL_TIMEOUT_S": "0.01",
        "BRIDGE_MAX_BODY_BYTES": "10",
        "BRIDGE_RECENT_DELIVERIES": "1",
        "BRIDGE_DOCS": "true",
        "SIMULATOR_HOST": "0.0.0.0",
        "SIMULATOR_PORT": "81",
        "SIMULATOR_WEBHOOK_URL": "https://calls.prod.example/webhooks/retell",
        "SIMULATOR_TIME_SCALE": "50",
        "SIMULATOR_WEBHOOK_TIMEOUT_S": "0.01",
        "SIMULATOR_CONCURRENCY_LIMIT": "1",
        "CODEC_SERVER_HOST": "0.0.0.0",
        "CODEC_SERVER_PORT": "82",
        "CODEC_SERVER_TOKEN": "prod-codec-server-token-0123456789",
        "CODEC_SERVER_CORS_ORIGINS": "https://cloud.temporal.io",
        "DEMO_TO_NUMBER": "+14155550100",
        "DEMO_FROM_NUMBER": "+12125550100",
        "DEMO_AGENT_ID": "agent_prod_0001",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel.prod.example:4318",
        "OTEL_SERVICE_NAME": "prod-outbound-calls",
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer prod-otel-token",
        "OUTBOUND_CALLS_DEBUG": "1",
    }


def hostile_environment(config_dir: Path) -> dict[str, str]:
    """:func:`production_values`, and every other setting of the settings classes,
    ``.env.example`` and Temporal's envconfig set to a value a leak could not hide (invalid
    where a type is checked)."""
    values = production_values(config_dir)
    for name in sorted(settings_field_names() | example_names() | set(TEMPORAL_ENVCONFIG_NAMES)):
        values.setdefault(name, f"leaked-{name.lower()}")
    return values
