"""The codec server as an ASGI app: Temporal's codec-server protocol over our payload keys.

``POST /decode`` and ``POST /encode`` take and answer ``{"payloads": [{"metadata": {k:
base64}, "data": base64}]}`` (the protobuf JSON of ``temporal.api.common.v1.Payloads``), as
the Temporal UI and ``temporal --codec-endpoint`` send it.

Who may call it:

- With ``CODEC_SERVER_TOKEN``, every encode and decode needs ``Authorization: Bearer
  <token>``: none (or another scheme) is answered 401, a wrong token 403. A token has at
  least 32 characters (anything shorter is refused at start); during a rotation
  ``CODEC_SERVER_TOKEN_PREVIOUS`` is accepted too. For the
  ``temporal`` CLI (``--codec-auth "Bearer <token>"``), scripts, and a UI behind a proxy
  that adds the header. The Temporal UI itself sends no token of ours: its only option
  (``codec.passAccessToken``) forwards the signed-in user's OIDC access token, over HTTPS.
- Without a token the server refuses to listen beyond loopback, and answers only requests
  addressed to a loopback name (so a web page cannot reach it through DNS rebinding). This is
  how the dev stack runs it for the dev server's UI, which cannot send any header.

Browsers get CORS for the configured UI origins only (never ``*``: the requests carry
credentials), and must send ``Content-Type: application/json`` (which a cross-origin page
cannot do without a preflight). Each request writes one log line: path, status, payload
count, namespace; never a payload.

One request's cost is bounded: its body (``CODEC_SERVER_MAX_BODY_BYTES``) and its number of
payloads (``CODEC_SERVER_MAX_PAYLOADS``, counted on the plain JSON before any protobuf is
built), both 413 past the limit; parsing and AES run in a worker thread, so a large request
never stalls the event loop for the others.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import time
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from pydantic import BaseModel
from starlette.requests import ClientDisconnect
from temporalio.api.common.v1 import Payload, Payloads

from adapters.codec_keys import payload_keys_from
from adapters.http_server import docs_routes
from adapters.logs import get_logger
from adapters.payload_codec import EncryptionCodec, PayloadDecryptionError
from adapters.settings import CodecServerSettings

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# The token guards every decrypted payload: short enough to guess or to have been typed by
# hand is refused. 32 characters of token_urlsafe are 192 bits.
MIN_TOKEN_CHARS = 32
ALLOWED_HEADERS = ["Authorization", "Content-Type", "X-Namespace"]

log = get_logger("codec_server")


class CodecServerConfigError(ValueError):
    """The settings would make an unusable or an exposed codec server."""


class Health(BaseModel):
    status: str


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):  # [::1]:8234
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class _Refused(Exception):
    def __init__(self, status: int, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.status, self.detail, self.reason = status, detail, reason


class _Gate:
    """Who may use the codec: a bearer token (two during a rotation), or loopback only."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._tokens = [token.encode() for token in tokens]

    def _known(self, presented: bytes) -> bool:
        # Every token compared: the time taken does not say which one matched.
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(presented, token)
        return matched

    def check(self, request: Request) -> None:
        if not self._tokens:
            host = _host_name(request.headers.get("host", ""))
            if not is_loopback(host):
                raise _Refused(403, "this codec server answers loopback only", "not loopback")
            return
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _Refused(401, "bearer token required", "no bearer token")
        if not self._known(value.strip().encode()):
            raise _Refused(403, "wrong token", "wrong token")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _Refused(413, f"body larger than {limit} bytes", "body too large")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _Refused(413, f"body larger than {limit} bytes", "body too large")
    except ClientDisconnect:
        raise _Refused(400, "incomplete body", "client gone before the body was in") from None
    return bytes(body)


_SHAPE = 'expected {"payloads": [{"metadata": {...}, "data": "<base64>"}]}'


def _parse(body: bytes, max_payloads: int) -> Payloads:
    """The request's payloads, counted before protobuf builds a message for each."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        # The parser's message may quote the body: say what is wrong, not what it was.
        raise _Refused(400, _SHAPE, "bad body") from None
    listed = document.get("payloads") if isinstance(document, dict) else None
    if isinstance(listed, list) and len(listed) > max_payloads:
        raise _Refused(
            413, f"more than {max_payloads} payloads in one request", "too many payloads"
        )
    try:
        return json_format.ParseDict(document, Payloads(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError):
        raise _Refused(400, _SHAPE, "bad body") from None


def _convert(
    codec: EncryptionCodec, operation: str, body: bytes, max_payloads: int
) -> tuple[int, str]:
    """Parse, decrypt or encrypt, and serialise: all CPU, run off the event loop."""
    payloads: Sequence[Payload] = _parse(body, max_payloads).payloads
    try:
        if operation == "decode":
            converted = [codec.decrypt(p) for p in payloads]
        else:
            converted = [codec.encrypt(p) for p in payloads]
    except PayloadDecryptionError as err:
        raise _Refused(400, str(err), f"undecryptable (key id {err.key_id})") from None
    return len(payloads), json_format.MessageToJson(Payloads(payloads=converted), indent=None)


def _tokens(settings: CodecServerSettings) -> list[str]:
    """The accepted tokens, current first; each checked for length (named, never shown)."""
    named = [
        ("CODEC_SERVER_TOKEN", settings.codec_server_token),
        ("CODEC_SERVER_TOKEN_PREVIOUS", settings.codec_server_token_previous),
    ]
    if settings.codec_server_token is None and settings.codec_server_token_previous is not None:
        raise CodecServerConfigError(
            "CODEC_SERVER_TOKEN_PREVIOUS is set without CODEC_SERVER_TOKEN: a rotation keeps "
            "the new token in CODEC_SERVER_TOKEN"
        )
    tokens = []
    for name, secret in named:
        if secret is None:
            continue
        token = secret.get_secret_value()
        if len(token) < MIN_TOKEN_CHARS:
            raise CodecServerConfigError(
                f"{name} must be at least {MIN_TOKEN_CHARS} characters long (make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        tokens.append(token)
    return tokens


def create_app(settings: CodecServerSettings, *, codec: EncryptionCodec | None = None) -> FastAPI:
    """The codec server. Raises :class:`CodecServerConfigError` without keys, or without a
    token on a non-loopback host; :class:`adapters.codec_keys.PayloadKeyError` for bad keys."""
    if codec is None:
        keys = payload_keys_from(settings)
        if keys is None:
            raise CodecServerConfigError("no payload keys: set PAYLOAD_KEYS or PAYLOAD_KEY_FILE")
        codec = EncryptionCodec(keys)
    tokens = _tokens(settings)
    if not tokens and not is_loopback(settings.codec_server_host):
        raise CodecServerConfigError(
            f"CODEC_SERVER_TOKEN is required to listen on {settings.codec_server_host} "
            "(without a token the codec server listens on loopback only)"
        )
    if "*" in settings.cors_origins:
        raise CodecServerConfigError(
            "CODEC_SERVER_CORS_ORIGINS: '*' is not allowed (the UI's requests carry "
            "credentials); list the Temporal UI's origin(s)"
        )
    gate = _Gate(tokens)
    the_codec = codec
    max_body = settings.codec_server_max_body_bytes
    max_payloads = settings.codec_server_max_payloads

    app = FastAPI(
        title="Payload codec server",
        version="0.1.0",
        description="Decrypts and encrypts Temporal payloads for the Temporal UI and CLI.",
        **docs_routes(settings.codec_server_docs),
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["POST"],
        allow_headers=ALLOWED_HEADERS,
        # The UI's codec.includeCredentials makes its requests "credentialed"; allowed for
        # the listed origins only (never a wildcard).
        allow_credentials=True,
        max_age=600,
    )

    async def convert(request: Request, operation: str) -> Response:
        started = time.perf_counter()
        fields: dict[str, Any] = {
            "operation": operation,
            "namespace": request.headers.get("x-namespace"),
            "origin": request.headers.get("origin"),
        }
        try:
            gate.check(request)
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                raise _Refused(415, "Content-Type must be application/json", "not JSON")
            body = await _read_body(request, max_body)
            count, answer = await asyncio.to_thread(
                _convert, the_codec, operation, body, max_payloads
            )
            fields["payloads"] = count
        except _Refused as refused:
            fields.update(status=refused.status, reason=refused.reason)
            fields["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
            log.warning("codec request refused", **fields)
            headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None
            return JSONResponse({"detail": refused.detail}, refused.status, headers=headers)
        fields.update(status=200, elapsed_ms=round((time.perf_counter() - started) * 1000, 1))
        log.info("codec request", **fields)
        return Response(answer, media_type="application/json")

    @app.post("/decode", summary="Decrypt payloads (Temporal codec-server protocol)")
    async def decode(request: Request) -> Response:
        return await convert(request, "decode")

    @app.post("/encode", summary="Encrypt payloads with the current key")
    async def encode(request: Request) -> Response:
        return await convert(request, "encode")

    @app.get("/healthz", response_model=Health, summary="The process is alive")
    async def healthz() -> Health:
        return Health(status="ok")

    return app
