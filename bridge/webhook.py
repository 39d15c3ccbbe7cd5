"""Turn a verified webhook body into a ``CallEvent``, or say exactly what is wrong with it.

Pure (no I/O), so every malformed shape is a fast test. The problem is named in the answer
because the sender is Retell (or an operator replaying a delivery by hand): a 400 that says
"field 'call.call_id' is required" is fixed in a minute, a bare 400 is not. Only bodies whose
signature already verified get here, so the message tells a forger nothing.

Retell has opt-in events beyond the three a call workflow follows (``transcript_updated``,
``transfer_started``, chat events without a ``call`` object at all). They are recognised by
name before the shape is checked and acknowledged without a signal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from outbound_calls_client.retell_wire import CALL_EVENT_NAMES, CallEvent

_FOLLOWED_EVENTS = frozenset(CALL_EVENT_NAMES)
# Names come from the sender: cap what reaches a log line.
_MAX_NAME_CHARS = 64


class MalformedWebhook(ValueError):
    """The body is not JSON or not a call event; the message names the problem."""


@dataclass(frozen=True)
class IgnoredEvent:
    """A well-formed webhook of an event type no workflow follows."""

    name: str
    call_id: str | None


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and Retell) does not.
    raise ValueError(f"{name} is not a JSON value")


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise MalformedWebhook(
            f"body is not JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    except UnicodeDecodeError:
        raise MalformedWebhook("body is not JSON: not valid UTF-8") from None
    except RecursionError:
        raise MalformedWebhook("body is not JSON this service accepts: nested too deeply") from None
    except ValueError as err:
        raise MalformedWebhook(f"body is not JSON: {err}") from None


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _describe(err: ValidationError) -> str:
    problems = []
    for error in err.errors(include_url=False)[:3]:
        field = _field(error["loc"])
        kind = error["type"]
        if kind == "missing":
            problems.append(f"field '{field}' is required")
        elif kind in {"model_type", "dict_type", "model_attributes_type"}:
            problems.append(f"field '{field}' must be an object")
        else:
            problems.append(f"field '{field}': {error['msg']}")
    return "; ".join(problems)


def _peek_call_id(document: dict[str, Any]) -> str | None:
    call = document.get("call")
    call_id = call.get("call_id") if isinstance(call, dict) else None
    return call_id[:_MAX_NAME_CHARS] if isinstance(call_id, str) else None


def parse_webhook(body: bytes) -> CallEvent | IgnoredEvent:
    """Parse the raw body of a Retell webhook; raise :class:`MalformedWebhook` if unusable."""
    document = _decode(body)
    if not isinstance(document, dict):
        raise MalformedWebhook("body must be a JSON object with fields 'event' and 'call'")
    if "event" not in document:
        raise MalformedWebhook("field 'event' is required")
    name = document["event"]
    if not isinstance(name, str):
        raise MalformedWebhook("field 'event' must be a string")
    if name not in _FOLLOWED_EVENTS:
        return IgnoredEvent(name[:_MAX_NAME_CHARS], _peek_call_id(document))
    try:
        event = CallEvent.model_validate(document)
    except ValidationError as err:
        raise MalformedWebhook(_describe(err)) from None
    if not event.call.call_id:
        raise MalformedWebhook("field 'call.call_id' must not be empty")
    return event
