"""Settings from the environment (and an optional ``.env`` file), one class per process kind.

Names are the product's public interface: see ``.env.example`` and the README table.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TASK_QUEUE = "outbound-calls"


class _EnvSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )


class TemporalSettings(_EnvSettings):
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = DEFAULT_TASK_QUEUE


class RetellSettings(_EnvSettings):
    retell_base_url: str = "https://api.retellai.com"
    # Optional so that a process without a key can still start and say what is missing.
    retell_api_key: SecretStr | None = None
    retell_webhook_key: SecretStr | None = None
    retell_connect_timeout_s: float = Field(default=5.0, gt=0)
    retell_read_timeout_s: float = Field(default=20.0, gt=0)
    max_concurrent_calls: int = Field(default=20, ge=1)

    def api_key(self) -> str:
        if self.retell_api_key is None:
            raise RuntimeError("RETELL_API_KEY is not set")
        return self.retell_api_key.get_secret_value()

    def webhook_key(self) -> str:
        """The key that signs webhooks: ``RETELL_WEBHOOK_KEY``, else the API key."""
        if self.retell_webhook_key is not None:
            return self.retell_webhook_key.get_secret_value()
        return self.api_key()


class WorkerSettings(TemporalSettings, RetellSettings):
    max_concurrent_activities: int = Field(default=100, ge=1)
    # The default do-not-call store; replace the store itself through build_worker.
    do_not_call_db: Path = Path("do_not_call.sqlite3")
    # Signs outcomes posted to a request's outcome_url (x-outcome-signature).
    outcome_signing_key: SecretStr | None = None
    outcome_timeout_s: float = Field(default=10.0, gt=0)


class BridgeSettings(TemporalSettings, RetellSettings):
    bridge_host: str = "127.0.0.1"
    bridge_port: int = Field(default=8000, ge=0, le=65535)
    # Past this, Temporal is "slow": answer 503 so that Retell retries the delivery.
    bridge_signal_timeout_s: float = Field(default=5.0, gt=0)
    bridge_max_body_bytes: int = Field(default=1024 * 1024, ge=1)


class SimulatorSettings(_EnvSettings):
    simulator_host: str = "127.0.0.1"
    simulator_port: int = Field(default=8100, ge=0, le=65535)
    simulator_webhook_url: str | None = None
    # The simulator accepts this key as Bearer token and signs its webhooks with it.
    retell_api_key: SecretStr = SecretStr("simulator-key")
    retell_webhook_key: SecretStr | None = None
    # Multiplies every delay of a simulated call's life; tests shrink it.
    simulator_time_scale: float = Field(default=1.0, gt=0)

    def webhook_key(self) -> str:
        key = self.retell_webhook_key or self.retell_api_key
        return key.get_secret_value()
