"""Retell's webhook signature scheme, over raw bytes.

Header ``x-retell-signature: v=<unix ms>,d=<hex HMAC-SHA256(key, raw_body + str(ms))>``.
The HMAC covers the exact bytes received: re-serialising parsed JSON changes spacing and
key order and breaks the check (the seed guide's ``JSON.stringify(req.body)`` bug). The same
scheme signs the outcomes we deliver to a caller's callback URL.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

SIGNATURE_HEADER = "x-retell-signature"
SIGNATURE_TOLERANCE_MS = 5 * 60 * 1000

_SIGNATURE_RE = re.compile(r"v=(\d{1,15}),d=([0-9a-f]{64})")


class InvalidSignature(Exception):
    """The signature is missing, malformed, wrong or outside the time window.

    The reason stays in ``reason`` for logs; callers answer the sender without it so a
    forger learns nothing about which check failed.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _now_ms() -> int:
    return int(time.time() * 1000)


def _digest(key: str, body: bytes, timestamp_ms: int) -> str:
    mac = hmac.new(key.encode(), body, hashlib.sha256)
    mac.update(str(timestamp_ms).encode())
    return mac.hexdigest()


def sign_retell_body(key: str, body: bytes, timestamp_ms: int | None = None) -> str:
    """The header value Retell would send with ``body``."""
    ts = _now_ms() if timestamp_ms is None else timestamp_ms
    return f"v={ts},d={_digest(key, body, ts)}"


@dataclass(frozen=True)
class SignatureHeader:
    """A signature header whose shape and time window passed: the digest is still unchecked."""

    timestamp_ms: int
    digest: str


def parse_signature_header(
    header: str | None,
    *,
    now_ms: int | None = None,
    tolerance_ms: int = SIGNATURE_TOLERANCE_MS,
) -> SignatureHeader:
    """What can be checked before the body is read: present, well formed, recent enough.

    A receiver refuses on this alone, so that a request without a plausible signature never
    costs it the reading of a body.
    """
    if not header:
        raise InvalidSignature("missing signature header")
    match = _SIGNATURE_RE.fullmatch(header.strip())
    if match is None:
        raise InvalidSignature("malformed signature header")
    timestamp_ms = int(match.group(1))
    now = _now_ms() if now_ms is None else now_ms
    if abs(now - timestamp_ms) > tolerance_ms:
        raise InvalidSignature("signature timestamp outside the tolerance window")
    return SignatureHeader(timestamp_ms, match.group(2))


def verify_signed_body(keys: Sequence[str], body: bytes, signature: SignatureHeader) -> None:
    """Raise :class:`InvalidSignature` unless one of ``keys`` made ``signature`` over ``body``.

    Several keys: a rotation, when deliveries signed with the old key are still in flight.
    Every key is tried, so the time taken does not say which one matched.
    """
    if not keys:
        raise ValueError("no key to verify the signature with")
    matched = False
    for key in keys:
        expected = _digest(key, body, signature.timestamp_ms)
        matched |= hmac.compare_digest(expected, signature.digest)
    if not matched:
        raise InvalidSignature("signature does not match")


def verify_retell_signature(
    key: str,
    body: bytes,
    header: str | None,
    *,
    now_ms: int | None = None,
    tolerance_ms: int = SIGNATURE_TOLERANCE_MS,
) -> None:
    """Raise :class:`InvalidSignature` unless ``header`` signs ``body`` with ``key``."""
    signature = parse_signature_header(header, now_ms=now_ms, tolerance_ms=tolerance_ms)
    verify_signed_body((key,), body, signature)
