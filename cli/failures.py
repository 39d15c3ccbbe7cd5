"""What a command answers when it cannot do what it was asked: one line, and an exit code.

Every exception a command can meet is turned into a :class:`CliError` here, so no
traceback reaches a user; the exit codes are the documented table below (also in
``outbound-calls --help`` and docs/operating.md, "Exit codes").
"""

from __future__ import annotations

import re
from enum import IntEnum

from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from adapters.codec_keys import PayloadKeyError
from adapters.payload_codec import ENCRYPTED_ENCODING, PayloadDecryptionError
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import OutcomeStatus
from outbound_calls_client.phone import mask_numbers_in


class ExitCode(IntEnum):
    COMPLETED = 0
    COULD_NOT = 1
    BAD_INPUT = 2
    NOT_REACHED = 3
    REFUSED = 4
    FAILED = 5
    CANCELED = 6
    INTERRUPTED = 130


# How a finished call's outcome reads as an exit code (``start --wait``, ``result``).
OUTCOME_EXIT_CODES: dict[OutcomeStatus, ExitCode] = {
    OutcomeStatus.COMPLETED: ExitCode.COMPLETED,
    # Reached after all: the person called back.
    OutcomeStatus.RETURNED_CALL: ExitCode.COMPLETED,
    OutcomeStatus.NO_ANSWER: ExitCode.NOT_REACHED,
    OutcomeStatus.BUSY: ExitCode.NOT_REACHED,
    OutcomeStatus.VOICEMAIL: ExitCode.NOT_REACHED,
    OutcomeStatus.CALLBACK_REQUESTED: ExitCode.NOT_REACHED,
    OutcomeStatus.REJECTED: ExitCode.REFUSED,
    OutcomeStatus.DO_NOT_CALL: ExitCode.REFUSED,
    OutcomeStatus.INVALID_NUMBER: ExitCode.REFUSED,
    OutcomeStatus.FAILED: ExitCode.FAILED,
    OutcomeStatus.DIAL_FAILED: ExitCode.FAILED,
    OutcomeStatus.ACCOUNT_ERROR: ExitCode.FAILED,
    OutcomeStatus.TIMED_OUT: ExitCode.FAILED,
    OutcomeStatus.CANCELED: ExitCode.CANCELED,
}

EXIT_CODE_TABLE = """\
Exit codes:
0 done (a waited call: completed, returned_call)
1 could not do it (Temporal unreachable, no such call, a refused cancel)
2 bad input (checked before any connection)
3 not reached (no_answer, busy, voicemail, callback_requested)
4 refused (rejected, do_not_call, invalid_number)
5 failed (failed, dial_failed, account_error, timed_out)
6 canceled
130 interrupted by Ctrl-C (a started call goes on)"""

KEYS_HINT = (
    "set PAYLOAD_KEY_FILE (or PAYLOAD_KEYS) to the keys the worker uses; "
    "the dev stack's file is .devstack/payload-keys.json (found by itself when you run "
    "from the checkout against the dev stack's server)"
)


class CliError(Exception):
    """A command's one-line answer: what went wrong and what to do."""

    def __init__(self, message: str, code: ExitCode = ExitCode.COULD_NOT) -> None:
        super().__init__(message)
        self.code = code


def _is_encrypted_payload_error(exc: BaseException) -> bool:
    # Without keys, Temporal's converter meets our encoding and raises a bare KeyError.
    return isinstance(exc, KeyError) and ENCRYPTED_ENCODING.decode() in str(exc)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def explain(exc: BaseException, *, temporal_address: str) -> CliError:
    """The one line for ``exc``; unknown exceptions still get one line, never a traceback."""
    for cause in _causes(exc):
        if isinstance(cause, CliError):
            return cause
        if _is_encrypted_payload_error(cause):
            return CliError(
                f"the call's data is encrypted and this command has no keys: {KEYS_HINT}"
            )
        if isinstance(cause, PayloadDecryptionError):
            return CliError(f"cannot decrypt what Temporal answered: {cause}")
        if isinstance(cause, PayloadKeyError):
            return CliError(f"payload encryption keys: {cause}", ExitCode.BAD_INPUT)
        if isinstance(cause, InvalidCallRequest):
            return CliError(str(cause), ExitCode.BAD_INPUT)
        if isinstance(cause, RPCError):
            return _explain_rpc(cause, temporal_address)
        if isinstance(cause, WorkflowUpdateFailedError):
            return CliError(f"refused: {cause.cause or cause}")
    if isinstance(exc, WorkflowFailureError):
        return CliError(f"the workflow did not end with an outcome: {exc.cause or exc}")
    name = type(exc).__name__
    return CliError(f"unexpected {name}: {exc} (set OUTBOUND_CALLS_DEBUG=1 for the traceback)")


def _explain_rpc(exc: RPCError, temporal_address: str) -> CliError:
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return unreachable(temporal_address, exc.message)
    if exc.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
        return CliError(
            f"Temporal at {temporal_address} refused our credentials ({exc.message}): "
            "check TEMPORAL_API_KEY or the TEMPORAL_TLS_* settings"
        )
    if exc.status == RPCStatusCode.NOT_FOUND and "namespace" in exc.message.lower():
        return CliError(f"{exc.message}: check TEMPORAL_NAMESPACE")
    return CliError(f"Temporal answered: {exc.message}")


# The library's connect errors are Rust debug text; keep the one phrase a user needs.
def _connect_reason(detail: str) -> str:
    """``connection refused`` out of tonic's ``Os { ..., message: "Connection refused" }``."""
    for pattern in (r'message: "([^"]+)"', r'error: "([^"]+)"', r'"(\w[\w ]+ error)"'):
        match = re.search(pattern, detail)
        if match:
            return match.group(1).lower()
    return ""


def unreachable(address: str, detail: str = "") -> CliError:
    reason = _connect_reason(detail)
    return CliError(
        f"cannot reach Temporal at {address}" + (f" ({reason})" if reason else "") + ": start "
        "it (make run) or set TEMPORAL_ADDRESS (and TEMPORAL_NAMESPACE) to your server"
    )


def one_line(error: CliError) -> str:
    """The message as printed: masked numbers, never more than one line."""
    return " ".join(mask_numbers_in(str(error)).split())
