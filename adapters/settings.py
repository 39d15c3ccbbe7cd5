"""Settings from the environment (and an optional ``.env`` file), one class per process kind.

Names are the product's public interface: see ``.env.example`` and docs/configuration.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path

from pydantic import Field, FilePath, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from calls.caller_id_health import HealthRules
from calls.contact_limits import DEFAULT_CONTACT_LIMITS, parse_limits
from calls.contacts_file import DEFAULT_LIMITS as CONTACTS_LIMITS
from outbound_calls_client.names import (
    DEFAULT_CALLBACK_TIME_FIELD,
    DEFAULT_TASK_QUEUE,
    WEBHOOK_PATH,
)

# The file settings are read from besides the environment: unset, ``.env`` in the working
# directory; empty, none (the tests run so); else that path.
ENV_FILE_VARIABLE = "OUTBOUND_CALLS_ENV_FILE"


@dataclass(frozen=True)
class HttpLimits:
    """What one client may cost a public HTTP service (see ``adapters/http_server.py``)."""

    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    body_timeout_s: float
    keep_alive_s: float
    limit_concurrency: int


def http_limits_of(settings: BaseSettings, prefix: str) -> HttpLimits:
    """The limits of one service, from its settings ``<prefix>_max_header_bytes`` etc."""
    values = {f.name: getattr(settings, f"{prefix}_{f.name}") for f in fields(HttpLimits)}
    return HttpLimits(**values)


class _EnvSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        # A settings error names the variable and the rule, never the value: the value of a
        # key put in the wrong variable would otherwise be printed on stderr at start.
        hide_input_in_errors=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """As pydantic-settings does, but the file is OUTBOUND_CALLS_ENV_FILE's when it is set
        (read at every instance, so a process or test may switch it off after import)."""
        chosen = os.environ.get(ENV_FILE_VARIABLE)
        if chosen == "":
            return init_settings, env_settings, file_secret_settings
        if chosen is not None:
            dotenv_settings = DotEnvSettingsSource(settings_cls, env_file=chosen)
        return init_settings, env_settings, dotenv_settings, file_secret_settings


class TemporalSettings(_EnvSettings):
    """Where Temporal is and how to reach it: plain for the dev server, TLS, mTLS or API key.

    The names are those of Temporal's own CLI and environment configuration.
    """

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = DEFAULT_TASK_QUEUE
    # None: on when an API key or any TLS file or name is set; true/false forces it.
    temporal_tls: bool | None = None
    temporal_tls_client_cert_path: FilePath | None = None
    temporal_tls_client_key_path: FilePath | None = None
    temporal_tls_server_ca_cert_path: FilePath | None = None
    # The name the server's certificate is checked against (and sent as SNI).
    temporal_tls_server_name: str | None = None
    # Temporal Cloud API key; sent as "Authorization: Bearer ...". Implies TLS.
    temporal_api_key: SecretStr | None = None

    @model_validator(mode="after")
    def _tls_is_consistent(self) -> TemporalSettings:
        cert, key = self.temporal_tls_client_cert_path, self.temporal_tls_client_key_path
        if (cert is None) != (key is None):
            raise ValueError(
                "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together (mTLS)"
            )
        if self.temporal_tls is False and self._tls_material_given():
            raise ValueError("TEMPORAL_TLS is false but TEMPORAL_TLS_* files or name are set")
        return self

    def _tls_material_given(self) -> bool:
        return any(
            value is not None
            for value in (
                self.temporal_tls_client_cert_path,
                self.temporal_tls_server_ca_cert_path,
                self.temporal_tls_server_name,
            )
        )

    @property
    def temporal_tls_enabled(self) -> bool:
        if self.temporal_tls is not None:
            return self.temporal_tls
        return self.temporal_api_key is not None or self._tls_material_given()


class RetellSettings(_EnvSettings):
    retell_base_url: str = "https://api.retellai.com"
    # Optional so that a process without a key can still start and say what is missing.
    retell_api_key: SecretStr | None = None
    retell_webhook_key: SecretStr | None = None
    retell_connect_timeout_s: float = Field(default=5.0, gt=0)
    retell_read_timeout_s: float = Field(default=20.0, gt=0)
    # retell-sdk's own per-endpoint timeouts: a create may take this long to answer, and an
    # answer given up on too early is a call whose fate is unknown.
    retell_create_timeout_s: float = Field(default=120.0, gt=0)
    retell_list_calls_timeout_s: float = Field(default=300.0, gt=0)
    max_concurrent_calls: int = Field(default=20, ge=1)
    # The bridge as Retell reaches it (e.g. https://calls.example.com): agents we create get
    # <it>/webhooks/retell as their webhook_url, which overrides the account-level one.
    bridge_public_url: str | None = None

    @field_validator("bridge_public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in ("http", "https") or not rest.strip("/"):
            raise ValueError("must be an http(s) URL such as https://calls.example.com")
        if "?" in rest or "#" in rest:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")

    def agent_webhook_url(self) -> str | None:
        """The webhook_url our agents carry: BRIDGE_PUBLIC_URL + /webhooks/retell."""
        if self.bridge_public_url is None:
            return None
        return self.bridge_public_url + WEBHOOK_PATH

    def api_key(self) -> str:
        if self.retell_api_key is None:
            raise RuntimeError("RETELL_API_KEY is not set")
        return self.retell_api_key.get_secret_value()

    def webhook_key(self) -> str:
        """The key that signs webhooks: ``RETELL_WEBHOOK_KEY``, else the API key."""
        if self.retell_webhook_key is not None:
            return self.retell_webhook_key.get_secret_value()
        return self.api_key()

    # The HMAC key of the callee-number hashes (ToNumberHash, calls/returned_call.py): the
    # same on every worker and bridge. Unset: the webhook key, so a rotation of that key
    # forgets the calls placed before it (set this one on its own to keep them).
    number_hash_key: SecretStr | None = None

    def number_hash_secret(self) -> str:
        if self.number_hash_key is not None:
            return self.number_hash_key.get_secret_value()
        return self.webhook_key()


class PayloadCodecSettings(_EnvSettings):
    """Keys that encrypt every payload Temporal stores (``adapters/payload_codec.py``).

    None set: payloads are plain JSON, as before. Key values are never logged.
    """

    # "id1:base64key,id2:base64key": AES-256 keys (32 bytes, base64). Or PAYLOAD_KEY_FILE.
    payload_keys: SecretStr | None = None
    # A JSON file with the same keys: {"current": "id2", "keys": {"id1": "...", "id2": "..."}}
    # (or just {"id1": "...", "id2": "..."}). Keep it readable by the service's user only.
    payload_key_file: Path | None = None
    # The key new payloads are encrypted with; the others only decrypt older payloads.
    # Needed when several keys are listed (and the file names no "current").
    payload_key_id: str | None = None


class ClientSettings(TemporalSettings, PayloadCodecSettings):
    """A process that only talks to Temporal: the CLI, the dev stack, your own code."""

    # The Temporal UI that links to a call point at (the CLI prints them).
    temporal_ui_url: str = "http://localhost:8233"


class DoNotCallStoreSettings(_EnvSettings):
    """Where the do-not-call list and its registry sources are: the worker, ``outbound-calls
    dnc`` and doctor (which checks the sources' age) read the same store."""

    # The default do-not-call store; replace the store itself through build_worker.
    do_not_call_db: Path = Path("do_not_call.sqlite3")
    # postgresql://user:password@host/db: one do-not-call list for every worker on every
    # host (adapters/dnc_postgres.py); set, it replaces DO_NOT_CALL_DB.
    dnc_database_url: SecretStr | None = None
    # The URL's password given apart, as it is (adapters/dnc_store.py percent-encodes it into
    # the URL): a generated password with @ : / % needs no hand-encoding. Set, it replaces a
    # password in the URL; the compose file passes DNC_DB_PASSWORD here.
    dnc_database_password: SecretStr | None = None


class WorkerSettings(
    TemporalSettings, RetellSettings, PayloadCodecSettings, DoNotCallStoreSettings
):
    max_concurrent_activities: int = Field(default=100, ge=1)
    # Signs outcomes posted to a request's outcome_url (x-outcome-signature).
    outcome_signing_key: SecretStr | None = None
    outcome_timeout_s: float = Field(default=10.0, gt=0)
    # Comma-separated hosts outcomes may go to (adapters/outcome_urls.py). Empty: any https host
    # with only public addresses; listed hosts may be private and plain http (an internal
    # receiver).
    outcome_url_allowed_hosts: str = ""
    # Where campaigns' contacts may be read (adapters/contacts_locations.py), comma-separated:
    # absolute directories, host names (https), scheme://host[:port] prefixes. Empty: no
    # file, and https URLs of public hosts only.
    contacts_allowed_locations: str = ""
    # A contacts file over this many bytes, or with a line over this many, is refused whole.
    contacts_max_bytes: int = Field(default=CONTACTS_LIMITS.max_bytes, ge=1)
    contacts_max_line_bytes: int = Field(default=CONTACTS_LIMITS.max_line_bytes, ge=64)
    # The custom analysis field (call_analysis.custom_analysis_data) in which the agent's
    # post-call analysis puts when a person asked to be called back (calls/callback_time.py).
    callback_time_field: str = Field(default=DEFAULT_CALLBACK_TIME_FIELD, max_length=128)

    @field_validator("callback_time_field")
    @classmethod
    def _one_word(cls, value: str) -> str:
        if not value or value.split() != [value]:
            raise ValueError("must be one word, the analysis field's name (no spaces)")
        return value

    # How often one person may be called across every call, redial and campaign
    # (calls/contact_limits.py): "3/24h,7/7d" by default, "off" for none.
    contact_limits: str = DEFAULT_CONTACT_LIMITS

    @field_validator("contact_limits")
    @classmethod
    def _limits(cls, value: str) -> str:
        parse_limits(value)
        return value

    # Number health (calls/caller_id_health.py): how long a pool's number rests when Retell
    # reports it marked_as_spam, after this many dial_failed in a row, or when its answer rate
    # falls under this share of its pool's (judged once both have this many calls).
    caller_id_spam_rest_s: float = Field(default=7 * 86400.0, gt=0)
    caller_id_dial_failed_burst: int = Field(default=3, ge=1)
    caller_id_dial_failed_rest_s: float = Field(default=3600.0, gt=0)
    caller_id_low_answer_ratio: float = Field(default=0.5, ge=0, le=1)
    caller_id_low_answer_min_calls: int = Field(default=20, ge=1)
    caller_id_low_answer_rest_s: float = Field(default=86400.0, gt=0)

    def caller_id_health_rules(self) -> HealthRules:
        return HealthRules(
            spam_rest=timedelta(seconds=self.caller_id_spam_rest_s),
            dial_failed_burst=self.caller_id_dial_failed_burst,
            dial_failed_rest=timedelta(seconds=self.caller_id_dial_failed_rest_s),
            low_answer_ratio=self.caller_id_low_answer_ratio,
            low_answer_min_calls=self.caller_id_low_answer_min_calls,
            low_answer_rest=timedelta(seconds=self.caller_id_low_answer_rest_s),
        )

    @property
    def contacts_locations(self) -> list[str]:
        return [e.strip() for e in self.contacts_allowed_locations.split(",") if e.strip()]

    # host:port where the worker serves Prometheus metrics (SDK metrics); off when unset.
    temporal_metrics_bind: str | None = None

    # The account-wide cap is split across this many slot pools (workflows/call_slots.py);
    # unset: one per 250 slots of MAX_CONCURRENT_CALLS, at most 16.
    call_slot_shards: int | None = Field(default=None, ge=1, le=256)
    # Calls kept free for inbound: the pools grant MAX_CONCURRENT_CALLS less these. Unset:
    # Retell's reserved_inbound_concurrency (GET /get-concurrency, read again every 5 min).
    reserved_inbound_calls: int | None = Field(default=None, ge=0)
    # Retell creates across all workers at most this many a second (Temporal's task-queue
    # rate limit on a queue of their own); unset: no limit.
    retell_max_creates_per_second: float | None = Field(default=None, gt=0)
    # Workflow tasks a worker runs at once (unset: the SDK's default) and workflows it keeps
    # in memory (each cached call costs 200-270 KiB; an evicted one is replayed on its next
    # event).
    max_concurrent_workflow_tasks: int | None = Field(default=None, ge=2)
    max_cached_workflows: int = Field(default=1000, ge=0)
    # On SIGTERM, running activities get this long to finish before they are cancelled.
    worker_graceful_shutdown_s: float = Field(default=25.0, ge=0)
    # The build this worker reports to Temporal with every task it completes (the UI shows
    # it per event): the product's version unless the image tag, say, is given.
    worker_build_id: str | None = Field(default=None, min_length=1, max_length=255)

    @property
    def outcome_url_hosts(self) -> list[str]:
        return [h.strip() for h in self.outcome_url_allowed_hosts.split(",") if h.strip()]


class BridgeSettings(TemporalSettings, RetellSettings, PayloadCodecSettings):
    bridge_host: str = "127.0.0.1"
    bridge_port: int = Field(default=8000, ge=0, le=65535)
    # Past this, Temporal is "slow": answer 503 so that Retell retries the delivery.
    bridge_signal_timeout_s: float = Field(default=5.0, gt=0)
    # The call_ended/call_analyzed of a long call carries word-level transcripts (about
    # 2 MiB an hour in the simulator, more with tool calls): leave ample room.
    bridge_max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    # Recent (workflow, call, event) deliveries remembered: a repeat is answered 204 unsent.
    bridge_recent_deliveries: int = Field(default=10_000, ge=1)
    # /docs, /redoc and /openapi.json: off on a public edge unless asked for.
    bridge_docs: bool = False
    # What one client may cost (adapters/http_server.py): header block size and line count,
    # seconds to send the headers and the body, idle keep-alive, connections and tasks.
    bridge_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    bridge_max_headers: int = Field(default=100, ge=10)
    bridge_header_timeout_s: float = Field(default=10.0, gt=0)
    bridge_body_timeout_s: float = Field(default=60.0, gt=0)
    bridge_keep_alive_s: float = Field(default=5.0, ge=1)
    bridge_limit_concurrency: int = Field(default=1000, ge=1)
    # Bodies read at once before their signature is checked (a plausible header is all they
    # showed); past it, 503 unread. Worst case held: this times BRIDGE_MAX_BODY_BYTES.
    bridge_max_unverified_reads: int = Field(default=32, ge=1)
    # During a rotation of the webhook key: the old key, still accepted (docs/deployment.md).
    retell_webhook_key_previous: SecretStr | None = None
    # An inbound caller we called within this long is a returned call (calls/returned_call.py).
    returned_call_window: timedelta = Field(default=timedelta(days=7), gt=timedelta(0))

    def http_limits(self) -> HttpLimits:
        return http_limits_of(self, "bridge")

    def webhook_keys(self) -> tuple[str, ...]:
        """The keys a webhook may be signed with: the current one, then a previous one."""
        previous = self.retell_webhook_key_previous
        return (self.webhook_key(),) + ((previous.get_secret_value(),) if previous else ())


class DoctorSettings(ClientSettings, RetellSettings, DoNotCallStoreSettings):
    """``outbound-calls doctor``: Temporal, payload keys, Retell, BRIDGE_PUBLIC_URL, and the
    do-not-call store's registry sources."""

    # The agents your calls use (comma-separated ids): doctor checks each exists and sends
    # its webhooks to BRIDGE_PUBLIC_URL.
    retell_agent_ids: str | None = None

    def agent_ids(self) -> tuple[str, ...]:
        raw = self.retell_agent_ids or ""
        return tuple(part.strip() for part in raw.split(",") if part.strip())


class CodecServerSettings(PayloadCodecSettings):
    """``python -m codec_server``: decrypts payloads for the Temporal UI and CLI."""

    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = Field(default=8234, ge=0, le=65535)
    # Required as "Authorization: Bearer <token>" on /encode and /decode when set. Without
    # it the server only listens on loopback (the dev stack's UI cannot send a header).
    codec_server_token: SecretStr | None = None
    # During a rotation of the token: the old one, still accepted (docs/deployment.md).
    codec_server_token_previous: SecretStr | None = None
    # Browser origins allowed to call the server (the Temporal UI), comma-separated.
    codec_server_cors_origins: str = "http://localhost:8233"
    # One request's cost: bytes of JSON and payloads in it (past either: 413).
    codec_server_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    codec_server_max_payloads: int = Field(default=1000, ge=1)
    codec_server_docs: bool = False
    # As for the bridge (BRIDGE_MAX_HEADER_BYTES, ...); the UI may send large cookies.
    codec_server_max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    codec_server_max_headers: int = Field(default=100, ge=10)
    codec_server_header_timeout_s: float = Field(default=10.0, gt=0)
    codec_server_body_timeout_s: float = Field(default=30.0, gt=0)
    codec_server_keep_alive_s: float = Field(default=5.0, ge=1)
    codec_server_limit_concurrency: int = Field(default=100, ge=1)

    def http_limits(self) -> HttpLimits:
        return http_limits_of(self, "codec_server")

    @property
    def cors_origins(self) -> list[str]:
        return [
            o.strip().rstrip("/") for o in self.codec_server_cors_origins.split(",") if o.strip()
        ]


class SimulatorSettings(_EnvSettings):
    simulator_host: str = "127.0.0.1"
    simulator_port: int = Field(default=8100, ge=0, le=65535)
    simulator_webhook_url: str | None = None
    # The simulator accepts this key as Bearer token and signs its webhooks with it.
    retell_api_key: SecretStr = SecretStr("simulator-key")
    retell_webhook_key: SecretStr | None = None
    # Multiplies every delay of a simulated call's life; tests shrink it.
    simulator_time_scale: float = Field(default=1.0, gt=0)
    # How long a webhook attempt waits for the receiver's 2xx; None: Retell's 10 s times the
    # time scale (at least 0.5 s), so that tests of retries run fast. Benchmarks give Retell's
    # own 10 s: a loaded receiver answering in a second is not a failure there.
    simulator_webhook_timeout_s: float | None = Field(default=None, gt=0)
    # What GET /get-concurrency reports as the account's concurrency_limit.
    simulator_concurrency_limit: int = Field(default=20, ge=1)
    # Retell's inbound webhook of the simulated numbers (POST /_sim/inbound-call asks it how
    # to take the call); None: the number's agent takes it unasked. Then the slots that
    # get-concurrency reports as reserved_inbound_concurrency.
    simulator_inbound_webhook_url: str | None = None
    simulator_reserved_inbound_concurrency: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _reserved_within_limit(self) -> SimulatorSettings:
        if self.simulator_reserved_inbound_concurrency > self.simulator_concurrency_limit:
            raise ValueError(
                "simulator_reserved_inbound_concurrency: must not exceed "
                "simulator_concurrency_limit"
            )
        return self

    def webhook_key(self) -> str:
        key = self.retell_webhook_key or self.retell_api_key
        return key.get_secret_value()


class TracingSettings(_EnvSettings):
    """OpenTelemetry traces (adapters/tracing.py): off, and free, unless an endpoint is set."""

    # OTLP over HTTP (http://collector:4318); the exporter reads the other OTEL_* itself.
    otel_exporter_otlp_endpoint: str | None = None
