from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from retell.lib import webhook_auth

from calls.signatures import (
    InvalidSignature,
    parse_signature_header,
    sign_retell_body,
    verify_retell_signature,
    verify_signed_body,
)

KEY = "key_test_webhook"
BODY = json.dumps({"event": "call_ended", "call": {"call_id": "c1"}}, separators=(",", ":"))


def test_retell_sdk_signature_verifies_here() -> None:
    header = webhook_auth.symmetric["sign"](BODY, KEY)
    verify_retell_signature(KEY, BODY.encode(), header)


def test_our_signature_verifies_in_retell_sdk() -> None:
    assert webhook_auth.verify(BODY, KEY, sign_retell_body(KEY, BODY.encode()))


@pytest.mark.parametrize(
    ("header", "body", "key", "reason"),
    [
        (None, BODY, KEY, "missing"),
        ("garbage", BODY, KEY, "malformed"),
        ("v=1,d=zz", BODY, KEY, "malformed"),
        ("SIGN", BODY, "other-key", "does not match"),
        ("SIGN", BODY.replace("c1", "c2"), KEY, "does not match"),
        ("OLD", BODY, KEY, "window"),
        ("FUTURE", BODY, KEY, "window"),
    ],
)
def test_bad_signatures_are_refused(header: str | None, body: str, key: str, reason: str) -> None:
    now = int(time.time() * 1000)
    stamps = {"SIGN": now, "OLD": now - 301_000, "FUTURE": now + 301_000}
    if header in stamps:
        header = sign_retell_body(KEY, BODY.encode(), stamps[header])
    with pytest.raises(InvalidSignature, match=reason):
        verify_retell_signature(key, body.encode(), header)


@given(st.binary(max_size=300), st.integers(min_value=0, max_value=299_000))
def test_signatures_round_trip_within_the_window(body: bytes, age_ms: int) -> None:
    now = 1_700_000_000_000
    header = sign_retell_body(KEY, body, now - age_ms)
    verify_retell_signature(KEY, body, header, now_ms=now)


@given(st.text(max_size=80))
def test_arbitrary_headers_never_crash(header: str) -> None:
    with pytest.raises(InvalidSignature):
        verify_retell_signature(KEY, b"{}", header)


@pytest.mark.parametrize(
    ("header", "reason"),
    [(None, "missing"), ("v=1,d=zz", "malformed"), ("OLD", "window"), ("FUTURE", "window")],
)
def test_the_header_alone_is_refused_before_any_body(header: str | None, reason: str) -> None:
    now = int(time.time() * 1000)
    stamps = {"OLD": now - 301_000, "FUTURE": now + 301_000}
    if header in stamps:
        header = f"v={stamps[header]},d={'0' * 64}"
    with pytest.raises(InvalidSignature, match=reason):
        parse_signature_header(header)


def test_a_rotation_accepts_the_old_key_and_the_new_one() -> None:
    body = BODY.encode()
    for key in ("new-key", "old-key"):
        signature = parse_signature_header(sign_retell_body(key, body))
        verify_signed_body(("new-key", "old-key"), body, signature)
    forged = parse_signature_header(sign_retell_body("third-key", body))
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_signed_body(("new-key", "old-key"), body, forged)
