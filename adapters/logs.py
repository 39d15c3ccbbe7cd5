"""structlog JSON logs for every process, with phone numbers masked and secrets removed.

Standard-library records (``workflow.logger``, ``activity.logger``, uvicorn, temporalio) go
through the same processors, so every line a process writes is one JSON object.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog
from pydantic import BaseModel, SecretStr

from adapters.codec_keys import payload_keys_from
from adapters.settings import PayloadCodecSettings
from outbound_calls_client.phone import mask_numbers_in

# Fields whose value is never written, whatever it is.
_SECRET_FIELDS = frozenset(
    {
        "api_key",
        "authorization",
        "retell_api_key",
        "webhook_key",
        "key",
        "payload_keys",
        "payload_key",
        "encryption_key",
        "codec_server_token",
        "token",
    }
)


def secret_values(*settings: BaseModel) -> list[str]:
    """Every secret a process holds, for :func:`configure_logging`: each ``SecretStr``
    setting, and each payload key in every text form (those of a key file included).

    Raises :class:`adapters.codec_keys.PayloadKeyError` when the payload keys are unusable, so
    that a process stops at start, before its first log line.
    """
    found: list[str] = []
    for model in settings:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
        if isinstance(model, PayloadCodecSettings):
            keys = payload_keys_from(model)
            if keys is not None:
                found += keys.secret_texts()
    # Longest first: a secret that contains another is replaced whole.
    return sorted({s for s in found if s}, key=len, reverse=True)


# A secret this long is also recognised by its start alone: a message cut short (by us, a
# library or a server) must not leave half a key behind.
_PARTIAL_MIN_SECRET = 20
_PARTIAL_PREFIX = 12
# Longest value written, after redaction and masking (so no cut can split a secret first).
MAX_VALUE_CHARS = 2000
_MAX_TRACEBACK_CHARS = 16000


def redact_secret(text: str, secret: str) -> str:
    """``text`` with ``secret`` replaced, and any run that begins like it (its first
    characters, then as much of the rest as follows) when the secret is long."""
    text = text.replace(secret, "[redacted]")
    if len(secret) < _PARTIAL_MIN_SECRET:
        return text
    prefix = secret[:_PARTIAL_PREFIX]
    start = text.find(prefix)
    while start != -1:
        end = start + _PARTIAL_PREFIX
        while end < len(text) and end - start < len(secret) and text[end] == secret[end - start]:
            end += 1
        text = text[:start] + "[redacted]" + text[end:]
        start = text.find(prefix, start + len("[redacted]"))
    return text


def truncate(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…[{len(text) - limit} more chars]"


class _SecretRedactor:
    """Replace known secret values and secret-named fields wherever they appear, mask phone
    numbers, then cut long values: in that order, so no cut hides a secret from the check."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = tuple(s for s in secrets if s)

    def _clean(self, value: Any, limit: int = MAX_VALUE_CHARS) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                value = redact_secret(value, secret)
            return truncate(mask_numbers_in(value), limit)
        if isinstance(value, dict):
            return {k: self._clean_item(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value

    def _clean_item(self, key: str, value: Any) -> Any:
        if str(key).lower() in _SECRET_FIELDS:
            return "[redacted]"
        limit = _MAX_TRACEBACK_CHARS if key == "exception" else MAX_VALUE_CHARS
        return self._clean(value, limit)

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._clean_item(key, event_dict[key])
        return event_dict


def _flatten_temporal_extras(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Lift the ids that temporalio attaches to its records to top-level log keys."""
    record = event_dict.get("_record")
    if record is None:
        return event_dict
    for attr in ("temporal_workflow", "temporal_activity"):
        info = getattr(record, attr, None)
        if isinstance(info, dict):
            event_dict.setdefault("workflow_id", info.get("workflow_id"))
            if "attempt" in info:
                event_dict.setdefault("attempt", info["attempt"])
    for attr in ("call_id", "attempt"):
        value = getattr(record, attr, None)
        if value is not None:
            event_dict.setdefault(attr, value)
    return event_dict


def configure_logging(
    *, level: str = "INFO", secrets: Iterable[str] = (), stream: Any = None
) -> None:
    """Install JSON logging for this process. Call once at start."""
    redactor = _SecretRedactor(secrets)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _flatten_temporal_extras,
    ]
    final: list[structlog.typing.Processor] = [
        structlog.processors.format_exc_info,
        redactor,
        structlog.processors.JSONRenderer(),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
